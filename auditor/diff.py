"""What changed between two scans of an image: sizes, paths, packages, findings, score.

Pure functions over two JSON reports (the design.md contract) and, when both images
were loaded, their two `FileSystem`s. A JSON report does not list every file, so the
path-level and reproducibility parts exist only when both filesystems are at hand;
the result says which basis it used (`basis`: "filesystem" or "report") so nobody
mistakes a partial picture for a full one.

`unreproducible_differences(old_fs, new_fs)` is public on purpose: BL003 (two builds
of the same source should not differ) calls it directly.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

from auditor.fs import FileSystem
from auditor.sizes import TOP_DIRECTORIES, directory_sizes

DIFF_SCHEMA_VERSION = 1
MAX_PATHS = 500  # path rows kept in a diff; totals always cover everything

# Paths whose content is expected to change between two builds of the same source and
# carries nothing the application needs: logs and caches left behind by package managers.
LOG_GLOBS = ("var/log/*", "*.log", "var/lib/dpkg/status-old", "var/cache/debconf/*-old")
CACHE_GLOBS = (
    "var/cache/*",
    "var/lib/apt/lists/*",
    "*/.cache/*",
    ".cache/*",
    "tmp/*",
    "var/tmp/*",
    "root/.wget-hsts",
    "root/.python_history",
    "etc/ld.so.cache",
)


# ---- sizes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One thing (path, directory, package) that differs; `old`/`new` are byte counts."""

    name: str
    old: int | None  # None: absent in the old image
    new: int | None  # None: absent in the new image
    old_version: str | None = None
    new_version: str | None = None
    estimated: bool = False  # one side was outside a report's top list: a bound, not exact

    @property
    def delta(self) -> int:
        return (self.new or 0) - (self.old or 0)

    @property
    def change(self) -> str:
        if self.old is None:
            return "appeared"
        if self.new is None:
            return "vanished"
        if self.delta > 0:
            return "grew"
        if self.delta < 0:
            return "shrank"
        return "changed"  # same size, other version (packages)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "change": self.change,
            "old": self.old,
            "new": self.new,
            "delta": self.delta,
        }
        if self.estimated:
            out["estimated"] = True
        if self.old_version is not None or self.new_version is not None:
            out["old_version"] = self.old_version
            out["new_version"] = self.new_version
        return out


def compare_sizes(
    old: dict[str, int],
    new: dict[str, int],
    old_versions: dict[str, str] | None = None,
    new_versions: dict[str, str] | None = None,
) -> list[Change]:
    """Everything whose size (or version) differs, largest absolute change first."""
    old_versions = old_versions or {}
    new_versions = new_versions or {}
    out = []
    for name in old.keys() | new.keys():
        a, b = old.get(name), new.get(name)
        va, vb = old_versions.get(name), new_versions.get(name)
        if a == b and va == vb:
            continue
        out.append(Change(name, a, b, va, vb))
    out.sort(key=lambda c: (-abs(c.delta), c.name))
    return out


def compare_top_lists(old: dict[str, int], new: dict[str, int], list_length: int) -> list[Change]:
    """Compare two "largest N" lists (the reports' `sizes.directories`).

    A name missing from a full list is not absent, only smaller than that list's
    smallest entry: that bound stands in for its size and the change is marked
    `estimated`. A list shorter than `list_length` is complete, so missing means 0.
    """

    def floor(sizes: dict[str, int]) -> int | None:
        return min(sizes.values()) if len(sizes) >= list_length and sizes else None

    old_floor, new_floor = floor(old), floor(new)
    out = []
    for name in old.keys() | new.keys():
        a, b = old.get(name), new.get(name)
        if a is not None and b is not None:
            if a != b:
                out.append(Change(name, a, b))
            continue
        if a is None and old_floor is not None:
            out.append(Change(name, old_floor, b, estimated=True))
        elif b is None and new_floor is not None:
            out.append(Change(name, a, new_floor, estimated=True))
        else:
            out.append(Change(name, a, b))
    out.sort(key=lambda c: (-abs(c.delta), c.name))
    return [c for c in out if c.delta or not c.estimated]


def file_sizes(fs: FileSystem) -> dict[str, int]:
    """Every non-directory path of the final view with its size (links count 0 bytes)."""
    return {"/" + path: node.entry.size for path, node in fs.walk_files()}


def report_directories(report: Mapping[str, Any]) -> dict[str, int]:
    dirs = (report.get("sizes") or {}).get("directories") or []
    return {d["path"]: int(d["bytes"]) for d in dirs if "path" in d and "bytes" in d}


def report_packages(report: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, str]]:
    """Distributions keyed by `name (location)`: one name can live in several venvs."""
    sizes: dict[str, int] = {}
    versions: dict[str, str] = {}
    for pkg in (report.get("facts") or {}).get("packages") or []:
        name = pkg.get("name")
        if not name:
            continue
        key: str = canonicalize_name(name)
        if pkg.get("location"):
            key = f"{key} ({pkg['location']})"
        sizes[key] = int(pkg.get("size") or 0)
        if pkg.get("version") is not None:
            versions[key] = str(pkg["version"])
    return sizes, versions


def image_size(report: Mapping[str, Any]) -> int:
    image = report.get("image") or {}
    return int(image.get("size") or 0)


# ---- layers ---------------------------------------------------------------------------


def compare_layers(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Layers matched by diff_id: shared layers are the cache the rebuild kept."""
    old_layers = (old.get("image") or {}).get("layers") or []
    new_layers = (new.get("image") or {}).get("layers") or []
    old_by_id = {ly.get("diff_id"): ly for ly in old_layers}
    new_ids = {ly.get("diff_id") for ly in new_layers}
    rows = []
    for ly in new_layers:
        before = old_by_id.get(ly.get("diff_id"))
        rows.append(
            {
                "status": "same" if before is not None else "added",
                "old_index": before.get("index") if before else None,
                "new_index": ly.get("index"),
                "diff_id": ly.get("diff_id"),
                "old_size": before.get("size") if before else None,
                "new_size": ly.get("size"),
                "created_by": ly.get("created_by"),
            }
        )
    for ly in old_layers:
        if ly.get("diff_id") not in new_ids:
            rows.append(
                {
                    "status": "removed",
                    "old_index": ly.get("index"),
                    "new_index": None,
                    "diff_id": ly.get("diff_id"),
                    "old_size": ly.get("size"),
                    "new_size": None,
                    "created_by": ly.get("created_by"),
                }
            )
    return rows


# ---- findings and scores --------------------------------------------------------------


def _finding_key(f: dict[str, Any]) -> tuple[str, str]:
    # The path identifies a finding; messages may carry sizes that drift between builds.
    return (str(f.get("check_id")), str(f.get("path") or f.get("message") or ""))


def compare_findings(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    before = {_finding_key(f): f for f in old.get("findings") or []}
    after = {_finding_key(f): f for f in new.get("findings") or []}
    return {
        "new": [after[k] for k in sorted(after.keys() - before.keys())],
        "fixed": [before[k] for k in sorted(before.keys() - after.keys())],
    }


def compare_scores(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    a, b = old.get("scores"), new.get("scores")
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None
    out: dict[str, Any] = {"old": a, "new": b}
    deltas = {}
    for key in ("overall", "secure", "small", "fast", "usable"):
        if isinstance(a.get(key), (int, float)) and isinstance(b.get(key), (int, float)):
            deltas[key] = round(b[key] - a[key], 2)
    out["delta"] = deltas
    return out


# ---- reproducibility ------------------------------------------------------------------


@dataclass(frozen=True)
class Unreproducible:
    """A difference between two builds of the same source that carries no intent."""

    path: str  # absolute image path
    category: str  # mtime | pyc | log | cache | metadata
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "category": self.category, "detail": self.detail}


def _matches(path: str, globs: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, g) for g in globs)


def _category(path: str) -> str | None:
    if path.endswith(".pyc"):
        return "pyc"
    if _matches(path, LOG_GLOBS):
        return "log"
    if _matches(path, CACHE_GLOBS):
        return "cache"
    return None


def unreproducible_differences(old_fs: FileSystem, new_fs: FileSystem) -> list[Unreproducible]:
    """What differs between two builds of the same source that should not.

    - `mtime`: same path, kind, size, mode and owner, only the modification time moved
      (build time leaked into the layer: SOURCE_DATE_EPOCH / --rewrite-timestamp fix it);
    - `pyc`: compiled files that differ at all (timestamp-based pycs embed the source
      mtime; `--invalidation-mode checked-hash` makes them stable);
    - `log`, `cache`: package-manager logs and caches that appeared, vanished or changed;
    - `metadata`: the image config's `created` time.

    Only tar metadata is compared (layers are indexed without content hashes), so two
    files of equal size and mtime but different bytes are not seen here; the layer
    diff_ids in the diff's `layers` part still show that such a layer differs.

    Content changes of other files are intended changes and are not listed. Sorted by
    path, so two runs agree byte for byte.
    """
    out: list[Unreproducible] = []
    for path, a, b in _paired_entries(old_fs, new_fs):
        category = _category(path)
        if a is None or b is None:
            if category in ("log", "cache", "pyc"):
                where = "only in the new build" if a is None else "only in the old build"
                out.append(Unreproducible("/" + path, category, where))
            continue
        same_meta = (a.kind, a.size, a.mode, a.uid, a.gid, a.link) == (
            b.kind,
            b.size,
            b.mode,
            b.uid,
            b.gid,
            b.link,
        )
        if category in ("log", "cache") and (not same_meta or a.mtime != b.mtime):
            out.append(Unreproducible("/" + path, category, _describe(a, b)))
        elif category == "pyc" and (not same_meta or a.mtime != b.mtime):
            out.append(Unreproducible("/" + path, "pyc", _describe(a, b)))
        elif same_meta and a.mtime != b.mtime:
            out.append(Unreproducible("/" + path, "mtime", f"mtime {a.mtime} -> {b.mtime}"))
    return out


def _describe(a: Any, b: Any) -> str:
    parts = []
    if a.size != b.size:
        parts.append(f"size {a.size} -> {b.size}")
    if a.mtime != b.mtime:
        parts.append(f"mtime {a.mtime} -> {b.mtime}")
    if (a.mode, a.uid, a.gid) != (b.mode, b.uid, b.gid):
        parts.append("mode/owner changed")
    return ", ".join(parts) or "changed"


def _paired_entries(old_fs: FileSystem, new_fs: FileSystem) -> Iterator[tuple[str, Any, Any]]:
    """Every path either build wrote (directories too: their mtimes leak as well);
    directories no layer listed (implied by their children) carry no metadata."""
    old = {p: n.entry for p, n in old_fs.nodes.items() if not n.implicit}
    new = {p: n.entry for p, n in new_fs.nodes.items() if not n.implicit}
    for path in sorted(old.keys() | new.keys()):
        yield path, old.get(path), new.get(path)


def reproducibility_summary(items: list[Unreproducible]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.category] = counts.get(item.category, 0) + 1
    return {
        "count": len(items),
        "by_category": dict(sorted(counts.items())),
        "differences": [i.to_json() for i in items[:MAX_PATHS]],
    }


# ---- the whole diff -------------------------------------------------------------------


def _changes_json(changes: list[Change]) -> dict[str, Any]:
    return {
        "count": len(changes),
        "grew": sum(c.delta for c in changes if c.delta > 0),
        "shrank": sum(-c.delta for c in changes if c.delta < 0),
        "items": [c.to_json() for c in changes[:MAX_PATHS]],
    }


def diff(
    old: dict[str, Any],
    new: dict[str, Any],
    old_fs: FileSystem | None = None,
    new_fs: FileSystem | None = None,
) -> dict[str, Any]:
    """The diff document: every output format renders this one dict."""
    full = old_fs is not None and new_fs is not None
    old_size, new_size = image_size(old), image_size(new)
    if old_fs is not None and new_fs is not None:
        directories = compare_sizes(directory_sizes(old_fs), directory_sizes(new_fs))
    else:
        directories = compare_top_lists(
            report_directories(old), report_directories(new), TOP_DIRECTORIES
        )
    old_pk, old_pv = report_packages(old)
    new_pk, new_pv = report_packages(new)
    out: dict[str, Any] = {
        "diff_schema_version": DIFF_SCHEMA_VERSION,
        "basis": "filesystem" if full else "report",
        "basis_note": (
            "every file of both images"
            if full
            else "JSON reports: no per-file data; directories are the reports' largest "
            "only, packages from facts.packages"
        ),
        "old": _identity(old),
        "new": _identity(new),
        "size": {
            "old": old_size,
            "new": new_size,
            "delta": new_size - old_size,
            "percent": round(100.0 * (new_size - old_size) / old_size, 2) if old_size else None,
        },
        "layers": compare_layers(old, new),
        "directories": _changes_json(directories),
        "packages": {
            **_changes_json(compare_sizes(old_pk, new_pk, old_pv, new_pv)),
            "available": bool(
                (old.get("facts") or {}).get("packages") is not None
                and (new.get("facts") or {}).get("packages") is not None
            ),
        },
        "waste": _waste(old, new),
        "findings": compare_findings(old, new),
        "scores": compare_scores(old, new),
    }
    if old_fs is not None and new_fs is not None:
        out["paths"] = _changes_json(compare_sizes(file_sizes(old_fs), file_sizes(new_fs)))
        items = unreproducible_differences(old_fs, new_fs)
        old_created = (old.get("image") or {}).get("created")
        new_created = (new.get("image") or {}).get("created")
        if old_created != new_created:
            detail = f"config created {old_created} -> {new_created}"
            items.insert(0, Unreproducible("(image config)", "metadata", detail))
        out["reproducibility"] = reproducibility_summary(items)
    return out


def _waste(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    a = (old.get("waste") or {}).get("wasted_bytes")
    b = (new.get("waste") or {}).get("wasted_bytes")
    if a is None or b is None:
        return None
    return {"old": a, "new": b, "delta": b - a}


def _identity(report: dict[str, Any]) -> dict[str, Any]:
    image = report.get("image") or {}
    source = report.get("source") or {}
    return {
        "reference": image.get("reference") or source.get("reference") or "",
        "digest": image.get("digest"),
    }


# ---- size regression (SZ005) ----------------------------------------------------------


@dataclass(frozen=True)
class Regression:
    old: int
    new: int
    percent_limit: float
    bytes_limit: int

    @property
    def delta(self) -> int:
        return self.new - self.old

    @property
    def percent(self) -> float | None:
        return 100.0 * self.delta / self.old if self.old else None

    @property
    def exceeded(self) -> list[str]:
        """The limits the growth broke (either one fails the check)."""
        broke = []
        if self.delta > 0 and self.percent is not None and self.percent > self.percent_limit:
            broke.append(f"more than {self.percent_limit:g}%")
        if self.delta > self.bytes_limit:
            broke.append(f"more than {self.bytes_limit} bytes")
        return broke
