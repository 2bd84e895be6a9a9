"""A thumbnail service: fetch an image by URL and return a 128 px wide PNG."""

import cv2
import numpy as np
import requests
from flask import Flask, Response, request

app = Flask(__name__)


@app.get("/thumbnail")
def thumbnail() -> Response:
    raw = requests.get(request.args["url"], timeout=10).content
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    height, width = image.shape[:2]
    small = cv2.resize(image, (128, max(1, height * 128 // width)))
    _, png = cv2.imencode(".png", small)
    return Response(png.tobytes(), mimetype="image/png")


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=8000)
