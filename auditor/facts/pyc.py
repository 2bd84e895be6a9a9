"""How each cached bytecode file is invalidated, from its 16-byte header (PEP 552).

Bytes 4-8 are a little-endian flags word: 0 = timestamp-based (the pyc embeds the
source mtime, so rebuilding changes the bytes: not reproducible), bit 0 set =
hash-based, bit 1 = checked against the source hash at import.
"""

from __future__ import annotations

from operator import methodcaller
from typing import NamedTuple

from auditor.fs import FileSystem

_ENDS_PYC = methodcaller("endswith", ".pyc")  # a predicate called in C, once per captured path

TIMESTAMP, CHECKED_HASH, UNCHECKED_HASH = "timestamp", "checked-hash", "unchecked-hash"


class Pyc(NamedTuple):
    """A tuple, not a frozen dataclass: an image has tens of thousands of pycs, and a
    frozen dataclass's __init__ (object.__setattr__ per field) was most of this fact."""

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
    for path, data in fs.captured(_ENDS_PYC):
        if "/__pycache__/" not in "/" + path:
            continue
        m = mode(data)
        if m is not None:
            out.append(Pyc(path, m))
    return out
