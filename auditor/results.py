"""Per-image cache of what a scan derived from the layers: report sections and check results.

The layer cache (auditor/cache.py) saves reading layers again, but a warm scan would
still load every index, merge them and run every check: seconds on a big image. This
cache keeps, per image, what those steps produced, so re-scanning an unchanged image
reads no layer and runs no fs-bound check.

What makes a stored result valid, and so what the keys hold:
- the image: its config (canonical JSON; it lists the layers' diff_ids and the build
  history) and its layers' blob digests: a compressed blob's diff_id is the config's
  claim, not verified (auditor/layers.py `_verify`), so the results are tied to the
  bytes that were read, as the layer cache's entries are (auditor/cache.py). An image
  stored uncompressed (an engine export) and the same image gzip'd in a registry are
  kept apart;
- imgaudit itself: a digest of its own code and data files (a new version, or an edited
  check, starts afresh), the capture policy and the layer-index format;
- per check: its options from the config and the command line, `--strict`, and the
  base-image provenance; a check whose options are not plain JSON (a baseline image's
  filesystem, a parsed Packages index) is never cached;
- the date: dated checks (EOL and age) have two phases, and only what they gathered
  from the image is kept (they judge it against the date on every scan); a one-phase
  check that asked for the date is kept with that date and run again on another day.

Entries are written atomically (temp file + rename); an unreadable file is a miss.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from auditor.cache import write_entry
from auditor.capture import DEFAULT_POLICY
from auditor.findings import CheckResult, Finding
from auditor.indexformat import INDEX_FORMAT

RESULTS_FORMAT = 1
ENTRIES_PER_CHECK = 4  # results kept per check and image (different options, dates)
# whose code and data name the results: the checks are `auditor.checks`, a directory
# of their own in a source checkout (setuptools package-dir), inside `auditor` when installed
_PACKAGES = ("auditor", "auditor.checks")
_CODE_SUFFIXES = (".py", ".json")


@cache
def code_fingerprint() -> str:
    """A digest of imgaudit's own code and data: any change invalidates every result.

    Read with `os.scandir` and plain strings: every warm scan computes it, and with
    pathlib's `rglob`, `relative_to` and `is_relative_to` it took ~9 ms of a ~0.2 s
    scan; the bytes it digests and their order are the same."""
    roots: list[tuple[str, str]] = []
    for package in _PACKAGES:
        # found, not imported: a cold scan imports the checks while its layers are read
        spec = importlib.util.find_spec(package)
        places = (spec.submodule_search_locations if spec is not None else None) or ()
        roots += [(package, os.path.normpath(p)) for p in places]
    digest = hashlib.sha256()
    for package, root in roots:
        # installed, the checks are inside `auditor`: hash them once, as auditor.checks
        inner = {r for p, r in roots if p != package and r.startswith(root + os.sep)}
        # ordered as paths compare, component by component
        for rel in sorted(_code_files(root, "", inner), key=lambda r: r.split("/")):
            digest.update(f"{package}/{rel}\0".encode())
            with open(os.path.join(root, rel), "rb") as fh:
                digest.update(fh.read())
    return digest.hexdigest()


def _code_files(root: str, below: str, skip: set[str]) -> list[str]:
    """Paths (relative to `root`, "/"-separated) of the code and data files under
    `root`/`below`, outside `__pycache__` and the directories in `skip`."""
    found = []
    with os.scandir(os.path.join(root, below)) as entries:
        for entry in entries:
            rel = f"{below}/{entry.name}" if below else entry.name
            if entry.is_dir():
                if entry.name != "__pycache__" and entry.path not in skip:
                    found += _code_files(root, rel, skip)
            elif os.path.splitext(entry.name)[1] in _CODE_SUFFIXES:
                found.append(rel)
    return found


def canonical(value: Any) -> str:
    """JSON with sorted keys (dates as ISO text). Everything a key holds is plain data:
    check options are validated config values, and what is not (a baseline, a Packages
    index) is a typed fact named by its identity, so anything else is a bug (TypeError)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_date)


def _date(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not plain JSON")


def image_key(config: dict[str, Any], blobs: list[str], limits: tuple[int, int]) -> str:
    """The name of one image's results: its config and its layers' stored `blobs`
    (digests), and `limits`, the scan's ratio and entry limits, which decide whether
    reading the layers would fail."""
    named = {
        "config": config,
        "blobs": blobs,
        "code": code_fingerprint(),
        "capture": DEFAULT_POLICY.fingerprint,
        "index_format": INDEX_FORMAT,
        "limits": list(limits),
    }
    return hashlib.sha256(canonical(named).encode()).hexdigest()


class ImageResults:
    """One image's stored results; `save` writes them back when something was added."""

    def __init__(self, path: Path | None, data: dict[str, Any] | None = None) -> None:
        self.path = path
        self._data: dict[str, Any] = data if data is not None else {"sections": {}, "checks": {}}
        self._dirty = False
        self.context = ""  # canonical JSON of what every check's result depends on

    # ---- report sections (pure functions of the layers) ----------------------------

    def has_section(self, name: str) -> bool:
        """Whether the section is stored (a scan without it reads the layers for it)."""
        return name in self._data["sections"]

    def section(self, name: str, compute: Callable[[], Any]) -> Any:
        sections: dict[str, Any] = self._data["sections"]
        if name in sections:
            return sections[name]
        sections[name] = json.loads(canonical(compute()))
        self._dirty = True
        return sections[name]  # as it will read back: cold and warm scans report alike

    # ---- check results ---------------------------------------------------------------

    def check_key(
        self, check_id: str, options: dict[str, Any], inputs: dict[str, str | None] | None = None
    ) -> str:
        """`inputs`: identity of each given fact the check uses (None: not given)."""
        named: dict[str, Any] = {"check": check_id, "options": options}
        if inputs:
            named["inputs"] = inputs
        text = canonical(named) + self.context
        return hashlib.sha256(text.encode()).hexdigest()

    def recall(
        self, key: str, today: Callable[[], dt.date]
    ) -> tuple[CheckResult, list[Finding]] | None:
        entry = self._data["checks"].get(key)
        if not isinstance(entry, dict):
            return None
        if entry.get("today") is not None and entry["today"] != today().isoformat():
            return None
        try:
            result = CheckResult.from_json(entry["result"])
            findings = [Finding.from_json(f) for f in entry["findings"]]
        except (KeyError, TypeError, ValueError):
            return None
        return result, findings

    def remember(
        self,
        key: str,
        result: CheckResult,
        findings: list[Finding],
        today: dt.date | None,
    ) -> tuple[CheckResult, list[Finding]]:
        """`today`: the date the check compared against, if it asked for one. Returns
        the result as it will read back, so a cold and a warm scan report alike."""
        entry = json.loads(
            canonical(
                {
                    "check": result.check_id,
                    "today": today.isoformat() if today else None,
                    "result": result.to_json(),
                    "findings": [f.to_json() for f in findings],
                }
            )
        )
        self._put(key, entry)
        return CheckResult.from_json(entry["result"]), [
            Finding.from_json(f) for f in entry["findings"]
        ]

    def _put(self, key: str, entry: dict[str, Any]) -> None:
        """Store `entry`, keeping the newest ENTRIES_PER_CHECK of its kind."""
        checks: dict[str, Any] = self._data["checks"]
        checks.pop(key, None)
        same = [k for k, v in checks.items() if v.get("check") == entry["check"]]
        for old in same[: max(0, len(same) - ENTRIES_PER_CHECK + 1)]:
            del checks[old]
        checks[key] = entry
        self._dirty = True

    def recall_data(self, key: str) -> Any:
        """What a two-phase check gathered from the image (None: not stored)."""
        entry = self._data["checks"].get(key)
        return entry.get("gathered") if isinstance(entry, dict) else None

    def remember_data(self, key: str, check_id: str, gathered: Any) -> Any:
        """Store a two-phase check's gathered data; returns it as it will read back."""
        value = json.loads(canonical(gathered))
        if value is not None:
            self._put(key, {"check": f"{check_id}:gathered", "gathered": value})
        return value

    # ---- storage ---------------------------------------------------------------------

    def save(self) -> None:
        if not self._dirty or self.path is None:
            return
        data = json.dumps(self._data, separators=(",", ":")).encode()
        write_entry(self.path, gzip.compress(data, compresslevel=3, mtime=0))
        self._dirty = False


class ResultCache:
    def __init__(self, root: Path) -> None:
        self.dir = root / "results" / f"v{RESULTS_FORMAT}"

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json.gz"

    @staticmethod
    def open_path(path: Path) -> ImageResults:
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                data = json.load(fh)
            if isinstance(data.get("sections"), dict) and isinstance(data.get("checks"), dict):
                os.utime(path)  # used now: `imgaudit cache prune --older-than` keeps it
                return ImageResults(path, data)
        except (OSError, ValueError, AttributeError, EOFError):
            pass
        return ImageResults(path)


def no_results() -> ImageResults:
    """For scans without a cache: computes everything, keeps nothing."""
    return ImageResults(None)
