"""Files from the test cache served to image builds through their HTTP proxy setting:
a free port, and nothing of it in the images or their recipes.

Why serve at all: the public Dockerfiles the realistic set imitates download inside
``RUN`` steps (``pip install -r requirements.txt``, ``uv sync``, ``poetry install``,
``wget`` of CPython's source). Copying the files into the build context would leave them
in a layer (waste no real image has); fetching them from the internet on every cold
build is slow and not reproducible. So they are downloaded once into the test cache
(tests/support/downloads.py) and served while images build.

Why as a proxy: the Dockerfiles, ``uv.lock`` and ``poetry.lock`` must name the server by
a URL that never changes (a lock records its index, and the recipe hash that decides
whether a cached image is reused covers the Dockerfile and its context), yet a fixed port
collides with whatever else runs on a shared machine. So they name :data:`BASE_URL`
(``.test`` is reserved, RFC 2606: no DNS answers for it), and each build gets
``http_proxy`` pointing at this server on a free loopback port
(``docker build --network host`` reaches the host's loopback). ``http_proxy`` is one of
Docker's predefined build arguments: ``RUN`` steps see it, but unless a Dockerfile
declares it, it stays out of the build cache key and the image history, so the port
changes nothing in the images. wget, pip, uv, Poetry (requests) and apt honour it;
``no_proxy`` names the Debian mirror, so apt still goes straight there. Requests for any
other host get a 502 that says what this proxy serves.
"""

from __future__ import annotations

import contextlib
import posixpath
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .baseimages import DEFAULT_MIRROR, apt_mirror

__all__ = ["BASE_URL", "HOST", "serve"]

HOST = "files.imgaudit.test"
BASE_URL = f"http://{HOST}/"


class _Handler(SimpleHTTPRequestHandler):
    """GET and HEAD of ``http://HOST/PATH`` (the absolute form a proxy receives) or of
    ``/PATH``: the first path segment picks a mounted directory, else the ``""`` mount."""

    def __init__(self, *args: Any, mounts: Mapping[str, Path], **kwargs: Any) -> None:
        self.mounts = mounts
        super().__init__(*args, **kwargs)

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if "://" in self.path:
            parts = urllib.parse.urlsplit(self.path)
            if parts.hostname != HOST:
                self.send_error(502, f"this proxy serves {BASE_URL} only, not {parts.hostname}")
                return False
            self.path = parts.path or "/"
        return True

    def translate_path(self, path: str) -> str:
        relative = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(path).path))
        relative = relative.lstrip("/")
        if relative.startswith(".."):
            return "/nonexistent"
        first, _, rest = relative.partition("/")
        if first in self.mounts:
            return str(self.mounts[first] / rest)
        return str(self.mounts[""] / relative) if relative != "." else str(self.mounts[""])

    def log_message(self, format: str, *args: Any) -> None:  # builds would flood stderr
        pass


def _no_proxy() -> str:
    hosts = {urllib.parse.urlsplit(url).hostname for url in (apt_mirror(), DEFAULT_MIRROR)}
    return ",".join([*sorted(h for h in hosts if h), "localhost", "127.0.0.1"])


@contextlib.contextmanager
def serve(mounts: Mapping[str, Path]) -> Iterator[dict[str, str]]:
    """Serve ``mounts`` (first URL path segment -> directory; ``""`` for the rest) on a
    free loopback port for the block; yield the build arguments that route a build's
    requests for :data:`BASE_URL` here (``buildargs`` of ``baseimages.build``)."""
    handler = partial(_Handler, mounts=dict(mounts))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="file-server", daemon=True)
    thread.start()
    proxy = f"http://127.0.0.1:{server.server_address[1]}"
    no_proxy = _no_proxy()
    try:
        yield {"http_proxy": proxy, "HTTP_PROXY": proxy, "no_proxy": no_proxy,
               "NO_PROXY": no_proxy}  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
