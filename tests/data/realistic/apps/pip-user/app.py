"""Proxy one upstream URL: a minimal Flask app."""

import requests
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return requests.get("http://upstream:8080/", timeout=5).text


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
