"""Session fixtures for the realistic set (issue 15's yardstick).

``realistic_engine`` -> the shared dockerd (``services.shared_docker_engine``).
``realistic_set`` -> ``{name: BuiltImage}``: every image of ``realistic_images``, built
    once per engine data root under a file lock (xdist workers and other checkouts wait
    for the first builder, then reuse the images by their recipe label).
``realistic_truth`` -> ``get(name) -> truth``: the probe's findings, cached by image id.
``realistic_report`` -> ``get(name) -> report``: ``imgaudit scan --format json``, cached by
    image id and imgaudit's code digest.

Everything here gets the ``integration`` marker: it needs root, dockerd and the package
registries, and skips (or fails under IMGAUDIT_REQUIRE_INTEGRATION=1) without them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.realistic.reports import scan  # noqa: E402
from tests.support.baseimages import BuiltImage  # noqa: E402
from tests.support.realistic_images import build_set  # noqa: E402
from tests.support.realistic_truth import establish  # noqa: E402
from tests.support.require import unavailable  # noqa: E402
from tests.support.services import (  # noqa: E402
    DockerEngine,
    ServiceUnavailable,
    shared_docker_engine,
)

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def realistic_engine() -> Iterator[DockerEngine]:
    with contextlib.ExitStack() as stack:
        try:
            engine = stack.enter_context(shared_docker_engine())
        except ServiceUnavailable as exc:
            unavailable(exc.reason)
        yield engine


@pytest.fixture(scope="session")
def realistic_set(realistic_engine: DockerEngine) -> dict[str, BuiltImage]:
    try:
        return build_set(realistic_engine)
    except ServiceUnavailable as exc:
        unavailable(exc.reason)


@pytest.fixture(scope="session")
def realistic_truth(
    realistic_engine: DockerEngine, realistic_set: dict[str, BuiltImage]
) -> Callable[[str], dict[str, Any]]:
    memo: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name not in memo:
            memo[name] = establish(realistic_engine, realistic_set[name])
        return memo[name]

    return get


@pytest.fixture(scope="session")
def realistic_report(
    realistic_engine: DockerEngine, realistic_set: dict[str, BuiltImage]
) -> Callable[[str], dict[str, Any]]:
    memo: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name not in memo:
            memo[name] = scan(realistic_engine, realistic_set[name])
        return memo[name]

    return get
