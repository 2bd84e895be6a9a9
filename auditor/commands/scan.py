"""`imgaudit scan IMAGE`: read an image and report on it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from auditor import baseline
from auditor.facts import Facts
from auditor.report import json_format, table
from auditor.report.model import build_report
from auditor.runner import run_checks
from auditor.scan import LoadedImage, ScanOptions, load_image
from auditor.sources import SourceOptions
from auditor.sources.platform import Platform
from checks import ALL_CHECKS

FORMATS = {"table": table.render, "json": json_format.render}


def configure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="audit an image", description=__doc__)
    p.add_argument(
        "image",
        help="image reference: docker-archive:PATH, oci-archive:PATH[:tag], "
        "oci:DIR[:tag], docker-daemon:REF, docker://REF, a path, or REF",
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
    baseline.add_arguments(p)
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
    loaded = load_image(args.image, options)
    check_options = baseline.check_options(args, loaded, options, report_for)
    report = report_for(loaded, check_options)
    baseline.record(args, loaded, report)
    sys.stdout.write(FORMATS[args.format](report))
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
    )
