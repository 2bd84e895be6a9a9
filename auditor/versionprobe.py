"""The CPython version an interpreter binary (or libpython) was built as, read from the
bytes that stream past while the layer is indexed.

Why the bytes: a path says 3.11, never 3.11.7, and nothing else in a slim image may
(no headers, no dpkg data, an env var the user may have set to anything). CPython
compiles `PY_VERSION` ("3.11.7") into the interpreter as a C string: `sys.version`
starts with it. The linker may merge it into the tail of a longer string that ends
the same way (`/root/.pyenv/versions/3.11.7`), so a candidate is a NUL-terminated
`X.Y.Z[a|b|rcN][+]` not preceded by a digit or a dot, with X.Y the one the file name
says. One distinct candidate is the answer; several are ambiguous and say nothing.

Memory stays bounded: the stream is scanned a chunk at a time with a few bytes of
overlap, and at most `MAX_CANDIDATES` short strings are kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import IO

SCAN_LIMIT = 96 << 20  # bytes of one file scanned at most (.rodata sits early)
MAX_CANDIDATES = 8
_OVERLAP = 24  # longer than any candidate with its NUL
_CHUNK = 1 << 20


class VersionProbe:
    """A read-only stream that passes reads through to `raw` and looks for `X.Y.*` in
    what it passes. `drain(total)` reads on to `total` bytes for the part the reader of
    the stream (the ELF parser) did not need."""

    def __init__(self, raw: IO[bytes], major_minor: str, already: bytes = b"") -> None:
        self._raw = raw
        self._needle = major_minor.encode() + b"."
        # matched at each place the needle is found (bytes.find is a fast search; a
        # pattern that starts with a look-behind would be tried at every offset)
        self._version = re.compile(rb"\d{1,3}(?:(?:a|b|rc)\d{1,3})?\+?\x00")
        self._tail = b""
        self.seen = 0
        self.found: set[str] = set()
        self._scan(already)

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._scan(data)
        return data

    def _scan(self, data: bytes) -> None:
        if not data:
            return
        start = self.seen
        self.seen += len(data)
        if start >= SCAN_LIMIT or len(self.found) >= MAX_CANDIDATES:
            return
        window = self._tail + data
        needle, at = self._needle, window.find(self._needle)
        while at >= 0 and len(self.found) < MAX_CANDIDATES:
            before = window[at - 1 : at] if at else b""
            m = self._version.match(window, at + len(needle))
            if m is not None and not (before.isdigit() or before == b"."):
                self.found.add(window[at : m.end() - 1].decode("ascii"))
            at = window.find(needle, at + 1)
        self._tail = window[-_OVERLAP:]

    def drain(self, total: int) -> None:
        """Read (and scan) up to byte `total` of the file, or `SCAN_LIMIT`."""
        end = min(total, SCAN_LIMIT)
        while self.seen < end and len(self.found) < MAX_CANDIDATES:
            if not self.read(min(_CHUNK, end - self.seen)):
                break

    def versions(self) -> list[str]:
        return sorted(self.found)


def full_version(candidates: Sequence[str] | None) -> str | None:
    """The one version the probe found, None when none or several."""
    if not candidates or len(set(candidates)) != 1:
        return None
    return candidates[0]
