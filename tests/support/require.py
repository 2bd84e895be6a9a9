"""Skips: allowed on a laptop, a failure under CI.

A test whose host parts are missing here (a service, a Debian package, PyPI, the
shared SARIF schema) skips with the reason, so a contributor without root still runs
the rest and sees, at the end (`-rs`), what did not run and why.

Under CI (`CI=true`) or with `IMGAUDIT_REQUIRE_INTEGRATION=1` (what scripts/test sets
as root, after it installed everything the tests need) every skip fails the run
instead. That is enforced here once, by report hooks that tests/conftest.py installs,
not by each skip site: a skip from a `skipif` mark, from `pytest.skip` in a test or a
fixture, from `importorskip`, or from a whole skipped module becomes a failure that
names the reason. So CI cannot pass by quietly not running a test, whichever way a
test (present or future) skips. Expected failures (`xfail`) are not skips and are left
alone.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping
from typing import Any, NoReturn

import pytest

REQUIRE_ENV = "IMGAUDIT_REQUIRE_INTEGRATION"
#: user_properties key marking a report that was a skip before the hook failed it.
FAILED_SKIP = "imgaudit_failed_skip"


def skips_fail_because(environ: Mapping[str, str] = os.environ) -> str | None:
    """Why skips fail the run here ("CI=true", ...), or None when they are allowed."""
    if environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        return f"CI={environ['CI']}"
    if environ.get(REQUIRE_ENV) == "1":
        return f"{REQUIRE_ENV}=1"
    return None


def unavailable(reason: str) -> NoReturn:
    """Skip: `reason` names what is missing (and how to get it, where one can)."""
    pytest.skip(reason)


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_the_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    because = skips_fail_because()
    if because is None:
        return
    reason = _skip_reason(report)
    report.outcome = "failed"
    report.longrepr = f"skipped, and under {because} a skip fails the run: {reason}"
    if isinstance(report, pytest.TestReport):
        report.user_properties.append((FAILED_SKIP, reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """A skip in setup (skipif marks, fixtures) or in the test body fails under CI."""
    outcome = yield
    _fail_the_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    """A module that skips as a whole (module-level skip or importorskip) fails under CI."""
    outcome = yield
    _fail_the_skip(outcome.get_result())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One closing line about skips: how many, and what CI would make of them."""
    # a skip in setup (a mark, a fixture) fails as an error, one in the test as a failure
    stats = terminalreporter.stats
    failed_skips = [
        r
        for r in [*stats.get("failed", []), *stats.get("error", [])]
        if any(key == FAILED_SKIP for key, _ in getattr(r, "user_properties", []))
    ]
    skipped = [r for r in stats.get("skipped", []) if not hasattr(r, "wasxfail")]
    if failed_skips:
        terminalreporter.write_line(
            f"{len(failed_skips)} skipped test(s) failed the run ({skips_fail_because()}): "
            "install what the reasons above name, or run without CI=true and "
            f"{REQUIRE_ENV} to allow skips",
            red=True,
        )
    elif skipped:
        terminalreporter.write_line(
            f"{len(skipped)} test(s) skipped (reasons above, -rs); under CI=true or "
            f"{REQUIRE_ENV}=1 each would fail the run",
            yellow=True,
        )
