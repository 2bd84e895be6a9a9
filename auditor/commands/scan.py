"""`imgaudit scan IMAGE`: read an image and report on it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from auditor import baseline
from auditor import config as configuration
from auditor.checks import ALL_CHECKS
from auditor.checks import py004_version_family as version_family
from auditor.context import today_utc
from auditor.errors import InputError
from auditor.facts import Facts, packages_index
from auditor.facts import provenance as prov
from auditor.facts.baseline import Baseline
from auditor.facts.packages_index import PackagesIndex
from auditor.findings import Finding, Severity
from auditor.gating import failures
from auditor.loading import LoadedImage, LoadOptions, open_loaded
from auditor.report import output
from auditor.report.catalog import checks_section
from auditor.report.formats import OutputFormat
from auditor.report.model import build_report, content_sections
from auditor.results import (
    ImageResults,
    ResultCache,
    canonical,
    image_key,
    no_results,
)
from auditor.runner import run_checks
from auditor.scoring import score
from auditor.sources import SourceOptions
from auditor.sources.platform import Platform


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
    options = LoadOptions(
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
        return _execute_many(args, options, config, index)
    report = _scan_one(args, args.image[0], options, config, index)
    tripped = _gate(report, config, args.quiet)
    output.emit(report, args)  # its summary line stays the last line on stderr
    return 1 if tripped else 0


def _scan_one(
    args: argparse.Namespace,
    reference: str,
    options: LoadOptions,
    config: configuration.Config,
    index: PackagesIndex | None,
) -> dict[str, Any]:
    """One image: load, check with the baseline's and the config's options, record."""
    loaded = open_loaded(reference, options)  # layers are read only if a result needs them
    cli_options, found = baseline.check_options(args, loaded, options, report_for)
    check_options = dict(cli_options)
    for cid, opts in config.options.items():
        check_options[cid] = {**check_options.get(cid, {}), **opts}
    report = report_for(loaded, check_options, config, found, index)
    baseline.record(args, loaded, report)
    return report


def _gate(report: dict[str, Any], config: configuration.Config, quiet: bool) -> list[str]:
    """Say on stderr which ignores expired and why the gate trips; return the reasons."""
    for expired in config_expired(report):
        print(
            f"imgaudit: ignore for {expired['check']} expired on {expired['expires']}: "
            "it no longer applies",
            file=sys.stderr,
        )
    tripped = failures_of(report, config)
    if tripped and not quiet:
        print("imgaudit: failing: " + "; ".join(tripped), file=sys.stderr)
    return tripped


def report_for(
    loaded: LoadedImage,
    check_options: dict[str, dict[str, Any]] | None = None,
    config: configuration.Config | None = None,
    given_baseline: Baseline | None = None,
    index: PackagesIndex | None = None,
) -> dict[str, Any]:
    """facts -> checks -> scores -> report for one loaded image (also used by `diff` and
    baselines). `config` selects checks, overrides severities, applies ignores and names
    the base image (provenance); without it every check runs with defaults.

    What the image's result cache holds is taken from it; only what it lacks reads the
    layers (auditor/results.py)."""
    config = config or configuration.Config()
    facts = Facts(loaded, base=config.base, baseline=given_baseline, packages_index=index)
    provenance = facts.provenance  # a bad --base is an input error: raise it before checks
    provenance_json = provenance.to_json()
    stored = stored_results(loaded, {"strict": config.strict, "provenance": provenance_json})
    checks = [c for c in ALL_CHECKS if config.selected(c.info.id)]
    jobs = loaded.options.jobs
    outcome = run_checks(checks, facts, check_options, config.strict, stored, jobs)
    applied = configuration.apply(config, outcome.findings)
    findings = prov.mark(applied.findings, provenance)
    scores = score(findings, {c.info.id: c.info.dimension for c in ALL_CHECKS})
    content = stored.section("content", lambda: content_sections(loaded))
    facts_json = stored.section("facts", facts.content_json)
    stored.save()
    return build_report(
        loaded,
        content=content,
        facts={**facts_json, "provenance": provenance_json},
        results=[r.to_json() for r in outcome.results],
        findings=[f.to_json() for f in findings],
        checks=checks_section(ALL_CHECKS),
        scores=scores.to_json(),
        config=applied.to_json(config.source),
    )


def stored_results(loaded: LoadedImage, context: dict[str, Any]) -> ImageResults:
    """The image's entry in the result cache (an empty one when caching is off).
    `context`: what every check's result depends on besides the image and its options."""
    path = results_path(loaded)
    if path is None:
        return no_results()
    stored = ResultCache.open_path(path)
    stored.context = canonical(context)
    return stored


def results_path(loaded: LoadedImage) -> Path | None:
    """Where the image's results are kept (None: caching off, or an unnameable config).
    The fleet asks whether the file exists before it tries to report from it."""
    root = loaded.options.cache_root
    if root is None:
        return None
    limits = (loaded.options.max_ratio, loaded.options.max_entries)
    return ResultCache(root).path(image_key(loaded.image.config, limits))


# ---- several images: reports in order, then the version-family comparison (PY004) ----


def _execute_many(
    args: argparse.Namespace,
    options: LoadOptions,
    config: configuration.Config,
    index: Any,
) -> int:
    """Each image as a single scan would report it (JSON: one document holding all the
    reports), then the side-by-side family table and the PY004 findings."""
    if args.output:
        raise InputError("-o/--output takes one image; scan several images without it")
    as_json = args.format == OutputFormat.JSON
    reports = []
    tripped = False
    for reference in args.image:
        report = _scan_one(args, reference, options, config, index)
        tripped = bool(_gate(report, config, args.quiet)) or tripped
        if not as_json:
            output.emit(report, args)
            sys.stdout.write("\n")
        reports.append(report)
    members = [version_family.Member.from_report(r, ref) for r, ref in zip(reports, args.image)]
    rows, findings = version_family.families(members, today_utc())
    if as_json:
        family = {
            "rows": [row.to_json() for row in rows],
            "findings": [f.to_json() for f in findings],
        }
        doc = {"reports": reports, "version_family": family}
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(_family_table(rows, findings))
    return 1 if tripped else 0


def _family_table(rows: list[version_family.Row], findings: list[Finding]) -> str:
    """Side by side: one column per image, grouped by repository."""
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


def config_expired(report: dict[str, Any]) -> list[dict[str, Any]]:
    return list((report.get("config") or {}).get("expired_ignores", []))


def failures_of(report: dict[str, Any], config: configuration.Config) -> list[str]:
    """Why the gate trips, from the report's own findings and score."""
    findings = [Severity.parse(f["severity"]) for f in report.get("findings", [])]
    return failures(findings, int(report["scores"]["overall"]), config.fail_on, config.fail_under)
