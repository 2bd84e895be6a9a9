"""The terminal table: 80 columns, grade on top, findings by dimension, colour rules."""

from __future__ import annotations

import io
import re

import pytest

from auditor.report import table
from auditor.report.model import Report
from auditor.report.output import use_color
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


def test_findings_grouped_by_dimension_then_severity(bad_report: Report) -> None:
    text = table.render(bad_report)
    heads = [ln for ln in text.splitlines() if ln in ("SECURE", "SMALL", "FAST", "USABLE")]
    assert heads == ["SECURE", "SMALL", "USABLE"]
    small = text[text.index("\nSMALL\n") : text.index("\nUSABLE\n")]
    assert small.count("WARNING  TST002") == 3
    assert "/usr/local/lib/python3.11/site-packages/numpy/core.so" in small
    assert "Findings: 1 error, 3 warnings, 1 info" in text
    assert "check TST004 crashed: RuntimeError: asked to crash" in text


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
