"""`imgaudit scan IMAGE`: read an image and report on it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from tabulate import tabulate

from auditor import baseline
from auditor.errors import InputError
from auditor.facts import Facts
from auditor.findings import Finding
from auditor.report import output
from auditor.report.catalog import checks_section
from auditor.report.formats import OutputFormat
from auditor.report.model import build_report
from auditor.runner import run_checks
from auditor.scan import LoadedImage, ScanOptions, load_image
from auditor.sources import SourceOptions
from auditor.sources.platform import Platform
from checks import ALL_CHECKS, py003_python_eol
from checks import py004_version_family as version_family


def configure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="audit an image", description=__doc__)
    p.add_argument(
        "image",
        nargs="+",
        help="image reference: docker-archive:PATH, oci-archive:PATH[:tag], "
        "oci:DIR[:tag], docker-daemon:REF, docker://REF, a path, or REF; several images "
        "are reported one after the other, then compared as families (PY004)",
    )
    output.add_arguments(p)
    p.add_argument("--platform", help="os/arch[/variant] to pick from a multi-arch index")
    p.add_argument(
        "--pull",
        choices=("always", "missing", "never"),
        default="missing",
        help="when the docker engine pulls the image (default: missing)",
    )
    p.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="allow plain HTTP to this registry (repeatable; loopback is always allowed)",
    )
    p.add_argument("--no-cache", action="store_true", help="read every layer, ignore the cache")
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=0,
        help="worker processes for layer reads (default: one per core)",
    )
    p.add_argument(
        "--max-ratio",
        type=int,
        default=None,
        help="decompression ratio limit per layer (default 1000)",
    )
    p.add_argument(
        "--max-entries",
        type=int,
        default=None,
        help="tar entries per image, all layers together (default 2000000: a tar-bomb guard)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    baseline.add_arguments(p)
    p.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    output.destinations(args)  # a bad -o fails before the scan, not after
    platform = Platform.parse(args.platform) if args.platform else None
    options = ScanOptions(
        source=SourceOptions(
            platform=platform,
            pull=args.pull,
            insecure_registries=tuple(args.insecure_registry),
            quiet=args.quiet,
        ),
        cache_dir=Path(os.environ["IMGAUDIT_CACHE_DIR"])
        if os.environ.get("IMGAUDIT_CACHE_DIR")
        else None,
        use_cache=not args.no_cache,
        jobs=args.jobs,
        **({"max_ratio": args.max_ratio} if args.max_ratio else {}),
        **({"max_entries": args.max_entries} if args.max_entries else {}),
    )
    if len(args.image) > 1:
        return _execute_many(args, options)
    loaded = load_image(args.image[0], options)
    check_options = baseline.check_options(args, loaded, options, report_for)
    report = report_for(loaded, check_options)
    baseline.record(args, loaded, report)
    output.emit(report, args)
    return 0


def report_for(
    loaded: LoadedImage, check_options: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """facts -> checks -> report for one loaded image (also used by `diff` and baselines)."""
    facts = Facts(loaded)
    outcome = run_checks(ALL_CHECKS, facts, check_options)
    return build_report(
        loaded,
        facts=facts.to_json(),
        results=[r.to_json() for r in outcome.results],
        findings=[f.to_json() for f in outcome.findings],
        checks=checks_section(ALL_CHECKS),
    )


# ---- several images: reports in order, then the version-family comparison (PY004) ----


def _execute_many(args: argparse.Namespace, options: ScanOptions) -> int:
    """Each image as a single scan would report it (JSON: one document holding all the
    reports), then the side-by-side family table and the PY004 findings."""
    if args.output:
        raise InputError("-o/--output takes one image; scan several images without it")
    as_json = args.format == OutputFormat.JSON
    reports = []
    for reference in args.image:
        loaded = load_image(reference, options)
        check_options = baseline.check_options(args, loaded, options, report_for)
        report = report_for(loaded, check_options)
        baseline.record(args, loaded, report)
        if not as_json:
            output.emit(report, args)
            sys.stdout.write("\n")
        reports.append(report)
    members = [version_family.Member.from_report(r, ref) for r, ref in zip(reports, args.image)]
    rows, findings = version_family.families(members, py003_python_eol.today_utc())
    if as_json:
        family = {
            "rows": [row.to_json() for row in rows],
            "findings": [f.to_json() for f in findings],
        }
        doc = {"reports": reports, "version_family": family}
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(_family_table(rows, findings))
    return 0


def _family_table(rows: list[version_family.Row], findings: list[Finding]) -> str:
    """Side by side: one column per image, grouped by repository."""
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
