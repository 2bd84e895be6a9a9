"""`scan` options for baselines and the history store: what SZ005 compares against,
and recording each scan.

Kept out of commands/scan.py so that the scan command only calls three functions:
`add_arguments`, `check_options` (before checks run) and `record` (after the report
is built). The baseline is a JSON report, an image (scanned the same way), or the last
recorded scan of the same repository; it reaches SZ005 through the check's options,
so the runner and the context needed no change.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditor import history_store
from auditor.errors import CorruptInput, InputError
from auditor.facts.baseline import Baseline
from auditor.loading import LoadedImage, LoadOptions, load_image
from auditor.references import split_reference
from auditor.units import short_digest

ReportFor = Callable[[LoadedImage], dict[str, Any]]


def add_arguments(p: argparse.ArgumentParser) -> None:
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
    """The store to use, or None when the user configured none and did not ask to record."""
    url = history_store.configured_url(getattr(args, "db", None))
    if url is None and getattr(args, "record", False):
        url = history_store.default_url()
    return url


def repository_of(args: argparse.Namespace, loaded: LoadedImage) -> tuple[str, str]:
    if getattr(args, "repository", None):
        return str(args.repository), ""
    return split_reference(loaded.image.reference or loaded.image.source.reference)


def read_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read report {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CorruptInput(f"{path} is not a JSON report: {exc}") from None
    if not isinstance(data, dict) or "schema_version" not in data or "image" not in data:
        raise CorruptInput(f"{path} is not an imgaudit JSON report (no schema_version/image)")
    if data["schema_version"] != 1:
        raise InputError(f"{path}: report schema_version {data['schema_version']} unsupported")
    return data


def looks_like_report(argument: str) -> bool:
    """A path to a JSON file: by suffix, or by content starting with `{`."""
    path = Path(argument)
    if not path.is_file():
        return False
    if path.suffix.lower() == ".json":
        return True
    try:
        with path.open("rb") as fh:
            return fh.read(64).lstrip()[:1] == b"{"
    except OSError:
        return False


def check_options(
    args: argparse.Namespace,
    loaded: LoadedImage,
    scan_options: LoadOptions,
    report_for: ReportFor,
) -> tuple[dict[str, dict[str, Any]], Baseline | None]:
    """SZ005's thresholds from the command line, and the baseline (if any)."""
    sz005: dict[str, Any] = {}
    if args.size_regression_percent is not None:
        sz005["percent"] = args.size_regression_percent
    if args.size_regression_bytes is not None:
        sz005["bytes"] = args.size_regression_bytes
    found: Baseline | None = None
    if args.baseline:
        if looks_like_report(args.baseline):
            found = Baseline(read_report(Path(args.baseline)), args.baseline)
        else:
            base = load_image(args.baseline, scan_options)
            label = base.image.reference or args.baseline
            found = Baseline(report_for(base), label, base.fs)
    else:
        url = store_url(args)
        if url is not None:
            repository, _ = repository_of(args, loaded)
            with history_store.open_store(url) as store:
                last = store.last(repository)
            if last is not None:
                record, report = last
                tag = f":{record.tag}" if record.tag else ""
                label = (
                    f"the last recorded scan of {record.repository}{tag} "
                    f"({short_digest(record.digest)})"
                )
                found = Baseline(report, label)
    return {"SZ005": sz005}, found


def record(args: argparse.Namespace, loaded: LoadedImage, report: dict[str, Any]) -> None:
    """Store the report when a store is configured or --record was given."""
    url = store_url(args)
    if url is None:
        return
    repository, tag = repository_of(args, loaded)
    if not repository:
        raise InputError("cannot tell the repository of this image: pass --repository NAME")
    with history_store.open_store(url) as store:
        store.record(report, repository, tag)
    if not getattr(args, "quiet", False):
        print(f"imgaudit: recorded scan of {repository} in the history store", file=sys.stderr)
