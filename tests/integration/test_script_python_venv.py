"""PY007's script-python warning held to the engine: the image is run, and its own
interpreter says whether the app's package imports.

uv's layout without uv (no index here): a venv at /app/.venv holding a package pip
installed from a local directory, and `CMD ["python3", "/app/main.py"]` or `python3 -m
main` from WORKDIR /app. Without the venv on PATH, or with the venv's python3 deleted,
the base image's python runs the app ("No module named 'greet'") and PY007 warns; with
`ENV PATH=/app/.venv/bin:$PATH` and the venv whole the app runs and PY007 says nothing."""

from __future__ import annotations

import pytest

from auditor.pipeline import audit
from tests.support.baseimages import BuiltImage, build
from tests.support.services import DockerEngine

PACKAGE = {
    # setup.py alone: the venv has no `wheel`, so pip runs setup.py install (no index)
    "src/greet/setup.py": "from setuptools import setup\nsetup(name='greet', version='1.0', "
    "packages=['greet'])\n",
    "src/greet/greet/__init__.py": "def hello():\n    return 'hello'\n",
    "main.py": "import greet\nprint(greet.hello())\n",
}


SCRIPT = 'CMD ["python3", "/app/main.py"]\n'
# the app's own module run with -m from the working directory; the venv's python deleted
# (a slimming step), so that PATH, venv first, finds the base image's python3
MODULE = 'WORKDIR /app\nCMD ["python3", "-m", "main"]\n'
DELETED = "RUN rm /app/.venv/bin/python3\nENV PATH=/app/.venv/bin:$PATH\n"


@pytest.mark.parametrize(
    ("name", "env", "cmd", "runs"),
    [
        ("no-path", "", SCRIPT, False),
        ("path", "ENV PATH=/app/.venv/bin:$PATH\n", SCRIPT, True),
        ("module-no-path", "", MODULE, False),
        ("module-venv-python-deleted", DELETED, MODULE, False),
        ("module-path", "ENV PATH=/app/.venv/bin:$PATH\n", MODULE, True),
    ],
)
def test_py007_says_what_the_running_image_does(
    docker_engine: DockerEngine,
    bookworm_python: BuiltImage,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    env: str,
    cmd: str,
    runs: bool,
) -> None:
    tag = f"imgaudit-test/script-python-{name}:latest"
    dockerfile = (
        f"FROM {bookworm_python.tag}\n"
        "COPY src /src\n"
        "RUN python3 -m venv /app/.venv && /app/.venv/bin/pip install --no-index "
        "/src/greet && rm -rf /src\n"
        "COPY main.py /app/main.py\n"
        f"{env}"
        f"{cmd}"
    )
    build(docker_engine, tag, dockerfile, PACKAGE)
    client = docker_engine.client()
    try:
        container = client.containers.run(tag, detach=True, network_mode="none")
        try:
            code = container.wait(timeout=60)["StatusCode"]
            out = container.logs().decode()
        finally:
            container.remove(force=True)
    finally:
        client.close()
    if runs:
        assert (code, out.strip()) == (0, "hello")
    else:
        assert code == 1 and "No module named 'greet'" in out
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    found = [
        f
        for f in audit(f"docker-daemon:{tag}").findings
        if f.check_id == "PY007" and "has no package installed" in f.message
    ]
    assert [(f.severity.name, f.evidence["venv"], f.evidence["modules"]) for f in found] == (
        [] if runs else [("WARNING", "/app/.venv", ["greet"])]
    )
