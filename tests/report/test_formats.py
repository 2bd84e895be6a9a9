"""The format Enum: every member renders every kind of report; suffixes map to formats."""

from __future__ import annotations

import argparse

import pytest

from auditor.errors import InputError
from auditor.report.formats import SUFFIXES, OutputFormat
from auditor.report.model import Report
from auditor.report.output import Destination, add_arguments, destinations, parse_output


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_renders_every_report(fmt: OutputFormat, any_report: Report) -> None:
    text = fmt.renderer()(any_report)
    if fmt is OutputFormat.CODEQUALITY and not any_report.findings:
        assert text == "[]\n"  # GitLab's Code Quality lists findings only: none, no issue
        return
    assert text.endswith("\n") and len(text) > 200


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("r.json", OutputFormat.JSON),
        ("r.sarif", OutputFormat.SARIF),
        ("r.sarif.json", OutputFormat.SARIF),
        ("r.xml", OutputFormat.JUNIT),
        ("R.MD", OutputFormat.MARKDOWN),
        ("r.html", OutputFormat.HTML),
        ("r.txt", OutputFormat.TABLE),
        ("gl-code-quality-report.json", OutputFormat.CODEQUALITY),
        ("r.codequality.json", OutputFormat.CODEQUALITY),
        ("r.csv", None),
    ],
)
def test_from_suffix(name: str, fmt: OutputFormat | None) -> None:
    assert OutputFormat.from_suffix(name) is fmt


def test_every_format_has_a_suffix() -> None:
    assert set(SUFFIXES.values()) == set(OutputFormat)


def test_parse_output_prefix_default_and_stdout() -> None:
    assert parse_output("sarif:out.json").format is OutputFormat.SARIF
    assert parse_output("out.bin", OutputFormat.JSON).format is OutputFormat.JSON
    assert parse_output("json:-") == Destination(OutputFormat.JSON, None)
    with pytest.raises(InputError, match="cannot tell the format"):
        parse_output("report.bin")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_destinations_stdout_only_without_o_or_with_explicit_format() -> None:
    assert destinations(_args()) == [Destination(OutputFormat.TABLE, None)]
    assert [d.format for d in destinations(_args("-o", "a.json", "-o", "b.html"))] == [
        OutputFormat.JSON,
        OutputFormat.HTML,
    ]
    with_stdout = destinations(_args("-o", "a.json", "--format", "markdown"))
    assert with_stdout[-1] == Destination(OutputFormat.MARKDOWN, None)
