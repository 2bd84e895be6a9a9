"""The suite's skip policy, proven on a throwaway suite run in a separate pytest process:
every way a test can skip fails the run under CI=true or IMGAUDIT_REQUIRE_INTEGRATION=1,
with the reason printed; without them the same skips are allowed and summarised."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.require import REQUIRE_ENV, skips_fail_because

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]

CONFTEST = """
from tests.support.require import (
    pytest_make_collect_report,
    pytest_runtest_makereport,
    pytest_terminal_summary,
)
"""

SUITE = """
import pytest

@pytest.fixture
def service():
    pytest.skip("no service here (apt-get install it)")

def test_skip_in_body():
    pytest.skip("body reason")

@pytest.mark.skipif(True, reason="mark reason")
def test_skipif_mark():
    pass

def test_skip_in_fixture(service):
    pass

def test_importorskip():
    pytest.importorskip("no_such_module_anywhere")

@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False

def test_runs():
    assert True
"""

SKIPPING_TESTS = ["test_skip_in_body", "test_skipif_mark", "test_skip_in_fixture",
                  "test_importorskip"]  # fmt: skip


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    return pytester


@pytest.mark.parametrize(("name", "value"), [("CI", "true"), (REQUIRE_ENV, "1")])
def test_every_kind_of_skip_fails_the_run(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    result = suite.runpytest_subprocess("-rfEs", "-p", "no:cacheprovider")
    # a skip in the test body fails it; one in setup (a mark, a fixture) is an error
    result.assert_outcomes(passed=1, failed=2, errors=2, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    for test in SKIPPING_TESTS:
        assert f" test_suite.py::{test} - skipped" in out, out
    for reason in ("body reason", "mark reason", "no service here (apt-get install it)",
                   "could not import 'no_such_module_anywhere'"):  # fmt: skip
        assert f"under {name}={value} a skip fails the run: {reason}" in out, out
    assert f"4 skipped test(s) failed the run ({name}={value})" in out


def test_a_module_that_skips_whole_fails_collection(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(test_gone='import pytest\npytest.skip("whole module", allow_module_level=1)')
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "test_gone.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error stops the run
    assert "a skip fails the run: whole module" in result.stdout.str()


@pytest.mark.parametrize("ci", [None, "false", ""])
def test_locally_skips_are_allowed_and_summarised(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is not None:
        monkeypatch.setenv("CI", ci)
    result = suite.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    assert "SKIPPED [1] test_suite.py" in out and "mark reason" in out
    assert "4 test(s) skipped (reasons above, -rs); under CI=true" in out


def test_which_settings_make_skips_fail() -> None:
    assert skips_fail_because({"CI": "true"}) == "CI=true"
    assert skips_fail_because({"CI": "1"}) == "CI=1"
    assert skips_fail_because({REQUIRE_ENV: "1"}) == f"{REQUIRE_ENV}=1"
    assert skips_fail_because({"CI": "false", REQUIRE_ENV: "0"}) is None
    assert skips_fail_because({}) is None
