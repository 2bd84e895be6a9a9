"""Build an image with the engine's BuildKit, through the Engine API alone.

Why not `DOCKER_BUILDKIT=1 docker build`: the docker CLI needs its buildx plugin for
that, and no package here provides it. The engine's own BuildKit takes the build
context as a tar in the request body (`POST /build?version=2`), as the classic builder
does; the docker SDK does not expose `version`, so this speaks HTTP over the engine's
unix socket (stdlib only). The built-in Dockerfile frontend is the engine's (dockerd
20.10: BuildKit 0.8, no heredocs); a `# syntax=` line would need a frontend image from
a registry, which the tests do not have.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from tests.support.baseimages import BuildError, ContextFile, _context_tar
from tests.support.services import DockerEngine

API_VERSION = "v1.41"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def build(
    engine: DockerEngine,
    tag: str,
    dockerfile_text: str,
    context_files: Mapping[str, ContextFile] | None = None,
    buildargs: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> str:
    """Build with BuildKit (`version=2`) and tag; return the image id. Raises BuildError
    with the engine's messages when the build fails."""
    context = _context_tar(dockerfile_text, context_files or {})
    params = {
        "version": "2",
        "t": tag,
        "networkmode": "host",
        "rm": "1",
        "forcerm": "1",
        "buildargs": json.dumps(dict(buildargs or {})),
    }
    path = engine.host.removeprefix("unix://")
    conn = _UnixConnection(path, timeout)
    log: list[str] = []
    image_id: str | None = None
    try:
        conn.request(
            "POST",
            f"/{API_VERSION}/build?{urlencode(params)}",
            body=context,
            headers={"Content-Type": "application/x-tar"},
        )
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        if response.status != 200:
            raise BuildError(tag, f"HTTP {response.status}: {body}")
        for line in body.splitlines():
            chunk: dict[str, Any] = json.loads(line) if line.strip() else {}
            if "error" in chunk:
                log.append(f"ERROR: {chunk['error']}\n")
                raise BuildError(tag, "".join(log))
            if chunk.get("id") == "moby.image.id":
                image_id = str(chunk["aux"]["ID"])
            elif "stream" in chunk:
                log.append(str(chunk["stream"]))
    finally:
        conn.close()
    if image_id is None:
        raise BuildError(tag, "".join(log) + "\n(no image was produced)")
    return image_id
