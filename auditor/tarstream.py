"""A lean forward-only tar reader for layer streams; tarfile stays the reference.

Why: `tarfile` in stream mode ("r|") moves every byte of skipped file content through
three layers of Python buffering, 10 KiB at a time, and re-slices its buffer on each
header read; on a 2.5 GB image that is a sizeable share of a cold scan (bench/). This
reader parses the common header itself (`parse_header`: the numeric layout every
writer of layers uses, checked by one regular expression, and the checksum) and
leaves every other header to tarfile's own `TarInfo.frombuf`, so names, numbers,
checksums and the ustar prefix mean exactly what they mean to tarfile
(tests/test_tarheader.py compares the two on damaged and random headers). It handles GNU long
names/links and PAX extended/global headers itself, and skips content with one call
into the stream.

Anything rarer (GNU or PAX sparse files, PAX `hdrcharset`, multi-volume, unknown
GNU types) is not reimplemented: the bytes of the pending headers are put back in
front of the stream and tarfile reads the rest of the layer (`Fallback`).
tests/test_tarstream.py compares both readers on real layers.
"""

from __future__ import annotations

import re
import tarfile
import zlib
from collections.abc import Iterator
from typing import Any, Protocol

BLOCK = tarfile.BLOCKSIZE
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"  # tarfile's default on a UTF-8 file system
_PLAIN_TYPES = frozenset(
    {
        tarfile.REGTYPE,
        tarfile.AREGTYPE,
        tarfile.CONTTYPE,
        tarfile.DIRTYPE,
        tarfile.SYMTYPE,
        tarfile.LNKTYPE,
        tarfile.CHRTYPE,
        tarfile.BLKTYPE,
        tarfile.FIFOTYPE,
    }
)
_META_TYPES = frozenset(
    {
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
    }
)
_WITH_CONTENT = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE})
_PAX_INT = {"size", "uid", "gid"}
_PAX_KNOWN = {"path", "linkpath", "size", "uid", "gid", "mtime"}
_MAX_META = 16 << 20  # a long name or PAX header larger than this is hostile


_EOF_HEADER: type[Exception] = tarfile.__dict__["EOFHeaderError"]  # not in typeshed


# The numeric fields as Go's archive/tar, GNU tar, bsdtar and tarfile write them
# (mode uid gid: 7 octal digits + NUL; size mtime: 11 + NUL; checksum: 6 + NUL + space),
# then the type flag (a plain member's, or a PAX or GNU long-name header's), then (from
# offset 329) devmajor/devminor: 7 digits + NUL, or NULs.
# A header that matches means to tarfile exactly what `parse_header` makes of it; any
# other (base-256 or signed numbers, spaces, junk, other widths) goes to tarfile.
_COMMON = re.compile(
    rb"([0-7]{7})\x00([0-7]{7})\x00([0-7]{7})\x00([0-7]{11})\x00([0-7]{11})\x00([0-7]{6})\x00 "
    rb"([0-7\x00xgXLK]).{172}(?:[0-7]{7}\x00[0-7]{7}\x00|\x00{16})",
    re.DOTALL,
)
_DIRTYPE = tarfile.DIRTYPE
_AREGTYPE = tarfile.AREGTYPE
_GNU_TYPES = frozenset(tarfile.GNU_TYPES)  # no ustar prefix for these


class Member:
    """The fields of a tar header the index uses (a TarInfo costs ~5x more to make).

    Mutable like TarInfo: GNU long names and PAX records are applied after the header.
    """

    __slots__ = ("gid", "linkname", "mode", "mtime", "name", "size", "type", "uid")

    def __init__(
        self,
        name: str,
        type: bytes,
        mode: int,
        uid: int,
        gid: int,
        size: int,
        mtime: int | float,
        linkname: str,
    ) -> None:
        self.name = name
        self.type = type
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.mtime = mtime
        self.linkname = linkname

    @classmethod
    def from_tarinfo(cls, info: tarfile.TarInfo) -> Member:
        return cls(info.name, info.type, info.mode, info.uid, info.gid, info.size,
                   info.mtime, info.linkname)  # fmt: skip

    def isdir(self) -> bool:
        return self.type == _DIRTYPE

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"Member({fields})"


# Headers parsed by the fast path, and left to frombuf (the end-of-archive block is one
# of these): for tests and measurements; counted per process.
FAST_HEADERS = [0, 0]


def parse_header(buf: bytes) -> Member:
    """The header in the 512-byte `buf`, exactly as `TarInfo.frombuf` reads it (same
    fields, same exceptions): the common layout (`_COMMON`) with a valid unsigned
    checksum is parsed here, anything else by frombuf."""
    m = _COMMON.match(buf, 100)
    if m is not None:
        mode, uid, gid, size, mtime, chksum, kind = m.groups()
        # The unsigned byte sum with the checksum field as spaces. adler32's first half
        # (started at 0) is the byte sum modulo 65521: exact for an ASCII block (at most
        # 512 * 127), else for each half of the block.
        if buf.isascii():
            total = (zlib.adler32(buf, 0) & 0xFFFF) - sum(buf[148:156]) + 256
        else:
            total = (
                (zlib.adler32(buf[:256], 0) & 0xFFFF)
                + (zlib.adler32(buf[256:], 0) & 0xFFFF)
                - sum(buf[148:156])
                + 256
            )
        if int(chksum, 8) == total:  # else the signed sum, or an error: frombuf's call
            FAST_HEADERS[0] += 1
            end = buf.find(b"\0", 0, 100)
            name = buf[: end if end >= 0 else 100].decode(_ENCODING, _ERRORS)
            if buf[157]:
                end = buf.find(b"\0", 157, 257)
                linkname = buf[157 : end if end >= 0 else 257].decode(_ENCODING, _ERRORS)
            else:
                linkname = ""
            if kind == _AREGTYPE and name.endswith("/"):
                kind = _DIRTYPE  # an old V7 directory
            if kind == _DIRTYPE:
                name = name.rstrip("/")
            if buf[345] and kind not in _GNU_TYPES:  # the ustar prefix (whatever the magic)
                end = buf.find(b"\0", 345, 500)
                prefix = buf[345 : end if end >= 0 else 500].decode(_ENCODING, _ERRORS)
                name = prefix + "/" + name
            return Member(name, kind, int(mode, 8), int(uid, 8), int(gid, 8),
                          int(size, 8), int(mtime, 8), linkname)  # fmt: skip
    FAST_HEADERS[1] += 1
    return Member.from_tarinfo(tarfile.TarInfo.frombuf(buf, _ENCODING, _ERRORS))


def _nts(data: bytes) -> str:
    """A NUL-terminated string, decoded like tarfile.nts."""
    return data.split(b"\0", 1)[0].decode(_ENCODING, _ERRORS)


class Stream(Protocol):
    def read(self, n: int = -1) -> bytes: ...

    def skip(self, n: int) -> None: ...


class Growable(Protocol):
    """What `append_to` appends to: a bytearray, or the ELF parser's kept head
    (auditor/elf.py `_Head`); `+=` extends it in place."""

    def __iadd__(self, data: Any, /) -> Any: ...


class Fallback(Exception):
    """A header this reader leaves to tarfile; `replay` are the bytes to put back."""

    def __init__(self, replay: bytes) -> None:
        super().__init__("tar feature left to tarfile")
        self.replay = replay


class Content:
    """The content of the current member: `read` is bounded to its size."""

    def __init__(self, stream: Stream, size: int) -> None:
        self._stream = stream
        self.remaining = size

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.remaining:
            n = self.remaining
        if n == 0:
            return b""
        data = self._stream.read(n)
        if len(data) < n:
            raise tarfile.ReadError("unexpected end of data")
        self.remaining -= n
        return data

    def append_to(self, buf: Growable, n: int) -> int:
        """`buf += read(n)`, with one copy where the stream can (the layer reader);
        the count appended."""
        n = min(n, self.remaining)
        if n <= 0:
            return 0
        append = getattr(self._stream, "append_to", None)
        if append is None:
            data = self._stream.read(n)
            buf += data
            got = len(data)
        else:
            got = append(buf, n)
        if got < n:
            raise tarfile.ReadError("unexpected end of data")
        self.remaining -= n
        return n

    def pass_over(self, n: int) -> int:
        """Pass over up to `n` bytes without copying them; the count passed (fewer than
        `n` only at the member's end)."""
        n = min(n, self.remaining)
        if n <= 0:
            return 0
        self._stream.skip(n)  # raises ReadError where the stream ends first
        self.remaining -= n
        return n

    def readable(self) -> bool:
        return True


def _padding(size: int) -> int:
    return -size % BLOCK


def _read_exact(stream: Stream, n: int) -> bytes:
    data = stream.read(n)
    if len(data) < n:
        raise tarfile.ReadError("unexpected end of data")
    return data


def _parse_pax(data: bytes) -> dict[str, str] | None:
    """PAX records `LEN key=value\\n`; None when a feature needs tarfile."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        if space < 0:
            raise tarfile.ReadError("invalid pax header")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise tarfile.ReadError("invalid pax header") from None
        record = data[space + 1 : pos + length]
        if length < 1 or not record.endswith(b"\n") or b"=" not in record:
            raise tarfile.ReadError("invalid pax header")
        key, _, value = record[:-1].partition(b"=")
        k = key.decode(_ENCODING, _ERRORS)
        if k.startswith("GNU.sparse") or k == "hdrcharset":
            return None
        out[k] = value.decode(_ENCODING, _ERRORS)
        pos += length
    return out


def _apply_pax(info: Member, pax: dict[str, str]) -> None:
    """Like TarInfo._apply_pax_info for the fields the index uses."""
    for key, value in pax.items():
        if key not in _PAX_KNOWN:
            continue
        if key == "path":
            info.name = value.rstrip("/")
        elif key == "linkpath":
            info.linkname = value
        elif key in _PAX_INT:
            try:
                setattr(info, key, int(value))
            except ValueError:
                setattr(info, key, 0)
        elif key == "mtime":
            try:
                info.mtime = float(value)
            except ValueError:
                info.mtime = 0


def _header(buf: bytes) -> Member | None:
    """The header in `buf` (a full block); None for the end-of-archive marker."""
    try:
        info = parse_header(buf)
    except _EOF_HEADER:
        return None
    except tarfile.HeaderError as exc:
        # Stricter than tarfile, which ends the archive silently at a bad header
        # after the first: members past it would be hidden from the audit, and
        # the engines (Go's archive/tar) reject such a layer.
        raise tarfile.ReadError(f"invalid tar header ({exc})") from None
    if info.size < 0:
        raise tarfile.ReadError(f"negative size in tar header ({info.size})")
    return info


def _extended(
    stream: Stream, buf: bytes, info: Member, global_pax: dict[str, str]
) -> Member | None:
    """The member after metadata headers (GNU long name/link, PAX extended or global),
    the first of which, `info`, was read from `buf`; None at the end of the data.
    Raises `Fallback` with the bytes of all these headers for what tarfile must read."""
    replay = [buf]  # raw bytes of this member's headers, for a fallback
    pax: dict[str, str] = {}
    local_pax = False
    long_name: str | None = None
    long_link: str | None = None
    while True:
        kind = info.type
        if kind in _PLAIN_TYPES:
            break
        if kind not in _META_TYPES:
            raise Fallback(b"".join(replay))
        if info.size > _MAX_META:
            raise tarfile.ReadError(f"{info.size}-byte tar metadata header")
        data = _read_exact(stream, info.size + _padding(info.size))
        replay.append(data)
        body = data[: info.size]
        if kind == tarfile.GNUTYPE_LONGNAME:
            long_name = _nts(body)
        elif kind == tarfile.GNUTYPE_LONGLINK:
            long_link = _nts(body)
        else:
            parsed = _parse_pax(body)
            if parsed is None:
                raise Fallback(b"".join(replay))
            if kind == tarfile.XGLTYPE:
                global_pax.update(parsed)
            else:
                pax.update(parsed)
                local_pax = True
        buf = stream.read(BLOCK)
        if len(buf) < BLOCK:
            return None
        replay.append(buf)
        next_info = _header(buf)
        if next_info is None:
            return None
        info = next_info
    if long_name is not None:
        info.name = long_name.rstrip("/") if info.isdir() else long_name
    if long_link is not None:
        info.linkname = long_link
    if local_pax:  # like tarfile: global records count only with a local header
        _apply_pax(info, {**global_pax, **pax})
    return info


def iter_members(stream: Stream) -> Iterator[tuple[Member, Content]]:
    """(Member, content) per member, in order. Content not read is skipped when the
    caller asks for the next member. Raises `Fallback` for features left to tarfile,
    tarfile.ReadError for a stream that is not tar or has a bad header anywhere;
    stops at the end-of-archive marker or at the end of data between members."""
    global_pax: dict[str, str] = {}
    read, skip = stream.read, stream.skip
    skip_read = getattr(stream, "skip_read", None)  # both in one call (the layer reader)
    buf = read(BLOCK)
    if len(buf) < BLOCK:
        raise tarfile.ReadError("empty file" if not buf else "truncated header")
    while True:
        info = _header(buf)
        if info is None:
            return
        if info.type not in _PLAIN_TYPES:
            info = _extended(stream, buf, info, global_pax)
            if info is None:
                return
        size = info.size if info.type in _WITH_CONTENT else 0
        content = Content(stream, size)
        yield info, content
        if skip_read is not None:
            buf = skip_read(content.remaining + (-size % BLOCK), BLOCK)
        else:
            skip(content.remaining + (-size % BLOCK))
            buf = read(BLOCK)
        if len(buf) < BLOCK:
            return


# For a caller that inlines the common case (auditor/layers.py `_read_tarstream`) and
# hands every other header back to this module.
COMMON = _COMMON
PLAIN_TYPES = _PLAIN_TYPES
WITH_CONTENT = _WITH_CONTENT
header = _header
extended = _extended
