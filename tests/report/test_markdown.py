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
    text = markdown.render(many, verbose=True)
    assert f"…and {150 - markdown.MAX_FINDINGS} more" in text
    assert len(text) < 65536


def test_worst_first_and_info_folded_unless_verbose(bad_report: Report) -> None:
    findings = bad_report.findings or ()
    info = [f for f in findings if str(f.severity) == "info"]
    many = dataclasses.replace(bad_report, findings=(*info, *findings, *info))  # 3 info first
    text = markdown.render(many)
    rows = [ln for ln in text.splitlines() if ln.startswith(("| 🔴", "| 🟠", "| 🔵"))]
    assert [r[:3] for r in rows] == ["| 🔴", "| 🟠", "| 🟠", "| 🟠", "| 🔵"]
    assert "| 3 findings; --verbose lists them |" in rows[-1]
    assert "3 info finding(s) summarised by check" in text
    assert "is 20.0 kB" in rows[1] and "is 5.0 kB" in rows[2] and "is 4.1 kB" in rows[3]
    verbose = markdown.render(many, verbose=True)
    rows = [ln for ln in verbose.splitlines() if ln.startswith(("| 🔴", "| 🟠", "| 🔵"))]
    assert [r[:3] for r in rows] == ["| 🔴", "| 🟠", "| 🟠", "| 🟠", "| 🔵", "| 🔵", "| 🔵"]
    assert "summarised" not in verbose
