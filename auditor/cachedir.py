"""What the cache directory holds, and removing what no longer pays its way.

Two caches share the directory (README "Cache"): `layers/` (layer indexes by blob digest)
and `results/` (per-image results). Each lives in a subdirectory named by its format;
a newer imgaudit writes a new one, so directories of other formats are dead weight.
Entries are touched when used, so "not used for N days" is their modification time.

Only regular files under those two subdirectories are ever removed; links are not
followed, and nothing else in the directory is looked at.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from auditor.cache import TEMP_PREFIX, LayerCache
from auditor.capture import DEFAULT_POLICY
from auditor.results import ResultCache

AREAS = ("layers", "results")
TEMP_GRACE = 3600.0  # seconds a temporary file may live (a writer may still be busy)


@dataclass
class Usage:
    area: str  # layers | results
    directory: str  # the format directory, relative to the cache root
    current: bool  # the format this imgaudit reads
    files: int = 0
    bytes: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "area": self.area,
            "directory": self.directory,
            "current": self.current,
            "files": self.files,
            "bytes": self.bytes,
        }


def current_dirs(root: Path) -> set[Path]:
    return {LayerCache(root, DEFAULT_POLICY).dir, ResultCache(root).dir}


def _files(directory: Path) -> list[tuple[Path, os.stat_result]]:
    out = []
    for base, dirs, names in os.walk(directory, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(base, d))]
        for name in names:
            path = Path(base, name)
            st = path.lstat()
            if stat.S_ISREG(st.st_mode):  # lstat: a link is never a regular file
                out.append((path, st))
    return out


def _format_dirs(root: Path) -> list[tuple[str, Path]]:
    out = []
    for area in AREAS:
        top = root / area
        if top.is_dir() and not top.is_symlink():
            out += [(area, d) for d in sorted(top.iterdir()) if d.is_dir() and not d.is_symlink()]
    return out


def usage(root: Path) -> list[Usage]:
    current = current_dirs(root)
    out = []
    for area, directory in _format_dirs(root):
        u = Usage(area, str(directory.relative_to(root)), directory in current)
        for _, st in _files(directory):
            u.files += 1
            u.bytes += st.st_size
        out.append(u)
    return out


@dataclass
class Removed:
    files: int = 0
    bytes: int = 0


def prune(root: Path, older_than_days: float | None, now: float | None = None) -> Removed:
    """Remove other formats' directories, interrupted writers' temporary files, and (with
    `older_than_days`) entries not used for that long."""
    now = time.time() if now is None else now
    current = current_dirs(root)
    removed = Removed()
    for _, directory in _format_dirs(root):
        for path, st in _files(directory):
            stale = directory not in current
            if path.name.startswith(TEMP_PREFIX):
                stale = stale or now - st.st_mtime > TEMP_GRACE
            elif older_than_days is not None:
                stale = stale or now - st.st_mtime > older_than_days * 86400
            if stale:
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue  # another prune or scan got there first
                removed.files += 1
                removed.bytes += st.st_size
        if directory not in current:
            shutil.rmtree(directory, ignore_errors=True)
    return removed


def clear(root: Path) -> Removed:
    """Remove both caches entirely."""
    removed = Removed()
    for u in usage(root):
        removed.files += u.files
        removed.bytes += u.bytes
    for area in AREAS:
        top = root / area
        if top.is_symlink():
            top.unlink()
        elif top.is_dir():
            shutil.rmtree(top)
    return removed
