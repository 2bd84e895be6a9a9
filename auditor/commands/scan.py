"""`imgaudit scan IMAGE...`: read images and report on them.

Parses the arguments, builds the settings (auditor/commands/options.py), calls the
pipeline (auditor/pipeline.py), records, gates and emits: nothing of the pipeline
itself lives here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from auditor import baseline, process_end
from auditor.commands import options
from auditor.config import Config
from auditor.errors import InputError
from auditor.findings import Finding
from auditor.gating import base_held_back, report_failures
from auditor.loading import open_loaded
from auditor.pipeline import Settings, audit, compare_family
from auditor.report import output
from auditor.report.formats import OutputFormat
from auditor.report.model import Report


def configure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="audit an image", description=__doc__)
    p.add_argument(
        "image",
        nargs="+",
        help="image reference: docker-archive:PATH, oci-archive:PATH[:tag], "
        "oci:DIR[:tag], dir:DIR, docker-daemon:REF, docker://REF, a path, or REF; several images "
        "are reported one after the other, then compared as families (PY004)",
    )
    output.add_arguments(p)
    options.add_image_arguments(p)
    options.add_baseline_arguments(p)
    options.add_check_arguments(p)
    options.add_dockerfile_argument(p)
    options.add_gating_arguments(p)
    p.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    output.destinations(args)  # a bad -o fails before the scan, not after
    settings = options.settings(args)
    if len(args.image) > 1:
        return _execute_many(args, settings)
    report = _scan(args, args.image[0], settings, hold=True)
    tripped = _gate(report, settings.config, args.quiet)
    output.emit(report, args)  # its summary line stays the last line on stderr
    return 1 if tripped else 0


def _scan(
    args: argparse.Namespace, reference: str, settings: Settings, hold: bool = False
) -> Report:
    """One image's report (and its record in the history store when asked). `hold`:
    the image is the command's only one, kept to the process's end rather than freed
    (auditor/process_end.py); several images are freed one after another."""
    loaded = open_loaded(reference, settings.loading)
    if hold:
        process_end.hold_until_exit(loaded)
    report = audit(loaded, settings)
    url = options.store_url(args)
    if url is not None:
        repository, tag = baseline.repository_of(report.reference, args.repository)
        baseline.record(url, report.to_json(), repository, tag)
        if not args.quiet:
            print(f"imgaudit: recorded scan of {repository} in the history store", file=sys.stderr)
    return report


def _gate(report: Report, config: Config, quiet: bool) -> list[str]:
    """Say on stderr which ignores expired and why the gate trips; return the reasons."""
    for expired in (report.config or {}).get("expired_ignores", []):
        print(
            f"imgaudit: ignore for {expired['check']} expired on {expired['expires']}: "
            "it no longer applies",
            file=sys.stderr,
        )
    overall = report.scores.overall if report.scores else None
    findings = report.findings or ()
    tripped = report_failures(findings, overall, config.fail_on, config.fail_under, config.strict)
    held = base_held_back(findings, config.fail_on, config.strict)
    if held and not quiet:
        print(
            f"imgaudit: {held} finding(s) at or above {config.fail_on} come from the base "
            "image: shown, not gated (--strict gates them)",
            file=sys.stderr,
        )
    if tripped and not quiet:
        print("imgaudit: failing: " + "; ".join(tripped), file=sys.stderr)
    return tripped


def _execute_many(args: argparse.Namespace, settings: Settings) -> int:
    """Each image as a single scan would report it (JSON: one document holding all the
    reports), then the side-by-side family table and the PY004 findings."""
    if args.output:
        raise InputError("-o/--output takes one image; scan several images without it")
    as_json = args.format == OutputFormat.JSON
    reports = []
    tripped = False
    for reference in args.image:
        report = _scan(args, reference, settings)
        tripped = bool(_gate(report, settings.config, args.quiet)) or tripped
        if not as_json:
            output.emit(report, args)
            sys.stdout.write("\n")
        reports.append(report)
    family = compare_family(reports, args.image, settings)
    config = settings.config
    family_failures = report_failures(family.findings, None, config.fail_on, None, config.strict)
    tripped = bool(family_failures) or tripped
    if as_json:
        sys.stdout.write(json.dumps(family.to_json(), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(_family_table(family.rows, family.findings))
    return 1 if tripped else 0


def _family_table(rows: Sequence[Any], findings: Sequence[Finding]) -> str:
    """Side by side: one column per image, grouped by repository (`rows`: PY004's)."""
    from tabulate import tabulate  # deferred: start-up time, see README "Performance"

    out = []
    for repo in sorted({r.repository for r in rows}):
        members = [r for r in rows if r.repository == repo]
        table = [
            ["python", *[r.python or "-" for r in members]],
            ["origin", *[r.origin or "-" for r in members]],
            ["end of life", *[r.eol or "-" for r in members]],
            ["status", *[r.state for r in members]],
        ]
        out.append(f"Version family {repo}")
        headers = ["", *[r.reference for r in members]]
        out.append(tabulate(table, headers=headers, tablefmt="simple"))
        out.append("")
    for f in findings:
        out.append(f"{f.check_id} {f.name} [{f.severity}] {f.message}")
    return "\n".join(out) + "\n"
