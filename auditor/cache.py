"""On-disk cache of layer indexes, keyed by diff_id.

A layer's diff_id names its uncompressed content, so an index computed once is valid
for every image that shares the layer, whichever transport delivered it. The key also
carries the index format and the capture-policy fingerprint, so a newer imgaudit that
captures more never reads a stale index. Writes are atomic (temp file + rename), so
parallel scans sharing a cache never see half a file; an unreadable entry is a miss.

Entries are in the compact binary form of auditor/indexcodec.py (checksummed; a
truncated or damaged file fails to decode and is a miss, never a crash). Loading the
six indexes of a 100k-entry image costs ~0.05 s of CPU instead of ~0.3 s as gzip'd JSON.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.indexformat import INDEX_FORMAT

if TYPE_CHECKING:
    from auditor.capture import CapturePolicy
    from auditor.layerindex import LayerIndex

SUFFIX = ".index"
TEMP_PREFIX = ".tmp-"  # a writer's temporary file; one left behind was interrupted


def default_cache_dir() -> Path:
    env = os.environ.get("IMGAUDIT_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "imgaudit"


class LayerCache:
    def __init__(self, root: Path, policy: CapturePolicy) -> None:
        self.dir = root / "layers" / f"v{INDEX_FORMAT}-{policy.fingerprint}"
        self.hits = 0
        self.misses = 0

    def _path(self, diff_id: str) -> Path:
        algo, _, hexpart = diff_id.partition(":")
        if not algo.isalnum() or not hexpart.isalnum():
            raise ValueError(f"bad diff_id {diff_id!r}")
        return self.dir / f"{algo}-{hexpart}{SUFFIX}"

    def get(self, diff_id: str) -> LayerIndex | None:
        # deferred: start-up time, see README "Performance" (the codec imports zstandard
        # and the ELF facts; a scan answered from the result cache decodes no index)
        from auditor import indexcodec

        try:
            index = indexcodec.decode(self._path(diff_id).read_bytes())
        except (OSError, ValueError):
            self.misses += 1
            return None
        if index.diff_id != diff_id:
            self.misses += 1
            return None
        self.hits += 1
        with contextlib.suppress(OSError):
            os.utime(self._path(diff_id))  # used now: `imgaudit cache prune` keeps it
        return index

    def put(self, index: LayerIndex) -> None:
        from auditor import indexcodec  # deferred: see `get`

        try:
            data = indexcodec.encode(index)
        except (OverflowError, ValueError):
            return  # values the encoding cannot hold: the layer is simply read again
        self.put_encoded(index.diff_id, data)

    def put_encoded(self, diff_id: str, data: bytes) -> None:
        """Store an index already encoded by `indexcodec.encode` (worker processes do)."""
        try:
            path = self._path(diff_id)
        except ValueError:
            return
        write_entry(path, data)


def write_entry(path: Path, data: bytes) -> None:
    """Write one cache entry (layer index or image results) atomically: a temporary file
    in the same directory, then a rename, so parallel scans never read half an entry.
    A cache that cannot be written only costs speed: errors are swallowed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
