"""The downloads the realistic image set needs, fetched once and served on loopback.

Why a local file server: the public Dockerfiles the set imitates run ``pip install -r
requirements.txt`` (or ``uv sync``, ``poetry export``) inside a ``RUN`` step and download
CPython's source in the same step. Copying the wheels into the build context would leave
them in a layer (waste that no real image has) and re-downloading them from PyPI on every
cold build is slow and not reproducible. So the wheels (pinned in
``tests/data/realistic/constraints.txt``) and the CPython tarball are downloaded once into
the test cache, and served from ``http://127.0.0.1:PORT/`` while the set builds
(``docker build --network host`` reaches the host's loopback). The Dockerfiles read the
address from ``ARG PIP_NO_INDEX`` / ``ARG PIP_FIND_LINKS`` (build arguments reach RUN
steps as environment variables and never the image config), so their bodies stay as the
public docs write them.

The port is fixed (the uv lock file records the find-links URL, as a real uv.lock records
its index), so only one process serves at a time: :func:`wheel_server` holds a file lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .baseimages import apt_mirror
from .services import ServiceUnavailable, cache_dir, file_lock

__all__ = [
    "CPYTHON_SHA256",
    "CPYTHON_TARBALL",
    "CPYTHON_VERSION",
    "SERVER_PORT",
    "SERVER_URL",
    "SIMPLE_URL",
    "WHEELS_URL",
    "served_dir",
    "wheel_server",
]

DATA = Path(__file__).resolve().parents[1] / "data" / "realistic"
#: Top-level pins (what the apps and tools ask for) and the full resolved set.
WHEELS_LIST = DATA / "wheels.txt"
CONSTRAINTS = DATA / "constraints.txt"

SERVER_PORT = 38611
SERVER_URL = f"http://127.0.0.1:{SERVER_PORT}/"
WHEELS_URL = f"{SERVER_URL}wheels/"
#: The same wheels as a PEP 503 "simple" index, for Poetry (its sources must be indexes).
SIMPLE_URL = f"{SERVER_URL}simple/"

#: CPython's upstream source as Debian's archive keeps it (the same bytes python.org
#: published for 3.11.2); the official image's Dockerfile verifies a sha256 the same way.
CPYTHON_VERSION = "3.11.2"
CPYTHON_TARBALL = "python3.11_3.11.2.orig.tar.gz"
CPYTHON_SHA256 = "2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849"
CPYTHON_POOL_PATH = "pool/main/p/python3.11/" + CPYTHON_TARBALL

#: pip download options: binary wheels for CPython 3.11 on x86_64 glibc (the images'
#: platform), whatever the host's Python is.
PLATFORM_ARGS = [
    "--only-binary=:all:",
    "--platform", "manylinux_2_28_x86_64",
    "--platform", "manylinux_2_17_x86_64",
    "--platform", "manylinux2014_x86_64",
    "--platform", "linux_x86_64",
    "--python-version", "3.11",
    "--implementation", "cp",
    "--abi", "cp311", "--abi", "abi3", "--abi", "none",
]  # fmt: skip


def _recipe() -> str:
    text = WHEELS_LIST.read_text() + CONSTRAINTS.read_text() + CPYTHON_SHA256
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_cpython(dest: Path) -> None:
    url = apt_mirror().rstrip("/") + "/" + CPYTHON_POOL_PATH
    partial_path = dest.with_name(dest.name + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=120) as answer, open(partial_path, "wb") as out:
            shutil.copyfileobj(answer, out)
    except OSError as exc:
        raise ServiceUnavailable(f"cannot download {url}: {exc}") from exc
    actual = _sha256(partial_path)
    if actual != CPYTHON_SHA256:
        partial_path.unlink()
        raise RuntimeError(f"{url}: sha256 {actual}, expected {CPYTHON_SHA256}")
    partial_path.replace(dest)


def _download_wheels(dest: Path) -> None:
    partial_dir = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial_dir, ignore_errors=True)
    partial_dir.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
         "-r", str(WHEELS_LIST), "-c", str(CONSTRAINTS), *PLATFORM_ARGS,
         "--dest", str(partial_dir)],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    if done.returncode != 0:
        raise ServiceUnavailable(
            f"pip download of the realistic wheels failed: {done.stderr[-600:]}"
        )
    partial_dir.replace(dest)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def write_simple_index(root: Path) -> None:
    """``root/simple/<project>/index.html`` linking each wheel in ``root/wheels``: the
    PEP 503 layout Poetry needs for a source (pip and uv read ``wheels/`` directly)."""
    projects: dict[str, list[str]] = {}
    for wheel in sorted((root / "wheels").glob("*.whl")):
        projects.setdefault(_canonical(wheel.name.split("-", 1)[0]), []).append(wheel.name)
    simple = root / "simple"
    simple.mkdir(exist_ok=True)
    links = "".join(f'<a href="{name}/">{name}</a>\n' for name in projects)
    (simple / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    for name, files in projects.items():
        (simple / name).mkdir(exist_ok=True)
        anchors = "".join(f'<a href="../../wheels/{f}">{f}</a>\n' for f in files)
        (simple / name / "index.html").write_text(
            f"<!DOCTYPE html><html><body>\n{anchors}</body></html>\n"
        )


def served_dir() -> Path:
    """The directory the server publishes (``wheels/`` and the CPython tarball), made once.

    Keyed by a hash of the pins, so changing ``wheels.txt`` or ``constraints.txt``
    downloads a fresh set beside the old one.
    """
    root = cache_dir() / "realistic" / f"serve-{_recipe()}"
    done_marker = root / ".complete"
    if done_marker.exists():
        return root
    with file_lock(cache_dir() / "realistic" / "downloads.lock"):
        if done_marker.exists():
            return root
        root.mkdir(parents=True, exist_ok=True)
        tarball = root / CPYTHON_TARBALL
        if not tarball.exists():
            _download_cpython(tarball)
        if not (root / "wheels").is_dir():
            _download_wheels(root / "wheels")
        write_simple_index(root)
        done_marker.write_text("ok\n")
    return root


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # builds would flood stderr
        pass


@contextlib.contextmanager
def wheel_server() -> Iterator[str]:
    """Serve :func:`served_dir` on :data:`SERVER_URL` for the block; yield the URL.

    Holds a machine-wide lock named after the port, so that concurrent builders (xdist
    workers, other checkouts, other test caches) take turns on it. Raises
    ``ServiceUnavailable`` when a process outside the lock holds the port.
    """
    root = served_dir()
    # The port is machine-wide, so is the lock (two test caches may build at once).
    with file_lock(Path(tempfile.gettempdir()) / f"imgaudit-wheel-server-{SERVER_PORT}.lock"):
        handler = partial(_QuietHandler, directory=str(root))
        try:
            server = ThreadingHTTPServer(("127.0.0.1", SERVER_PORT), handler)
        except OSError as exc:
            raise ServiceUnavailable(f"port {SERVER_PORT} for the wheel server: {exc}") from exc
        thread = threading.Thread(target=server.serve_forever, name="wheel-server", daemon=True)
        thread.start()
        try:
            yield SERVER_URL
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
