"""Suite-wide hooks.

Every report built during the tests through `auditor.report.sections.build_report` (by
the pipeline, whichever face called it) is validated, as JSON, against the shipped
JSON Schema (auditor/schema/report-v1.schema.json): the JSON report is a public contract.
A test that builds a report some other way can call `auditor.report.schema.validate`.

Every test also gets its own layer cache (IMGAUDIT_CACHE_DIR), never the user's.

Skips are allowed locally and fail the run under CI (`CI=true`) or with
IMGAUDIT_REQUIRE_INTEGRATION=1: the report hooks of tests/support/require.py, installed
here for the whole suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import auditor.report.sections as sections
from auditor.report.model import Report
from auditor.report.schema import validate
from tests.support.require import (  # noqa: F401 - pytest hooks, found here by name
    pytest_make_collect_report,
    pytest_runtest_makereport,
    pytest_terminal_summary,
)


@pytest.fixture(autouse=True)
def validate_every_report(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    original = sections.build_report

    def checked(loaded: Any, *args: Any, **parts: Any) -> Report:
        report = original(loaded, *args, **parts)
        validate(report.to_json())
        return report

    monkeypatch.setattr(sections, "build_report", checked)
    yield


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    path = tmp_path_factory.mktemp("imgaudit-cache")
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(path))
    return path


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Bytes parameters are named by length, not content: gzip output embeds the time it
    was made, and xdist workers that collect a second apart would disagree on the ids."""
    if isinstance(val, bytes | bytearray):
        return f"{argname}-{len(val)}B"
    return None
