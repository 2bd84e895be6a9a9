"""Build imgaudit's own image (the repository's ``Dockerfile``) with the real engine.

Why: issue 19 asks for an image of imgaudit that imgaudit itself grades A. The test
builds it exactly as a user does (``docker build`` of the checkout, so ``.dockerignore``
and the build context are the real ones) FROM the realistic python-slim look-alike,
since there is no Docker Hub here.

Why the wheels are served from the host: a build container does not see the host's pip
configuration or trust store (this machine reaches PyPI through a proxy whose CA only the
host trusts), so the runtime dependencies and the build backend are downloaded once on
the host, with the host's pip, into the test cache and served on a loopback port while
the image builds. The Dockerfile's ``PIP_NO_INDEX`` / ``PIP_FIND_LINKS`` build arguments
point the builder stage's pip at them, as a user behind a mirror would; build arguments
never reach the final image.

Caching: the image carries a recipe label (a hash of the base image id, the wheels and
every file the build context sends); a tag with the same label is reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .baseimages import RECIPE_LABEL, BuildError, BuiltImage, _cached
from .downloads import pypi
from .services import DockerEngine, cache_dir, file_lock, require_binary

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the test venv may be 3.10
    import tomli as tomllib

__all__ = ["IMAGE_TAG", "REPO", "build_imgaudit_image", "context_files", "runtime_wheels"]

REPO = Path(__file__).resolve().parents[2]
IMAGE_TAG = "imgaudit-test/imgaudit:latest"
#: What .dockerignore lets into the build context (it is an allow-list); the recipe hash
#: reads the same files, and tests/integration/test_imgaudit_image.py checks the two agree.
CONTEXT_ROOTS = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "auditor", "checks")


def requirements() -> list[str]:
    """What the builder stage's pip needs: the build backend and the runtime dependencies
    (pyproject.toml's own lists, so a new dependency is served without a change here)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    return [*project["build-system"]["requires"], "wheel", *project["project"]["dependencies"]]


def context_files() -> list[Path]:
    """Every file of :data:`CONTEXT_ROOTS`, caches left out as .dockerignore does."""
    out: list[Path] = []
    for name in CONTEXT_ROOTS:
        path = REPO / name
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        out += [
            p
            for p in candidates
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    return out


def _digest(paths: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def runtime_wheels() -> Path:
    """A directory of binary wheels (CPython 3.11, manylinux x86_64) for
    :func:`requirements` and what they depend on, downloaded once with the host's pip."""
    return pypi(requirements(), deps=True, label="imgaudit-image")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # a build would flood stderr
        pass


@contextlib.contextmanager
def file_server(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 on a port the kernel picks; yield its URL.

    ``docker build --network host`` reaches the host's loopback, and pip reads the
    directory listing as a find-links page.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, name="imgaudit-wheels", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def build_imgaudit_image(engine: DockerEngine, base: BuiltImage) -> BuiltImage:
    """``docker build`` the checkout with ``BASE`` = ``base`` (reused when its recipe
    label matches); raise :class:`BuildError` with the log when the build fails."""
    docker_cli = require_binary("docker", "docker.io")
    wheels = runtime_wheels()
    recipe = hashlib.sha256(
        "|".join(
            (base.id, _digest(context_files(), REPO), _digest(sorted(wheels.iterdir()), wheels))
        ).encode()
    ).hexdigest()[:16]
    with file_lock(cache_dir() / "imgaudit-image" / "image.lock"):
        cached = _cached(engine, IMAGE_TAG, recipe)
        if cached is not None:
            return cached
        with file_server(wheels) as url:
            done = subprocess.run(
                [docker_cli, "build", "--network", "host",
                 "--build-arg", f"BASE={base.tag}",
                 "--build-arg", "PIP_NO_INDEX=1",
                 "--build-arg", f"PIP_FIND_LINKS={url}",
                 "--label", f"{RECIPE_LABEL}={recipe}",
                 "-t", IMAGE_TAG, str(REPO)],
                env={**engine.env(), "DOCKER_BUILDKIT": "0"},
                capture_output=True, text=True, check=False, timeout=1800,
            )  # fmt: skip
        if done.returncode != 0:
            raise BuildError(IMAGE_TAG, done.stdout[-6000:] + done.stderr[-3000:])
        cached = _cached(engine, IMAGE_TAG, recipe)
        if cached is None:
            raise BuildError(IMAGE_TAG, done.stdout[-3000:] + "\n(no image with the recipe)")
        return cached
