"""Markdown for pull-request comments: compact, escaped, details collapsed."""

from __future__ import annotations

import dataclasses

from auditor.report import markdown
from auditor.report.model import Report
from tests.report.support import scores


def test_grade_scores_findings_and_details(bad_report: Report) -> None:
    text = markdown.render(bad_report)
    s = scores(bad_report)
    assert text.startswith(f"### imgaudit: grade **{s['grade']}** ({s['overall']}/100)")
    assert f"| {s['secure']} | {s['small']} | {s['fast']} | {s['usable']} |" in text
    rows = [ln for ln in text.splitlines() if ln.startswith(("| 🔴", "| 🟠", "| 🔵"))]
    assert len(rows) == len(bad_report.findings or ()) == 5
    assert text.count("<details>") == text.count("</details>") == 5
    assert "<summary>Sizes by layer (3 layers," in text
    assert "| 20.0 kB | numpy | 1.26.4 |" in text


def test_everything_from_the_image_is_escaped(bad_report: Report) -> None:
    text = markdown.render(bad_report)
    assert "<script" not in text and "<img" not in text and "<b>" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "\\_" in markdown.esc("__init__") and "\\|" in markdown.esc("a|b")
    assert "@" not in markdown.esc("ping @org/team") and "://" not in markdown.esc("http://x")


def test_not_scored_and_no_findings(unscored_report: Report, good_report: Report) -> None:
    assert "(not scored)" in markdown.render(unscored_report).splitlines()[0]
    assert "No findings." in markdown.render(good_report)


def test_long_finding_lists_are_capped(bad_report: Report) -> None:
    many = dataclasses.replace(bad_report, findings=(bad_report.findings or ()) * 30)
    text = markdown.render(many)
    assert f"…and {150 - markdown.MAX_FINDINGS} more" in text
    assert len(text) < 65536
