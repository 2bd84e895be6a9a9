"""Fixtures for the Python facts and checks: scan factory images with a real CPython."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from auditor.check import Check
from auditor.facts import Facts
from auditor.findings import Finding
from auditor.loading import LoadOptions, load_image
from auditor.runner import run_checks
from tests.factory import ImageSpec, write_docker_archive
from tests.python import pyimage

Scan = Callable[[ImageSpec], Facts]


@pytest.fixture(scope="session")
def layer_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One on-disk layer-index cache per session: the CPython layer is indexed once."""
    return tmp_path_factory.mktemp("layer-cache")


@pytest.fixture
def scan(tmp_path: Path, layer_cache: Path) -> Scan:
    counter = iter(range(1000))

    def _scan(spec: ImageSpec) -> Facts:
        path = tmp_path / f"image{next(counter)}.tar"
        write_docker_archive(pyimage.build(spec), path)
        loaded = load_image(f"docker-archive:{path}", LoadOptions(cache_dir=layer_cache, jobs=1))
        return Facts(loaded)

    return _scan


def findings(module: ModuleType, facts: Facts, **options: Any) -> list[Finding]:
    """Run one check; its result must not be an error."""
    outcome = run_checks([Check.from_module(module)], facts, {module.INFO.id: options})
    assert outcome.results[0].status.value != "error", outcome.results[0].reason
    return outcome.findings


def status(module: ModuleType, facts: Facts, **options: Any) -> str:
    outcome = run_checks([Check.from_module(module)], facts, {module.INFO.id: options})
    return outcome.results[0].status.value
