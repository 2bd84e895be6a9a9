"""PY007's "metadata but no code" held to the engine: a package's directory deleted by
hand, its .dist-info kept, and the image run.

A venv at /app/.venv with a package pip really installed (`greet`) and `CMD
["/app/.venv/bin/python", "/app/main.py"]`, which imports it. With greet's code deleted
the container exits 1 ("No module named 'greet'") and PY007 says so as an error. With
pip's code deleted instead (a slimming step done by hand) the app runs and prints
`hello`, while the venv's `pip` dies with ModuleNotFoundError: PY007 warns, it does not
fail the build."""

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
SITE = "/app/.venv/lib/python3*/site-packages"


def _run(engine: DockerEngine, tag: str, command: list[str] | None = None) -> tuple[int, str]:
    client = engine.client()
    try:
        container = client.containers.run(tag, command, detach=True, network_mode="none")
        try:
            code = container.wait(timeout=60)["StatusCode"]
            return code, container.logs().decode()
        finally:
            container.remove(force=True)
    finally:
        client.close()


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
    dockerfile = (
        f"FROM {bookworm_python.tag}\n"
        "COPY src /src\n"
        "RUN python3 -m venv /app/.venv && /app/.venv/bin/pip install --no-index "
        "/src/greet && rm -rf /src\n"
        f"RUN rm -rf {SITE}/{deleted}\n"
        "COPY main.py /app/main.py\n"
        'CMD ["/app/.venv/bin/python", "/app/main.py"]\n'
    )
    build(docker_engine, tag, dockerfile, PACKAGE)
    code, out = _run(docker_engine, tag)
    if runs:
        assert (code, out.strip()) == (0, "hello")
        pip_code, pip_out = _run(docker_engine, tag, ["/app/.venv/bin/pip", "--version"])
        assert pip_code == 1 and "No module named 'pip'" in pip_out
    else:
        assert code == 1 and "No module named 'greet'" in out
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    found = [
        f
        for f in audit(f"docker-daemon:{tag}").findings
        if f.check_id == "PY007" and "have metadata but no code" in f.message
    ]
    assert [
        (f.severity.name, d["modules"][0]) for f in found for d in f.evidence["distributions"]
    ] == said
