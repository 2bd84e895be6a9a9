"""How each cached bytecode file is invalidated, from its 16-byte header (PEP 552).

Bytes 4-8 are a little-endian flags word: 0 = timestamp-based (the pyc embeds the
source mtime, so rebuilding changes the bytes: not reproducible), bit 0 set =
hash-based, bit 1 = checked against the source hash at import.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.fs import FileSystem

TIMESTAMP, CHECKED_HASH, UNCHECKED_HASH = "timestamp", "checked-hash", "unchecked-hash"


@dataclass(frozen=True)
class Pyc:
    path: str
    mode: str


def mode(header: bytes) -> str | None:
    if len(header) < 8:
        return None
    flags = int.from_bytes(header[4:8], "little")
    if flags & 0b1 == 0:
        return TIMESTAMP
    return CHECKED_HASH if flags & 0b10 else UNCHECKED_HASH


def scan(fs: FileSystem) -> list[Pyc]:
    out = []
    for path, data in fs.captured(lambda p: p.endswith(".pyc") and "/__pycache__/" in "/" + p):
        m = mode(data)
        if m is not None:
            out.append(Pyc(path, m))
    return out
