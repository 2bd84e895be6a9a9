"""Serves the settings in config.yaml: a Flask app run by gunicorn."""

from pathlib import Path

import yaml
from flask import Flask, jsonify

app = Flask(__name__)
SETTINGS = yaml.safe_load((Path(__file__).parent / "config.yaml").read_text())


@app.get("/settings")
def settings():  # type: ignore[no-untyped-def]
    return jsonify(SETTINGS)
