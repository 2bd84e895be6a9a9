"""Session fixtures for integration tests: real dockerd, registries and base images.

Fixtures (all session-scoped; each starts its service once per test process):

``docker_engine`` -> ``DockerEngine``
    A private dockerd (``.host`` is ``unix://...``, ``.client()`` a docker SDK
    client, ``.env()`` an environment for the docker CLI). Its data root persists
    in ``~/.cache/imgaudit-test/docker`` so images stay cached between runs;
    stopped by PID at the end of the session.
``docker_client`` -> ``docker.DockerClient`` for ``docker_engine``.
``registry`` -> ``Registry`` without auth; ``.host`` is ``127.0.0.1:PORT``.
``auth_registry`` -> ``Registry`` with htpasswd basic auth (``.username``,
    ``.password``, ``.auth_config()``).
``token_registry`` -> ``Registry`` with bearer-token auth from an in-process token
    server (same credential attributes). ``Registry.request()`` answers either
    challenge like a client would.
``bookworm_minbase`` -> ``BuiltImage(tag, id)``: debootstrap minbase, imported.
``bookworm_python`` -> ``BuiltImage(tag, id)``: minbase + Debian python3/venv/pip.

A service that cannot run here raises ``ServiceUnavailable``; the fixture then skips
the test with the reason, or fails it when ``IMGAUDIT_REQUIRE_INTEGRATION=1``
(``scripts/test`` sets that after it installed the packages, so CI never silently
skips). Everything under this folder gets the ``integration`` marker.

pytest-xdist: safe. Workers share one dockerd per data root (reference-counted
under a file lock, stopped by whoever leaves last), base images are built once under
a file lock, and each worker runs its own registries.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # make ``tests.support`` importable in any import mode
    sys.path.insert(0, str(_ROOT))

import docker  # noqa: E402

from tests.support.baseimages import BuiltImage, debian_minbase, debian_python  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.require import unavailable  # noqa: E402
from tests.support.services import (  # noqa: E402
    DockerEngine,
    Registry,
    ServiceUnavailable,
    shared_docker_engine,
)

_HERE = Path(__file__).resolve().parent
T = TypeVar("T")

#: Seconds each fixture took to set up, shown in the terminal summary.
_TIMINGS: dict[str, float] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test collected below this folder as ``integration``."""
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report how long the integration services and images took to set up."""
    if _TIMINGS:
        parts = ", ".join(f"{name} {secs:.1f}s" for name, secs in _TIMINGS.items())
        terminalreporter.write_line(f"integration fixture setup: {parts}")


def _timed(name: str, make: Callable[[], T]) -> T:
    start = time.monotonic()
    try:
        return make()
    except ServiceUnavailable as exc:
        unavailable(exc.reason)
    finally:
        _TIMINGS[name] = time.monotonic() - start


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A private dockerd with a persistent data root; stopped by PID at session end."""
    with contextlib.ExitStack() as stack:
        yield _timed("docker_engine", lambda: stack.enter_context(shared_docker_engine()))


@pytest.fixture(scope="session")
def docker_client(docker_engine: DockerEngine) -> Iterator[docker.DockerClient]:
    """A docker SDK client bound to ``docker_engine``."""
    client = docker_engine.client()
    try:
        yield client
    finally:
        client.close()


def _registry(name: str, auth: str) -> Iterator[Registry]:
    registry = _timed(name, lambda: Registry.start(auth=auth))
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """A registry without auth on 127.0.0.1 (``.host`` for references, ``.url`` for HTTP)."""
    yield from _registry("registry", "none")


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[Registry]:
    """A registry with htpasswd basic auth; credentials in ``.username``/``.password``."""
    yield from _registry("auth_registry", "basic")


@pytest.fixture(scope="session")
def token_registry() -> Iterator[Registry]:
    """A registry with bearer-token auth (in-process token server); same credentials API."""
    yield from _registry("token_registry", "token")


@pytest.fixture(scope="session")
def bookworm_minbase(docker_engine: DockerEngine) -> BuiltImage:
    """``imgaudit-test/bookworm-minbase:latest`` in ``docker_engine`` (cached)."""
    return _timed("bookworm_minbase", lambda: debian_minbase(docker_engine))


@pytest.fixture(scope="session")
def bookworm_python(docker_engine: DockerEngine, bookworm_minbase: BuiltImage) -> BuiltImage:
    """``imgaudit-test/bookworm-python:latest``: minbase + python3, venv, pip (cached)."""
    return _timed("bookworm_python", lambda: debian_python(docker_engine))


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster, fresh for each test module (their row counts must
    not see each other's records), stopped by PID."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg not installed (pip install 'psycopg[binary]')")
    try:
        server = PostgresServer.start()
    except ServiceUnavailable as exc:
        unavailable(exc.reason)
    try:
        yield server
    finally:
        server.stop()
