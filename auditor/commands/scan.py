"""`imgaudit scan IMAGE`: read an image and report on it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from tabulate import tabulate

from auditor.facts import Facts
from auditor.findings import Finding
from auditor.report import json_format, table
from auditor.report.model import build_report
from auditor.runner import run_checks
from auditor.scan import ScanOptions, load_image
from auditor.sources import SourceOptions
from auditor.sources.platform import Platform
from checks import ALL_CHECKS, py003_python_eol
from checks import py004_version_family as version_family

FORMATS = {"table": table.render, "json": json_format.render}


def configure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="audit an image", description=__doc__)
    p.add_argument(
        "image",
        nargs="+",
        help="image reference: docker-archive:PATH, oci-archive:PATH[:tag], "
        "oci:DIR[:tag], docker-daemon:REF, docker://REF, a path, or REF; several images "
        "are reported one after the other, then compared as families (PY004)",
    )
    p.add_argument("--format", "-f", choices=sorted(FORMATS), default="table")
    p.add_argument("--platform", help="os/arch[/variant] to pick from a multi-arch index")
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
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    platform = Platform.parse(args.platform) if args.platform else None
    options = ScanOptions(
        source=SourceOptions(platform=platform, quiet=args.quiet),
        cache_dir=Path(os.environ["IMGAUDIT_CACHE_DIR"])
        if os.environ.get("IMGAUDIT_CACHE_DIR")
        else None,
        use_cache=not args.no_cache,
        jobs=args.jobs,
        **({"max_ratio": args.max_ratio} if args.max_ratio else {}),
    )
    if len(args.image) > 1:
        return _execute_many(args, options)
    report, _ = _scan_one(args.image[0], options)
    sys.stdout.write(FORMATS[args.format](report))
    return 0


def _scan_one(reference: str, options: ScanOptions) -> tuple[dict[str, Any], Facts]:
    loaded = load_image(reference, options)
    facts = Facts(loaded)
    outcome = run_checks(ALL_CHECKS, facts)
    report = build_report(
        loaded,
        facts=facts.to_json(),
        results=[r.to_json() for r in outcome.results],
        findings=[f.to_json() for f in outcome.findings],
    )
    return report, facts


# ---- several images: reports in order, then the version-family comparison (PY004) ----


def _execute_many(args: argparse.Namespace, options: ScanOptions) -> int:
    reports = []
    members = []
    for reference in args.image:
        report, facts = _scan_one(reference, options)
        reports.append(report)
        name = report["image"]["reference"] or reference
        members.append(version_family.Member(name, tuple(facts.pythons)))
    rows, findings = version_family.families(members, py003_python_eol.today_utc())
    family = {
        "rows": [row.__dict__ for row in rows],
        "findings": [f.to_json() for f in findings],
    }
    if args.format == "json":
        sys.stdout.write(
            json.dumps({"reports": reports, "version_family": family}, indent=2, sort_keys=True)
            + "\n"
        )
        return 0
    for report in reports:
        sys.stdout.write(FORMATS[args.format](report) + "\n")
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
