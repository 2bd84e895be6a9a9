"""Command-line flags that several subcommands share, defined once, and the `Settings`
they make (auditor/pipeline.py).

Every subcommand that opens images (`scan`, `diff`, `fleet`) offers the same image
flags (transport, pull, platform, insecure registry, cache, limits) and the same
check flags (config, enable/disable, strict, base, packages index), and turns them
into Settings the same way: the same image under the same `[tool.imgaudit]` config
gives the same findings whichever of them reports it.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditor import baseline, history_store
from auditor.config import ConfigError
from auditor.findings import Severity
from auditor.loading import LoadOptions
from auditor.pipeline import Settings
from auditor.sources import SourceOptions
from auditor.sources.platform import Platform

CACHE_ENV = "IMGAUDIT_CACHE_DIR"


# ---- opening images ---------------------------------------------------------------------


def add_image_arguments(p: argparse.ArgumentParser, *, jobs: bool = True) -> None:
    """`jobs`: offer --jobs (the fleet's tasks read one layer each: the cluster is its
    parallelism)."""
    g = p.add_argument_group("reading images")
    g.add_argument("--platform", help="os/arch[/variant] to pick from a multi-arch index")
    g.add_argument(
        "--pull",
        choices=("always", "missing", "never"),
        default="missing",
        help="when the docker engine pulls the image (default: missing)",
    )
    g.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="allow plain HTTP to this registry (repeatable; loopback is always allowed)",
    )
    g.add_argument(
        "--cache-dir",
        metavar="DIR",
        help=f"layer and result cache (default ${CACHE_ENV}, else $XDG_CACHE_HOME/imgaudit)",
    )
    g.add_argument("--no-cache", action="store_true", help="read every layer, ignore the cache")
    if jobs:
        g.add_argument(
            "--jobs",
            "-j",
            type=int,
            default=0,
            help="worker processes for layer reads (default: one per core)",
        )
    g.add_argument(
        "--max-ratio",
        type=int,
        default=None,
        help="decompression ratio limit per layer (default 1000)",
    )
    g.add_argument(
        "--max-entries",
        type=int,
        default=None,
        help="tar entries per image, all layers together (default 2000000: a tar-bomb guard)",
    )
    g.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def load_options(args: argparse.Namespace) -> LoadOptions:
    cache_dir = args.cache_dir or os.environ.get(CACHE_ENV)
    limits: dict[str, Any] = {}
    if args.max_ratio:
        limits["max_ratio"] = args.max_ratio
    if args.max_entries:
        limits["max_entries"] = args.max_entries
    return LoadOptions(
        source=SourceOptions(
            platform=Platform.parse(args.platform) if args.platform else None,
            pull=args.pull,
            insecure_registries=tuple(args.insecure_registry),
            quiet=args.quiet,
        ),
        cache_dir=Path(cache_dir) if cache_dir else None,
        use_cache=not args.no_cache,
        jobs=getattr(args, "jobs", 1),
        **limits,
    )


# ---- which checks, how strict -----------------------------------------------------------


def add_check_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("checks")
    g.add_argument("--config", metavar="PATH", help="config file (default: found upward)")
    g.add_argument("--enable", action="append", metavar="ID", help="run only these checks")
    g.add_argument("--disable", action="append", metavar="ID", help="do not run this check")
    g.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="also flag what a stock distribution ships (e.g. its setuid binaries), and "
        "fail on the base image's findings too",
    )
    g.add_argument(
        "--base",
        metavar="REF",
        help="the base image: its layers are the base's (default: the base labels, else "
        "inferred from the build history)",
    )
    g.add_argument(
        "--packages-index", metavar="FILE", help="Debian Packages index to compare (OS006)"
    )


def add_dockerfile_argument(p: argparse.ArgumentParser) -> None:
    """`scan` only: one Dockerfile names the lines of the image built from it (`diff`
    and `fleet` ignore the config's `dockerfile` too)."""
    p.add_argument(
        "--dockerfile",
        metavar="PATH",
        help="the Dockerfile the image was built from: findings name the line of their "
        "layer (default: the config's `dockerfile`)",
    )


def add_gating_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scoring and gating")
    g.add_argument(
        "--fail-on",
        choices=["info", "warning", "error"],
        default=None,
        help="exit 1 when a finding of your own layers has this severity or worse "
        "(default: error; --strict counts the base image's too)",
    )
    g.add_argument(
        "--fail-under", type=float, default=None, metavar="SCORE", help="exit 1 below this score"
    )


def add_baseline_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("baseline and history")
    g.add_argument(
        "--baseline",
        metavar="REPORT_OR_IMAGE",
        help="JSON report of an earlier scan, or an image, to compare sizes with (SZ005)",
    )
    g.add_argument(
        "--size-regression-percent",
        type=float,
        default=None,
        help="SZ005 fails when the image grew by more than this percentage (default 10)",
    )
    g.add_argument(
        "--size-regression-bytes",
        type=int,
        default=None,
        help="... or by more than this many bytes (default 50000000)",
    )
    g.add_argument(
        "--record",
        action="store_true",
        help="record this scan in the history store (always, when --db/IMGAUDIT_DB is set)",
    )
    g.add_argument(
        "--db",
        metavar="URL",
        help="history store: sqlite:///PATH or postgresql://user:pass@host:port/db "
        f"(default ${history_store.ENV_VAR}, else SQLite in $XDG_DATA_HOME/imgaudit)",
    )
    g.add_argument(
        "--repository",
        help="repository name to record/compare under (default: from the image reference)",
    )


def store_url(args: argparse.Namespace) -> str | None:
    """The history store to use, or None when none is configured and --record not given."""
    url = history_store.configured_url(getattr(args, "db", None))
    if url is None and getattr(args, "record", False):
        url = history_store.default_url()
    return url


# ---- the settings -----------------------------------------------------------------------


def settings(args: argparse.Namespace) -> Settings:
    """Settings from whichever of the flag groups above the command offers."""
    fail_under = getattr(args, "fail_under", None)
    if fail_under is not None and not 0 <= fail_under <= 100:
        raise ConfigError("--fail-under: expected a score between 0 and 100")
    fail_on = getattr(args, "fail_on", None)
    cli = {
        "fail_on": Severity.parse(fail_on) if fail_on else None,
        "fail_under": fail_under,
        "strict": args.strict,
        "base": args.base,
        "packages_index": args.packages_index,
        "dockerfile": getattr(args, "dockerfile", None),
        "enable": args.enable,
        "disable": args.disable,
    }
    fields: dict[str, Any] = {"loading": load_options(args)}
    if hasattr(args, "baseline"):
        sz005: dict[str, Any] = {}
        if args.size_regression_percent is not None:
            sz005["percent"] = args.size_regression_percent
        if args.size_regression_bytes is not None:
            sz005["bytes"] = args.size_regression_bytes
        fields["check_options"] = {"SZ005": sz005} if sz005 else {}
        url = store_url(args)
        if args.baseline:
            fields["baseline"] = baseline.from_argument(args.baseline)
        elif url is not None:
            fields["baseline"] = baseline.LastRecorded(url, args.repository)
    settings = Settings.from_config(args.config, cli, **fields)
    if not hasattr(args, "dockerfile") and settings.config.dockerfile:
        settings = replace(settings, config=replace(settings.config, dockerfile=None))
    return settings
