"""On-disk cache of layer indexes, filed under the digest of the blob each was read from.

A layer read once is not read again by any later scan that names the same stored blob,
whichever image it is part of. The blob's digest is what the read verified (every byte
hashed and compared: auditor/layers.py `_verify`); a compressed blob's diff_id is the
image config's claim, which imgaudit does not hash, so it is not a key a scan may
trust across images: a config that misnames a diff_id would otherwise have its blob's
index read by every other image that names the same diff_id. An uncompressed blob's
digest is its diff_id (verified), so an index read from a docker-archive or an engine
export is also found by a compressed layer whose config names that diff_id: the way
container runtimes share a layer (a registry image scanned after its engine export
reads no layer the export had).

The directory also carries the index format and the capture-policy fingerprint, so a
newer imgaudit that captures more never reads a stale index. Writes are atomic (temp
file + rename), so parallel scans sharing a cache never see half a file; an unreadable
entry is a miss.

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
    from auditor.sources.interface import Layer

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

    def _path(self, key: str) -> Path:
        algo, _, hexpart = key.partition(":")
        if not algo.isalnum() or not hexpart.isalnum():
            raise ValueError(f"bad digest {key!r}")
        return self.dir / f"{algo}-{hexpart}{SUFFIX}"

    def get(self, layer: Layer) -> LayerIndex | None:
        """`layer`'s index if a scan read the same content before: under the layer's blob
        digest, else under its diff_id (an index read from an uncompressed blob with that
        digest, i.e. that tar). It carries this image's diff_id for the layer."""
        for key in dict.fromkeys((layer.digest, layer.diff_id)):
            index = self._load(key)
            if index is not None:
                self.hits += 1
                if index.diff_id != layer.diff_id:  # the same blob, named otherwise
                    index.diff_id = layer.diff_id
                return index
        self.misses += 1
        return None

    def _load(self, key: str) -> LayerIndex | None:
        # deferred: start-up time, see README "Performance" (the codec imports zstandard
        # and the ELF facts; a scan answered from the result cache decodes no index)
        from auditor import indexcodec

        try:
            path = self._path(key)
            index = indexcodec.decode(path.read_bytes())
        except (OSError, ValueError):
            return None
        if index.digest != key:  # filed under another blob's name: not this content
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: `imgaudit cache prune` keeps it
        return index

    def put(self, index: LayerIndex) -> None:
        from auditor import indexcodec  # deferred: see `_load`

        try:
            data = indexcodec.encode(index)
        except (OverflowError, ValueError):
            return  # values the encoding cannot hold: the layer is simply read again
        self.put_encoded(index.digest, data)

    def put_encoded(self, digest: str, data: bytes) -> None:
        """Store an index already encoded by `indexcodec.encode` (worker processes do),
        under the digest of the blob it was read from."""
        try:
            path = self._path(digest)
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
