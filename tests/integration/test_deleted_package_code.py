"""PY007's "metadata but no code" held to the engine: a package's directory deleted by
hand, its metadata kept, and the image run.

A venv at /app/.venv with a package pip really installed (`greet`) and `CMD
["/app/.venv/bin/python", "/app/main.py"]`, which imports it. With greet's code deleted
the container exits 1 ("No module named 'greet'") and PY007 says so as an error. With
pip's code deleted instead (a slimming step done by hand) the app runs and prints
`hello`, while the venv's `pip` dies with ModuleNotFoundError: PY007 warns, it does not
fail the build."""

from __future__ import annotations

import pytest

from tests.integration import greet_venv
from tests.support.baseimages import BuiltImage, build
from tests.support.services import DockerEngine

SITE = "/app/.venv/lib/python3*/site-packages"


@pytest.mark.parametrize(
    ("name", "deleted", "runs", "said"),
    [
        ("greet", "greet", False, [("ERROR", "greet")]),
        ("pip", "pip", True, [("WARNING", "pip")]),
    ],
)
def test_py007_says_what_the_running_image_does(
    docker_engine: DockerEngine,
    bookworm_python: BuiltImage,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    deleted: str,
    runs: bool,
    said: list[tuple[str, str]],
) -> None:
    tag = f"imgaudit-test/deleted-code-{name}:latest"
    steps = (f"RUN rm -rf {SITE}/{deleted}\n", 'CMD ["/app/.venv/bin/python", "/app/main.py"]\n')
    build(docker_engine, tag, greet_venv.dockerfile(bookworm_python.tag, *steps), greet_venv.FILES)
    code, out = greet_venv.run(docker_engine, tag)
    if runs:
        assert (code, out.strip()) == (0, "hello")
        pip_code, pip_out = greet_venv.run(docker_engine, tag, ["/app/.venv/bin/pip", "--version"])
        assert pip_code == 1 and "No module named 'pip'" in pip_out
    else:
        assert code == 1 and "No module named 'greet'" in out
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    found = greet_venv.py007(tag, "have metadata but no code")
    assert [
        (f.severity.name, d["modules"][0]) for f in found for d in f.evidence["distributions"]
    ] == said
