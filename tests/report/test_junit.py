"""JUnit XML: one test case per check, with the counts CI systems read."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from auditor.report import junit
from auditor.report.model import Report
from tests.report.support import scores


def _parse(report: Report) -> ET.Element:
    return ET.fromstring(junit.render(report).encode("utf-8"))


def test_counts_match_results(any_report: Report) -> None:
    root = _parse(any_report)
    results = any_report.results or ()
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(results) == int(suite.get("tests", "-1")) == int(root.get("tests", ""))
    for status, tag, attr in (
        ("failed", "failure", "failures"),
        ("skipped", "skipped", "skipped"),
        ("error", "error", "errors"),
    ):
        expected = sum(1 for r in results if r.status.value == status)
        assert int(suite.get(attr, "-1")) == expected
        assert sum(1 for c in cases if c.find(tag) is not None) == expected


def test_failures_carry_findings(bad_report: Report) -> None:
    suite = _parse(bad_report).find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {
        "TST001 demo-runs-as-root",
        "TST002 demo-big-files",
        "TST003 demo-python-missing",
        "TST004 demo-crash",
    }
    big = cases["TST002 demo-big-files"].find("failure")
    assert big is not None and big.get("message") == "3 finding(s): 3 warning"
    assert "path: /app/<img src=x onerror=alert(1)>" in (big.text or "")
    assert "fix: remove it from the final stage" in (big.text or "")
    assert cases["TST001 demo-runs-as-root"].get("classname") == "imgaudit.secure"
    crash = cases["TST004 demo-crash"].find("error")
    assert crash is not None and "asked to crash" in crash.get("message", "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["grade"] == scores(bad_report)["grade"]


def test_skipped_and_not_scored(good_report: Report, unscored_report: Report) -> None:
    suite = _parse(good_report).find("testsuite")
    assert suite is not None
    skipped = [c for c in suite.findall("testcase") if c.find("skipped") is not None]
    assert [c.get("name") for c in skipped] == ["TST003 demo-python-missing"]
    unscored = _parse(unscored_report).find("testsuite")
    assert unscored is not None
    props = {p.get("name"): p.get("value") for p in unscored.iter("property")}
    assert props["grade"] == "not scored"


def test_control_characters_from_the_image_are_dropped() -> None:
    assert junit.clean("a\x00b\x1bc\td\ne") == "abc\td\ne"
