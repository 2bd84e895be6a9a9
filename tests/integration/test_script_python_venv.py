"""PY007's script-python warning held to the engine: the image is run, and its own
interpreter says whether the app's package imports.

uv's layout without uv (no index here): a venv at /app/.venv holding a package pip
installed from a local directory, and `CMD ["python3", "/app/main.py"]` or `python3 -m
main` from WORKDIR /app. Without the venv on PATH, or with the venv's python3 deleted,
the base image's python runs the app ("No module named 'greet'") and PY007 warns; with
`ENV PATH=/app/.venv/bin:$PATH` and the venv whole the app runs and PY007 says nothing."""

from __future__ import annotations

import pytest

from tests.integration import greet_venv
from tests.support.baseimages import BuiltImage, build
from tests.support.services import DockerEngine

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
    build(
        docker_engine, tag, greet_venv.dockerfile(bookworm_python.tag, env, cmd), greet_venv.FILES
    )
    code, out = greet_venv.run(docker_engine, tag)
    if runs:
        assert (code, out.strip()) == (0, "hello")
    else:
        assert code == 1 and "No module named 'greet'" in out
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    found = greet_venv.py007(tag, "has no package installed")
    assert [(f.severity.name, f.evidence["venv"], f.evidence["modules"]) for f in found] == (
        [] if runs else [("WARNING", "/app/.venv", ["greet"])]
    )
