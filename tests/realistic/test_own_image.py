"""imgaudit's own image (the repository's Dockerfile), built by the real engine FROM the
set's python:3.11-slim look-alike (no Docker Hub here: the BASE build argument names
it), is graded A by imgaudit with no warning from its own layers, and works: it scans
an archive mounted into it, and the engine's own images through the engine's socket.

The build stage installs from a wheel directory served on a loopback port of our own
(`pip wheel` of this checkout, `pip download` of its dependencies for the image's
CPython 3.11), reached through `--network host` and the PIP_* build arguments, which
never reach the image's config.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.baseimages import BuiltImage, ContextFile, build
from tests.support.realistic_wheels import PLATFORM_ARGS
from tests.support.services import DockerEngine

REPO = Path(__file__).resolve().parents[2]
TAG = f"imgaudit-test/own-image:p{os.getpid()}"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[str]:
    """`directory` over HTTP on a free loopback port (port 0: the kernel picks)."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def wheels(dest: Path) -> Path:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(dest), str(REPO)], check=True)
    (own,) = dest.glob("imgaudit-*.whl")
    download = [*pip, "download", *PLATFORM_ARGS, "-d", str(dest)]
    subprocess.run([*download, str(own)], check=True)
    subprocess.run([*download, "--no-deps", "setuptools>=64", "wheel"], check=True)
    return dest


def context() -> dict[str, ContextFile]:
    files: dict[str, ContextFile] = {
        "pyproject.toml": REPO / "pyproject.toml",
        "README.md": REPO / "README.md",
    }
    for top in ("auditor", "checks"):
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[str(path.relative_to(REPO))] = path
    return files


@pytest.fixture(scope="module")
def own_image(
    realistic_engine: DockerEngine,
    realistic_set: dict[str, BuiltImage],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BuiltImage]:
    slim = realistic_set["python-slim"]
    with serving(wheels(tmp_path_factory.mktemp("wheels"))) as url:
        image_id = build(
            realistic_engine,
            TAG,
            (REPO / "Dockerfile").read_text(),
            context(),
            buildargs={"BASE": slim.tag, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": url},
        )
    try:
        yield BuiltImage(tag=TAG, id=image_id)
    finally:
        client = realistic_engine.client()
        with contextlib.suppress(Exception):
            client.images.remove(TAG, force=True)
        client.close()


def scan(engine: DockerEngine, *argv: str) -> dict[str, Any]:
    env = {**os.environ, **engine.env(), "IMGAUDIT_CONFIG": ""}
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", *argv, "--format", "json", "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_graded_a_with_no_warning_from_its_own_layers(
    realistic_engine: DockerEngine,
    realistic_set: dict[str, BuiltImage],
    own_image: BuiltImage,
) -> None:
    slim = realistic_set["python-slim"]
    report = scan(realistic_engine, f"docker-daemon:{own_image.tag}", "--base", slim.tag)
    assert report["scores"]["grade"] == "A", report["scores"]
    layers = report["image"]["layers"]
    client = realistic_engine.client()
    try:
        base_layers = len(client.images.get(slim.tag).attrs["RootFS"]["Layers"])
    finally:
        client.close()
    assert len(layers) == base_layers + 2  # the user, the venv: nothing else
    own = [f for f in report["findings"] if (f.get("layer") or 0) >= base_layers]
    assert [f for f in own if f["severity"] != "info"] == []
    assert all(f["in_base"] for f in report["findings"] if f["severity"] != "info")

    results = {r["check_id"]: r["status"] for r in report["results"]}
    for check in ("SEC001", "SEC003", "SEC004", "SEC005", "CC001", "PY006", "PY007", "PK001"):
        assert results[check] == "passed", check  # non-root, read-only venv, bytecode
    assert report["image"]["user"] == "imgaudit"
    app = report["facts"]["app_python"]
    assert (app["environment"], app["program"]) == ("/opt/imgaudit", "/opt/imgaudit/bin/imgaudit")
    venv = {p["name"] for p in report["facts"]["packages"] if "/opt/imgaudit" in p["environments"]}
    assert "imgaudit" in venv and "cyclonedx-python-lib" in venv
    assert venv.isdisjoint({"pip", "setuptools", "wheel"})  # no installer at run time


def test_it_scans_an_archive_and_the_engine(
    realistic_engine: DockerEngine, own_image: BuiltImage
) -> None:
    client = realistic_engine.client()
    try:
        out = client.containers.run(
            own_image.tag,
            ["scan", "/src/sample.tar", "--format", "json"],
            volumes={str(REPO / "testdata"): {"bind": "/src", "mode": "ro"}},
            network_mode="none",
            remove=True,
        )
        assert json.loads(out)["image"]["reference"] == "imgaudit/sample:1.0"

        socket = realistic_engine.host.removeprefix("unix://")
        out = client.containers.run(
            own_image.tag,
            ["scan", f"docker-daemon:{own_image.tag}", "--format", "json", "--quiet"],
            volumes={socket: {"bind": "/var/run/docker.sock", "mode": "rw"}},
            group_add=[str(os.stat(socket).st_gid)],
            network_mode="none",
            remove=True,
        )
        itself = json.loads(out)
        assert itself["image"]["digest"] == own_image.id
        assert itself["scores"]["grade"] == "A"
    finally:
        client.close()
