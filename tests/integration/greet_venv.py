"""A venv at /app/.venv holding a package pip really installed (`greet`, from a local
setup.py: no index here) and an app that imports it: the image the PY007 engine tests
build and mutate, and how they run it."""

from __future__ import annotations

from auditor.findings import Finding
from auditor.pipeline import audit
from tests.support.services import DockerEngine

FILES = {
    # setup.py alone: the venv has no `wheel`, so pip runs setup.py install (no index)
    "src/greet/setup.py": "from setuptools import setup\nsetup(name='greet', version='1.0', "
    "packages=['greet'])\n",
    "src/greet/greet/__init__.py": "def hello():\n    return 'hello'\n",
    "main.py": "import greet\nprint(greet.hello())\n",
}


def dockerfile(base: str, *steps: str) -> str:
    """The venv with greet installed, /app/main.py, then `steps` (lines, each ending
    with a newline)."""
    return (
        f"FROM {base}\n"
        "COPY src /src\n"
        "RUN python3 -m venv /app/.venv && /app/.venv/bin/pip install --no-index "
        "/src/greet && rm -rf /src\n"
        "COPY main.py /app/main.py\n" + "".join(steps)
    )


def run(engine: DockerEngine, tag: str, command: list[str] | None = None) -> tuple[int, str]:
    """Exit code and output of the image run to its end (no network)."""
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


def py007(tag: str, saying: str) -> list[Finding]:
    """PY007's findings on the image, read from the engine DOCKER_HOST names, whose
    message has `saying`."""
    findings = audit(f"docker-daemon:{tag}").findings
    return [f for f in findings if f.check_id == "PY007" and saying in f.message]
