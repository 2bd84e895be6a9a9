"""How each cached bytecode file is invalidated, from its 16-byte header (PEP 552).

Bytes 4-8 are a little-endian flags word: 0 = timestamp-based (the pyc embeds the
source mtime and size in bytes 8-16, so rebuilding changes the bytes: not
reproducible), bit 0 set = hash-based, bit 1 = checked against the source hash at
import. The header is parsed here only (`header`, `mode`); PY006 and BL003 ask.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # deferred: start-up time, see README "Performance"
    from auditor.fs import FileSystem

TIMESTAMP, CHECKED_HASH, UNCHECKED_HASH = "timestamp", "checked-hash", "unchecked-hash"


class Header(NamedTuple):
    flags: int
    source_mtime: int  # meaningful for timestamp-based pycs only
    source_size: int

    @property
    def mode(self) -> str:
        return _mode(self.flags)


def stems(name: str) -> list[str]:
    """The module stems a `__pycache__` file name may belong to: `STEM.TAG.pyc` and
    `STEM.TAG.opt-N.pyc` (a stem may hold dots: PyInstaller's `hook-x.async_api`), so
    the name without its last one or two parts. Empty for a name that is no pyc."""
    if not name.endswith(".pyc"):
        return []
    parts = name[:-4].split(".")
    return [".".join(parts[:-tail]) for tail in (1, 2) if len(parts) > tail]


def header(data: bytes) -> Header | None:
    """The 16-byte header of a pyc's bytes (None: too short to be one)."""
    if len(data) < 16:
        return None
    return Header(*struct.unpack("<III", data[4:16]))


def mode(data: bytes) -> str | None:
    """The invalidation mode from the flags word alone (a capture may hold 8 bytes)."""
    if len(data) < 8:
        return None
    return _mode(int.from_bytes(data[4:8], "little"))


def _mode(flags: int) -> str:
    if flags & 0b1 == 0:
        return TIMESTAMP
    return CHECKED_HASH if flags & 0b10 else UNCHECKED_HASH


#: The mode by the flags word's two low bits (`_mode`, for a byte instead of a word).
_MODES = tuple(_mode(bits) for bits in range(4))


def scan(fs: FileSystem) -> dict[str, list[str]]:
    """Invalidation mode -> the pycs (in `__pycache__`, where the import system writes
    them) with it, each list sorted. Paths by mode, not a record per pyc: a big image
    has 200k pycs, and a tuple each was ~14 MB."""
    out: dict[str, list[str]] = {}
    # by the flags' two low bits; 0 and 2 are both timestamp-based: one list
    by_bits = [out.setdefault(mode, []) for mode in _MODES]
    for path, data in fs.captured_ending(".pyc"):
        if len(data) < 8 or not ("/__pycache__/" in path or path.startswith("__pycache__/")):
            continue  # too short for `mode`; not where the import system writes pycs
        by_bits[data[4] & 0b11].append(path)
    return {mode: paths for mode, paths in out.items() if paths}
