"""Where reports go: stdout and `-o FILE` (several at once), written atomically.

Every requested output is rendered in memory first; only when all of them rendered
are files written, by `filewrite`: a regular file through a temporary file renamed
over it (a failure never leaves a half-written report, nor clobbers the previous
one), a device, FIFO or descriptor (`-o /dev/null`, `-o /dev/stdout`) written into.
The report goes to stdout; the one-line summary and progress go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from auditor.errors import InputError
from auditor.findings import Finding
from auditor.report import github_annotations
from auditor.report.catalog import count_text, fmt_score, severity_counts
from auditor.report.filewrite import check_writable, write_file
from auditor.report.formats import SUFFIXES, OutputFormat
from auditor.report.model import Report
from auditor.report.priority import top
from auditor.units import human_bytes, shorten

__all__ = ["check_writable", "write_document", "write_file"]


@dataclass(frozen=True)
class Destination:
    format: OutputFormat
    path: Path | None  # None: stdout


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        "-f",
        type=OutputFormat,
        choices=list(OutputFormat),
        default=None,
        help="report format on stdout (default: table; with -o, nothing on stdout "
        "unless --format is given)",
    )
    parser.add_argument(
        "--output",
        "-o",
        action="append",
        default=[],
        metavar="FILE",
        help="also write the report to FILE, format from the suffix "
        f"({', '.join(sorted(SUFFIXES))}) or given as FORMAT:FILE; repeatable",
    )
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="table and markdown: list every info finding (default: one line per check; "
        "JSON, SARIF, JUnit and HTML always carry every finding)",
    )
    parser.add_argument(
        "--github-annotations",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print ::error/::warning/::notice lines for GitHub Actions "
        "(default: on when GITHUB_ACTIONS=true)",
    )


def destinations(args: argparse.Namespace) -> list[Destination]:
    out: list[Destination] = []
    for spec in args.output:
        out.append(parse_output(spec, args.format))
    if args.format is not None or not args.output:
        out.append(Destination(args.format or OutputFormat.TABLE, None))
    return out


def parse_output(spec: str, default: OutputFormat | None = None) -> Destination:
    """`report.sarif`, `sarif:report.json`, or `-` (stdout)."""
    prefix, sep, rest = spec.partition(":")
    if sep and rest and prefix in {f.value for f in OutputFormat}:
        fmt: OutputFormat | None = OutputFormat(prefix)
        spec = rest
    else:
        fmt = OutputFormat.from_suffix(spec) or default
    if fmt is None:
        raise InputError(
            f"cannot tell the format of output {spec!r}: use a suffix "
            f"({', '.join(sorted(SUFFIXES))}) or FORMAT:{spec}"
        )
    return Destination(fmt, None if spec == "-" else Path(spec))


def use_color(stream: TextIO) -> bool:
    """Colour only on a terminal, never with NO_COLOR set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def emit(
    report: Report,
    args: argparse.Namespace,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> None:
    """Render every requested output, then write them; summary and annotations to stderr."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    rendered: list[tuple[Destination, str]] = []
    for dest in destinations(args):
        color = dest.path is None and use_color(stdout)
        verbose = bool(getattr(args, "verbose", False))
        rendered.append((dest, dest.format.renderer(color=color, verbose=verbose)(report)))
    for dest, _ in rendered:  # refuse before writing anything: all outputs or none
        if dest.path is not None:
            check_writable(dest.path)
    for dest, text in rendered:
        if dest.path is None:
            stdout.write(text)
            stdout.flush()
        else:
            write_file(dest.path, text)
    want_annotations = args.github_annotations
    if want_annotations is None:
        want_annotations = os.environ.get("GITHUB_ACTIONS") == "true"
    if want_annotations:
        stderr.write(github_annotations.render(report))
    if not getattr(args, "quiet", False):
        written = [str(d.path) for d, _ in rendered if d.path is not None]
        stderr.write(summary_line(report, written) + "\n")


def summary_line(report: Report, written: list[str] | None = None) -> str:
    """Grade, counts and the findings to fix first (`priority.top`), on one line."""
    counts = severity_counts(report.findings or ())
    scores = report.scores
    grade = f"grade {scores.grade} ({fmt_score(scores.overall)}/100)" if scores else "not scored"
    line = f"imgaudit: {grade}; findings: {count_text(counts)}"
    first = top(report.findings or ())
    if first:
        line += "; top: " + " | ".join(headline(f) for f in first)
    if written:
        line += f"; wrote {', '.join(written)}"
    return line


def headline(finding: Finding) -> str:
    """`SEC001 error: the image runs as root`, with the bytes at stake when there are."""
    stake = f", {human_bytes(finding.bytes)}" if finding.bytes else ""
    return f"{finding.check_id} {finding.severity}{stake}: {shorten(finding.message, 60)}"


def write_document(text: str, output: str | None) -> None:
    """A document (`diff`, `history`, `fleet`) to stdout, or to a file as reports are."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        write_file(Path(output), text)
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror or exc}") from None
