"""Reports shared by the format tests, scanned once per session (see support.py)."""

from __future__ import annotations

import pytest

from auditor.report.model import Report
from tests.report.support import bad_spec, good_spec, scan_report


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
