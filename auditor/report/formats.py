"""The output formats: an Enum whose factory is exhaustive (a new member without a
renderer fails mypy and the tests, not a user at run time)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from auditor.report.model import Report

Renderer = Callable[["Report"], str]


class OutputFormat(enum.Enum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    MARKDOWN = "markdown"
    HTML = "html"
    CYCLONEDX = "cyclonedx"
    CODEQUALITY = "codequality"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def from_suffix(cls, filename: str) -> OutputFormat | None:
        """The format a file name asks for (`report.sarif` -> SARIF), None if unknown."""
        lower = filename.lower()
        for suffix, fmt in SUFFIXES.items():
            if lower.endswith(suffix):
                return fmt
        return None

    def renderer(self, *, color: bool = False, verbose: bool = False) -> Renderer:
        """`verbose`: the table and markdown list every info finding (the other
        formats always carry everything)."""
        # Imported here so that `--format json` never imports the HTML machinery.
        if self is OutputFormat.TABLE:
            from auditor.report import table

            return partial(table.render, color=color, verbose=verbose)
        if self is OutputFormat.JSON:
            from auditor.report import json_format

            return json_format.render
        if self is OutputFormat.SARIF:
            from auditor.report import sarif

            return sarif.render
        if self is OutputFormat.JUNIT:
            from auditor.report import junit

            return junit.render
        if self is OutputFormat.MARKDOWN:
            from auditor.report import markdown

            return partial(markdown.render, verbose=verbose)
        if self is OutputFormat.HTML:
            from auditor.report import html_format

            return html_format.render
        if self is OutputFormat.CYCLONEDX:
            from auditor.report import cyclonedx

            return cyclonedx.render
        if self is OutputFormat.CODEQUALITY:
            from auditor.report import codequality

            return codequality.render
        _exhaustive(self)


def _exhaustive(value: NoReturn) -> NoReturn:
    """mypy proves this unreachable: every member has a branch above."""
    raise AssertionError(f"no renderer for {value!r}")


# Longest first so that `.sarif.json` is SARIF and `.cdx.json` CycloneDX, not JSON;
# `gl-code-quality-report.json` (GitLab's usual artifact name) is Code Quality.
SUFFIXES: dict[str, OutputFormat] = {
    "code-quality-report.json": OutputFormat.CODEQUALITY,
    ".codequality.json": OutputFormat.CODEQUALITY,
    ".cdx.json": OutputFormat.CYCLONEDX,
    ".sarif.json": OutputFormat.SARIF,
    ".sarif": OutputFormat.SARIF,
    ".json": OutputFormat.JSON,
    ".junit.xml": OutputFormat.JUNIT,
    ".xml": OutputFormat.JUNIT,
    ".markdown": OutputFormat.MARKDOWN,
    ".md": OutputFormat.MARKDOWN,
    ".html": OutputFormat.HTML,
    ".htm": OutputFormat.HTML,
    ".txt": OutputFormat.TABLE,
}

# What `imgaudit diff`, `history` and `fleet` render their documents as (the keys of
# `FORMATS` in auditor/report/diffview.py, historyview.py and auditor/fleet/view.py,
# which a test keeps equal to this). Named here so that building the command line
# parser does not import those renderers: start-up time, see README "Performance".
DOCUMENT_FORMATS = ("html", "json", "markdown", "table")
