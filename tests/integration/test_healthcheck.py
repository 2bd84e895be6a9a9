"""HC001 held to the engine: the image is run, and Docker's own health status is the
judge. A HEALTHCHECK whose program the image lacks (curl in a Debian minbase) turns
the container unhealthy; one the image can run turns it healthy."""

from __future__ import annotations

import time
from typing import Any

import pytest

from auditor.pipeline import audit
from tests.support.baseimages import BuiltImage, build
from tests.support.services import DockerEngine


def _health(client: Any, tag: str) -> str:
    """The container's health once Docker has judged it (interval 1 s, one retry)."""
    container = client.containers.run(tag, detach=True, network_mode="none")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            container.reload()
            state = (container.attrs["State"].get("Health") or {}).get("Status")
            if state in ("healthy", "unhealthy"):
                return str(state)
            time.sleep(0.5)
        return "undecided"
    finally:
        container.remove(force=True)


@pytest.mark.parametrize(
    ("name", "healthcheck", "missing"),
    [
        ("curl-shell", "CMD curl -f http://localhost:8000/ || exit 1", "curl"),
        ("curl-exec", 'CMD ["curl", "-f", "http://localhost:8000/"]', "curl"),
        ("python-script", 'CMD ["python3", "/srv/health.py"]', "/srv/health.py"),
        ("python", "CMD python3 -c 'import sys; sys.exit(0)'", None),
        ("sh-test", "CMD test -d /tmp", None),
    ],
)
def test_hc001_says_what_the_engine_finds(
    docker_engine: DockerEngine,
    bookworm_python: BuiltImage,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    healthcheck: str,
    missing: str | None,
) -> None:
    tag = f"imgaudit-test/healthcheck-{name}:latest"
    dockerfile = (
        f"FROM {bookworm_python.tag}\n"
        f"HEALTHCHECK --interval=1s --timeout=10s --retries=1 {healthcheck}\n"
        'CMD ["sleep", "120"]\n'
    )
    build(docker_engine, tag, dockerfile)
    client = docker_engine.client()
    try:
        assert _health(client, tag) == ("healthy" if missing is None else "unhealthy")
    finally:
        client.close()
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    report = audit(f"docker-daemon:{tag}")
    found = [f for f in report.findings if f.check_id == "HC001"]
    assert [f.evidence["missing"] for f in found] == ([] if missing is None else [missing])
