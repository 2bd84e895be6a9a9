"""The terminal table: 80 columns, grade on top, findings worst first, colour rules."""

from __future__ import annotations

import dataclasses
import io
import re
import textwrap

import pytest

from auditor.facts.provenance import Provenance, mark
from auditor.report import markdown, table
from auditor.report.model import Report
from auditor.report.output import summary_line, use_color
from auditor.report.priority import by_priority
from tests.report.support import scores

ANSI = re.compile(r"\033\[[0-9;]*m")


def test_fits_80_columns(any_report: Report) -> None:
    for line in table.render(any_report).splitlines():
        assert len(line) <= 80, line


def test_grade_and_scores_come_first(bad_report: Report) -> None:
    text = table.render(bad_report)
    s = scores(bad_report)
    line = f"Grade {s['grade']}  {s['overall']}/100    Secure {s['secure']}  Small {s['small']}"
    assert line in text
    assert text.index("Grade") < text.index("Findings:") < text.index("Created by")


def _rows(text: str) -> list[tuple[str, str, str]]:
    """(severity, check ID, dimension) of each finding row, in the order printed."""
    return [
        (m[1], m[2], m[3])
        for m in re.finditer(r"^(ERROR|WARNING|INFO) +(\S+) +(\S+)  ", text, re.MULTILINE)
    ]


def test_findings_worst_first_with_the_dimension_as_a_tag(bad_report: Report) -> None:
    text = table.render(bad_report)
    assert _rows(text) == [
        ("ERROR", "TST001", "secure"),
        ("WARNING", "TST002", "small"),
        ("WARNING", "TST002", "small"),
        ("WARNING", "TST002", "small"),
        ("INFO", "TST003", "usable"),
    ]
    # the warnings by bytes at stake: numpy's 20 kB, then the two files of 5.0 and 4.1 kB
    site = "/usr/local/lib/python3.11/site-packages/numpy/core.so"
    assert text.index(site) < text.index("is 5.0 kB") < text.index("is 4.1 kB")
    assert "Findings: 1 error, 3 warnings, 1 info" in text
    assert "check TST004 crashed: RuntimeError: asked to crash" in text


def test_own_layers_come_before_base_layers(bad_report: Report) -> None:
    """With the first two layers the base's (as `--base` would find them), numpy's
    20 kB warning in the base's pip layer drops below the app's own smaller files."""
    findings = mark(bad_report.findings or (), Provenance("base:1", "--base", 2))
    text = table.render(dataclasses.replace(bad_report, findings=tuple(findings)))
    site = "/usr/local/lib/python3.11/site-packages/numpy/core.so"
    assert text.index("is 5.0 kB") < text.index("is 4.1 kB") < text.index(site)
    assert "layer 1 (base): RUN pip install" in text and "layer 2 (own): COPY" in text


def test_info_is_one_line_per_check_unless_verbose(bad_report: Report) -> None:
    findings = bad_report.findings or ()
    info = [f for f in findings if str(f.severity) == "info"]
    assert len(info) == 1
    many = dataclasses.replace(bad_report, findings=(*findings, *info, *info))  # 3 info
    text = table.render(many)
    assert [r for r in _rows(text) if r[0] == "INFO"] == [("INFO", "TST003", "usable")]
    assert "3 findings: No Python" in text
    assert "3 info finding(s) summarised by check; --verbose lists each." in text
    verbose = table.render(many, verbose=True)
    assert [r for r in _rows(verbose) if r[0] == "INFO"] == [("INFO", "TST003", "usable")] * 3
    assert verbose.count("no interpreter at /usr/local/bin/python3") == 3
    assert "summarised" not in verbose


def test_one_order_for_table_markdown_and_summary_line(bad_report: Report) -> None:
    """The table, the markdown comment and the stderr summary all read findings
    through priority.by_priority: they name the same findings in the same order."""
    findings = mark(bad_report.findings or (), Provenance("base:1", "--base", 2))
    report = dataclasses.replace(bad_report, findings=tuple(findings))
    ordered = by_priority(findings)
    assert [str(f.severity) for f in ordered] == ["error", "warning", "warning", "warning", "info"]
    text = table.render(report, verbose=True)
    rows = re.findall(r"^(?:ERROR|WARNING|INFO) +(\S+) +\S+ +(.*)$", text, re.MULTILINE)
    assert rows == [(f.check_id, textwrap.wrap(f.message, table.MESSAGE_WIDTH)[0]) for f in ordered]
    want = [(f.check_id, f.message) for f in ordered]
    md = markdown.render(report, verbose=True)
    assert sorted(want, key=lambda w: md.index(markdown.esc(w[1], 200))) == want
    line = summary_line(report)
    named = re.findall(r"(?:top: | \| )(TST\d+) (\w+)", line)
    assert named == [(f.check_id, str(f.severity)) for f in by_priority(findings)[:3]]


def test_not_scored_and_not_run(unscored_report: Report, bare_report: Report) -> None:
    assert "Grade: not scored" in table.render(unscored_report)
    bare = table.render(bare_report)
    assert "not scored" in bare and "Checks: not run" in bare


def test_colour_only_when_asked(bad_report: Report) -> None:
    assert not ANSI.search(table.render(bad_report))
    coloured = table.render(bad_report, color=True)
    assert "\033[31mERROR" in coloured
    assert ANSI.sub("", coloured) == table.render(bad_report)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_use_color_needs_a_terminal_and_no_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(_Tty()) is True
    assert use_color(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(_Tty()) is False
