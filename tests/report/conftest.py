"""Reports shared by the format tests, scanned once per session (see support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.report.model import Report
from tests.factory import build, write_docker_archive
from tests.report.support import bad_spec, good_spec, scan_report


@pytest.fixture
def image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The bad sample as a docker-archive reference, for tests that run the CLI: its own
    layer cache, no GitHub annotations, no colour."""
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return f"docker-archive:{write_docker_archive(build(bad_spec()), tmp_path / 'img.tar')}"


@pytest.fixture(scope="session")
def bad_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return scan_report(bad_spec(), tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="session")
def good_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return scan_report(good_spec(), tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="session")
def unscored_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """Checks ran but nothing scored them: every format must say "not scored"."""
    return scan_report(bad_spec(), tmp_path_factory.mktemp("unscored"), scored=False)


@pytest.fixture(scope="session")
def bare_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """Only the sections the foundation builds: no checks, results, findings or scores."""
    return scan_report(bad_spec(), tmp_path_factory.mktemp("bare"), with_checks=False)


@pytest.fixture(params=["bad_report", "good_report", "unscored_report", "bare_report"])
def any_report(request: pytest.FixtureRequest) -> Report:
    report: Report = request.getfixturevalue(request.param)
    return report
