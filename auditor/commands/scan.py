"""`imgaudit scan IMAGE`: read an image and report on it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from auditor import baseline
from auditor import config as configuration
from auditor.facts import Facts, packages_index
from auditor.facts import provenance as prov
from auditor.findings import Severity
from auditor.gating import failures
from auditor.report import output
from auditor.report.catalog import checks_section
from auditor.report.model import build_report
from auditor.runner import run_checks
from auditor.scan import LoadedImage, ScanOptions, load_image
from auditor.scoring import score
from auditor.sources import SourceOptions
from auditor.sources.platform import Platform
from checks import ALL_CHECKS


def configure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="audit an image", description=__doc__)
    p.add_argument(
        "image",
        help="image reference: docker-archive:PATH, oci-archive:PATH[:tag], "
        "oci:DIR[:tag], docker-daemon:REF, docker://REF, a path, or REF",
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
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    baseline.add_arguments(p)
    add_gating_arguments(p)
    p.set_defaults(execute=execute)


def add_gating_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("checks, scoring and gating")
    g.add_argument(
        "--fail-on",
        choices=["info", "warning", "error"],
        default=None,
        help="exit 1 when a finding has this severity or worse (default: error)",
    )
    g.add_argument(
        "--fail-under", type=float, default=None, metavar="SCORE", help="exit 1 below this score"
    )
    g.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="also flag what a stock distribution ships (e.g. its setuid binaries)",
    )
    g.add_argument("--base", metavar="REF", help="the base image: its layers are the base's")
    g.add_argument(
        "--packages-index", metavar="FILE", help="Debian Packages index to compare (OS006)"
    )
    g.add_argument("--config", metavar="PATH", help="config file (default: found upward)")
    g.add_argument("--enable", action="append", metavar="ID", help="run only these checks")
    g.add_argument("--disable", action="append", metavar="ID", help="do not run this check")


def load_config(args: argparse.Namespace) -> configuration.Config:
    """Settings: CLI over IMGAUDIT_* over the config file over defaults (auditor/config.py)."""
    known = {c.info.id: c.options for c in ALL_CHECKS}
    if args.fail_under is not None and not 0 <= args.fail_under <= 100:
        raise configuration.ConfigError("--fail-under: expected a score between 0 and 100")
    cli = {
        "fail_on": Severity.parse(args.fail_on) if args.fail_on else None,
        "fail_under": args.fail_under,
        "strict": args.strict,
        "base": args.base,
        "packages_index": args.packages_index,
        "enable": args.enable,
        "disable": args.disable,
    }
    return configuration.load(known, cli=cli, config_path=args.config)


def execute(args: argparse.Namespace) -> int:
    output.destinations(args)  # a bad -o fails before the scan, not after
    config = load_config(args)
    index = packages_index.load(config.packages_index) if config.packages_index else None
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
    )
    loaded = load_image(args.image, options)
    check_options = baseline.check_options(args, loaded, options, report_for)
    for cid, opts in config.options.items():
        check_options = {**(check_options or {})}
        check_options[cid] = {**check_options.get(cid, {}), **opts}
    if index is not None:
        check_options = {**(check_options or {})}
        check_options["OS006"] = {**check_options.get("OS006", {}), "packages_index": index}
    report = report_for(loaded, check_options, config)
    baseline.record(args, loaded, report)
    for expired in config_expired(report):
        print(
            f"imgaudit: ignore for {expired['check']} expired on {expired['expires']}: "
            "it no longer applies",
            file=sys.stderr,
        )
    tripped = failures_of(report, config)
    if tripped and not args.quiet:
        print("imgaudit: failing: " + "; ".join(tripped), file=sys.stderr)
    output.emit(report, args)  # its summary line stays the last line on stderr
    return 1 if tripped else 0


def report_for(
    loaded: LoadedImage,
    check_options: dict[str, dict[str, Any]] | None = None,
    config: configuration.Config | None = None,
) -> dict[str, Any]:
    """facts -> checks -> scores -> report for one loaded image (also used by `diff` and
    baselines). `config` selects checks, overrides severities, applies ignores and names
    the base image (provenance); without it every check runs with defaults."""
    config = config or configuration.Config()
    facts = Facts(loaded, base=config.base)
    provenance = facts.provenance  # a bad --base is an input error: raise it before checks
    checks = [c for c in ALL_CHECKS if config.selected(c.info.id)]
    outcome = run_checks(checks, facts, check_options, config.strict)
    applied = configuration.apply(config, outcome.findings)
    findings = prov.mark(applied.findings, provenance)
    scores = score(findings, {c.info.id: c.info.dimension for c in ALL_CHECKS})
    return build_report(
        loaded,
        facts=facts.to_json(),
        results=[r.to_json() for r in outcome.results],
        findings=[f.to_json() for f in findings],
        checks=checks_section(ALL_CHECKS),
        scores=scores.to_json(),
        config=applied.to_json(config.source),
    )


def config_expired(report: dict[str, Any]) -> list[dict[str, Any]]:
    return list((report.get("config") or {}).get("expired_ignores", []))


def failures_of(report: dict[str, Any], config: configuration.Config) -> list[str]:
    """Why the gate trips, from the report's own findings and score."""
    findings = [Severity.parse(f["severity"]) for f in report.get("findings", [])]
    return failures(findings, int(report["scores"]["overall"]), config.fail_on, config.fail_under)
