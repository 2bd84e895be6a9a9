"""Work counters for hostile-input tests.

A hostile input is dangerous when it makes the reader do unbounded work: read a blob
again and again, spin on an empty read, visit an index once per path to it. Tests
used to catch that with wall-clock limits (< 5 s), which fail on a busy two-core
machine and say nothing on a fast one. They now count the work itself (bytes and reads
here; requests, lookups or blob reads where they are made) and keep only a generous
timeout (pytest-timeout) for a true hang.
"""

from __future__ import annotations

import builtins
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from auditor.sources.interface import FileSlice
from auditor.sources.interface import Layer as SourceLayer

__all__ = ["ReadCount", "counted_layer"]


@dataclass
class ReadCount:
    """What a reader pulled from its blob: read calls, bytes, reads that returned nothing."""

    calls: int = 0
    bytes: int = 0
    empty: int = 0

    def add(self, data: builtins.bytes) -> builtins.bytes:
        self.calls += 1
        self.bytes += len(data)
        self.empty += not data
        return data


class _CountingReader:
    def __init__(self, inner: BinaryIO, count: ReadCount) -> None:
        self._inner = inner
        self._count = count

    def read(self, n: int = -1) -> bytes:
        return self._count.add(self._inner.read(n))

    def read1(self, n: int = -1) -> bytes:
        return self._count.add(self._inner.read1(n))  # type: ignore[attr-defined]

    def readinto(self, buffer: Any) -> int:
        got = self._inner.readinto(buffer)  # type: ignore[attr-defined]
        self._count.add(bytes(buffer[:got]))
        return int(got)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> _CountingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class CountingSlice(FileSlice):
    """A FileSlice whose every opened reader adds to `count`."""

    count: ReadCount = field(default_factory=ReadCount, compare=False, hash=False)

    def open(self) -> BinaryIO:
        return _CountingReader(super().open(), self.count)  # type: ignore[return-value]


def counted_layer(
    directory: Path, blob: bytes, diff: bytes | None = None
) -> tuple[SourceLayer, ReadCount]:
    """Layer 0 stored as `blob` (diff_id of `diff`, else of `blob`), and its read counter."""
    path = directory / f"blob-{hashlib.sha256(blob).hexdigest()[:12]}"
    path.write_bytes(blob)
    count = ReadCount()

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    layer = SourceLayer(
        index=0,
        diff_id=digest(diff if diff is not None else blob),
        digest=digest(blob),
        media_type="",
        size=len(blob),
        locator=CountingSlice(str(path), count=count),
    )
    return layer, count
