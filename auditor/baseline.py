"""Where a scan's baseline comes from (SZ005 compares sizes with it), and recording scans.

A baseline is an earlier scan of the same image: a JSON report file, an image scanned
the same way now (`BaselineImage`: auditor/pipeline.py scans it with the same settings),
or the last scan of the same repository recorded in the history store
(`LastRecorded`). Whichever it is, the check sees one typed fact
(auditor/facts/baseline.py `Baseline`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import CorruptInput, InputError
from auditor.facts.baseline import Baseline
from auditor.references import split_reference
from auditor.units import short_digest


@dataclass(frozen=True)
class BaselineImage:
    """An image to scan now, with the same settings, as the baseline."""

    reference: str


@dataclass(frozen=True)
class LastRecorded:
    """The last scan of the image's repository in the history store at `store_url`
    (`repository`: that name instead of the one the image's reference gives)."""

    store_url: str
    repository: str | None = None


BaselineSource = Baseline | BaselineImage | LastRecorded


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


def from_argument(argument: str) -> Baseline | BaselineImage:
    """`--baseline REPORT_OR_IMAGE`: a JSON report file, else an image reference."""
    if looks_like_report(argument):
        return Baseline(read_report(Path(argument)), argument)
    return BaselineImage(argument)


def repository_of(reference: str, override: str | None = None) -> tuple[str, str]:
    """(repository, tag) a scan is recorded and compared under."""
    if override:
        return override, ""
    return split_reference(reference)


def last_recorded(store_url: str, repository: str) -> Baseline | None:
    """The latest recorded scan of `repository`, or None (none yet, or no store file)."""
    # deferred: start-up time, see README "Performance" (sqlite3: only --baseline last
    # and recording use the history store)
    from auditor import history_store

    if not history_store.exists(store_url):  # looking must not create a database
        return None
    with history_store.open_store(store_url) as store:
        last = store.last(repository)
    if last is None:
        return None
    record, report = last
    tag = f":{record.tag}" if record.tag else ""
    label = f"the last recorded scan of {record.repository}{tag} ({short_digest(record.digest)})"
    return Baseline(report, label)


def record(store_url: str, report: dict[str, Any], repository: str, tag: str) -> None:
    """Store a scan's JSON report in the history store."""
    from auditor import history_store  # deferred: see `last_recorded`

    if not repository:
        raise InputError("cannot tell the repository of this image: pass --repository NAME")
    with history_store.open_store(store_url) as store:
        store.record(report, repository, tag)
