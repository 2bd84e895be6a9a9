"""tarstream.parse_header (the fast path for common headers) against tarfile's
`TarInfo.frombuf`, the reference: on any 512 bytes, both give the same fields or the
same exception. Headers are built in the common layout and then damaged (junk, spaces,
base-256 and signed numbers, other checksum forms and signs, ustar prefix and name
combinations, other magics and types), so both the fast path and its hand-over to
frombuf are exercised; and the layer reader's chunked read/skip against a flat copy.
"""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor import layers, tarstream

FIELDS = ("name", "type", "mode", "uid", "gid", "size", "mtime", "linkname")


def _outcome(parse: Any, buf: bytes) -> tuple[str, Any]:
    try:
        info = parse(buf)
    except Exception as exc:  # the exception type is what must agree
        return "error", type(exc)
    return "ok", tuple(getattr(info, f) for f in FIELDS)


def _reference(buf: bytes) -> Any:
    return tarfile.TarInfo.frombuf(buf, "utf-8", "surrogateescape")


def _same(buf: bytes) -> bool:
    """Asserts both parsers agree on `buf`; True when the fast path parsed it."""
    before = tarstream.FAST_HEADERS[0]
    ours = _outcome(tarstream.parse_header, buf)
    assert ours == _outcome(_reference, buf), buf
    return tarstream.FAST_HEADERS[0] > before


def _sums(buf: bytes) -> tuple[int, int]:
    rest = buf[:148] + buf[156:]
    return 256 + sum(rest), 256 + sum(b - 256 if b > 127 else b for b in rest)


def _with_checksum(buf: bytes, value: int, form: str = "%06o\0 ") -> bytes:
    field = (form % value).encode("ascii")[:8].ljust(8, b"\0")
    return buf[:148] + field + buf[156:]


def _header(
    name: bytes,
    prefix: bytes,
    linkname: bytes,
    kind: bytes,
    numbers: tuple[int, int, int, int, int],
    magic: bytes = b"ustar\x0000",
    dev: bytes = b"0000000\x000000000\x00",
) -> bytes:
    """A header in the common layout, with a valid unsigned checksum."""
    mode, uid, gid, size, mtime = numbers
    buf = (
        name[:100].ljust(100, b"\0")
        + b"%07o\0" % mode
        + b"%07o\0" % uid
        + b"%07o\0" % gid
        + b"%011o\0" % size
        + b"%011o\0" % mtime
        + b"        "
        + kind
        + linkname[:100].ljust(100, b"\0")
        + magic[:8].ljust(8, b"\0")
        + b"root".ljust(32, b"\0")
        + b"root".ljust(32, b"\0")
        + dev
        + prefix[:155].ljust(155, b"\0")
        + b"\0" * 12
    )
    assert len(buf) == 512
    return _with_checksum(buf, _sums(buf)[0])


_names = st.one_of(
    st.sampled_from([b"usr/bin/python3", b"etc/", b"a//b/", b"./x", b"/abs", b"d/", b"x" * 100]),
    st.binary(max_size=100),
    st.lists(
        st.sampled_from([b"a", b"..", b".", b"", b"\xc3\xa9", b"\xff", b"b c"]), max_size=6
    ).map(b"/".join),
)
_kinds = st.sampled_from([*b"01234567", 0, *b"xgLKSVMDI", 0x80, 0xFF]).map(lambda k: bytes([k]))
_numbers = st.tuples(
    st.integers(0, 8**7 - 1),
    st.integers(0, 8**7 - 1),
    st.integers(0, 8**7 - 1),
    st.integers(0, 8**11 - 1),
    st.integers(0, 8**11 - 1),
)
_magics = st.sampled_from([b"ustar\x0000", b"ustar  \x00", b"\0" * 8, b"junk!!!!"])
_devs = st.sampled_from(
    [
        b"0000000\x000000000\x00",
        b"\0" * 16,
        b"0000000 0000000 ",
        b"\x80" + b"\0" * 15,
        b"00000008" * 2,
    ]
)
# Damage anywhere in the numeric fields or the device numbers: junk, spaces, NULs,
# base-256 markers (0o200 positive, 0o377 negative), signs, digits 8 and 9.
_damage = st.lists(
    st.tuples(
        st.one_of(st.integers(100, 156), st.integers(329, 344)),
        st.sampled_from(
            [b" ", b"\0", b"\x80", b"\xff", b"8", b"9", b"-", b"+", b"_", b"a", b"\t", b"\x1f"]
        ),
    ),
    max_size=3,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=_names,
    prefix=st.one_of(st.just(b""), _names, st.binary(max_size=155)),
    linkname=st.one_of(st.just(b""), _names),
    kind=_kinds,
    numbers=_numbers,
    magic=_magics,
    dev=_devs,
    damage=_damage,
    checksum=st.sampled_from(["unsigned", "signed", "wrong", "keep"]),
    form=st.sampled_from(["%06o\0 ", "%07o\0", "%06o  ", " %05o \0", "%o", "%06o\0\0"]),
)
def test_fast_path_agrees_with_frombuf(
    name: bytes,
    prefix: bytes,
    linkname: bytes,
    kind: bytes,
    numbers: tuple[int, int, int, int, int],
    magic: bytes,
    dev: bytes,
    damage: list[tuple[int, bytes]],
    checksum: str,
    form: str,
) -> None:
    buf = _header(name, prefix, linkname, kind, numbers, magic, dev)
    for pos, byte in damage:
        buf = buf[:pos] + byte + buf[pos + 1 :]
    if checksum != "keep" or damage:
        unsigned, signed = _sums(buf)
        value = {"unsigned": unsigned, "signed": signed, "keep": unsigned}.get(
            checksum, unsigned + 1
        )
        if value >= 0:
            buf = _with_checksum(buf, value, form)
    _same(buf)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(min_size=512, max_size=512), sign=st.sampled_from(["unsigned", "signed"]))
def test_random_blocks_with_a_valid_checksum(data: bytes, sign: str) -> None:
    unsigned, signed = _sums(data)
    value = unsigned if sign == "unsigned" else signed
    _same(_with_checksum(data, value) if value >= 0 else data)


def _common(
    name: bytes = b"usr/lib/x", kind: bytes = b"0", prefix: bytes = b"", **kw: Any
) -> bytes:
    return _header(name, prefix, kw.pop("linkname", b""), kind, (0o644, 0, 0, 5, 1700000000), **kw)


@pytest.mark.parametrize(
    ("buf", "fast"),
    [
        (_common(), True),
        (_common(b"usr/lib/", b"\0"), True),  # old V7 directory: a regular file with "/"
        (_common(b"usr/lib//", b"5", b"opt/p"), True),  # directory slashes, then prefix
        (_common(b"x", b"0", b"a" * 155), True),  # a full-width prefix (no NUL)
        (_common(b"n" * 100, b"2", linkname=b"l" * 100), True),  # full-width name, link
        (_common(b"x", b"0", b"\x00\x01junk"), True),  # a prefix that is empty to frombuf
        (_common(b"x", b"0", b"00000001234\x0000000001234", magic=b"ustar  \x00"), True),
        (_common(b"caf\xc3\xa9/\xff\xfe"), True),  # not UTF-8: surrogate escapes
        (_common(kind=b"L", prefix=b"p"), True),  # GNU long name: no ustar prefix
        (_common(kind=b"K", prefix=b"p"), True),
        (_common(kind=b"x", prefix=b"p"), True),  # PAX headers: a prefix as any other
        (_common(kind=b"g"), True),
        (_common(kind=b"S"), False),  # old GNU sparse: frombuf reads its map
        (_common(kind=b"V"), False),
        (b"\0" * 512, False),  # end of archive
        (b"\0" * 511, False),
    ],
)
def test_known_headers(buf: bytes, fast: bool) -> None:
    assert _same(buf) is fast


def test_signed_checksum_is_left_to_frombuf() -> None:
    buf = _common("é".encode())
    unsigned, signed = _sums(buf)
    assert unsigned != signed
    assert _same(_with_checksum(buf, signed)) is False
    assert tarstream.parse_header(_with_checksum(buf, signed)).name == "é"


def test_base256_numbers_are_left_to_frombuf() -> None:
    buf = _common()
    size = b"\x80" + (1 << 40).to_bytes(11, "big")
    buf = buf[:124] + size + buf[136:]
    buf = _with_checksum(buf, _sums(buf)[0])
    assert _same(buf) is False
    assert tarstream.parse_header(buf).size == 1 << 40


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=5000),
    ops=st.lists(
        st.tuples(st.sampled_from(["read", "skip", "skip_read"]), st.integers(0, 1200)),
        max_size=30,
    ),
    chunk=st.integers(1, 700),
    threaded=st.booleans(),
)
def test_reader_read_and_skip_match_a_flat_copy(
    data: bytes, ops: list[tuple[str, int]], chunk: int, threaded: bool
) -> None:
    """The reader serves reads, skips and both at once across its pieces like one flat
    buffer, with its producer thread or without."""
    saved = layers.CHUNK
    layers.CHUNK = chunk
    reader = layers._DigestingReader(io.BytesIO(b"\0" + data), "layer 0", 1000, threaded)
    try:
        flat = io.BytesIO(b"\0" + data)
        for op, n in ops:
            if op == "read":
                assert reader.read(n) == flat.read(n)
            elif op == "skip_read" and flat.tell() + n // 2 <= len(data) + 1:
                flat.seek(n // 2, io.SEEK_CUR)
                assert reader.skip_read(n // 2, n - n // 2) == flat.read(n - n // 2)
            elif flat.tell() + n <= len(data) + 1:
                reader.skip(n)
                flat.seek(n, io.SEEK_CUR)
            else:
                with pytest.raises(tarfile.ReadError):
                    reader.skip(n)
                return
        assert reader.read() == flat.read()
        assert reader.read(5) == b""
        reader.drain()
        assert reader.produced == len(data) + 1
    finally:
        reader.close()
        layers.CHUNK = saved


@settings(max_examples=400, deadline=None)
@given(
    name=_names,
    prefix=st.one_of(st.just(b""), _names, st.binary(max_size=155)),
    linkname=st.one_of(st.just(b""), _names),
    kind=st.sampled_from([*b"01234567xgXLK", 0]).map(lambda k: bytes([k])),
    numbers=_numbers,
    magic=_magics,
    dev=st.sampled_from([b"0000000\x000000000\x00", b"\0" * 16, b"0000003\x000000001\x00"]),
    signed=st.booleans(),
)
def test_common_headers_take_the_fast_path(
    name: bytes,
    prefix: bytes,
    linkname: bytes,
    kind: bytes,
    numbers: tuple[int, int, int, int, int],
    magic: bytes,
    dev: bytes,
    signed: bool,
) -> None:
    """Every header in the common layout is parsed by the fast path, unless its checksum
    is only right as a signed sum (high bytes in a name): then frombuf accepts it."""
    buf = _header(name, prefix, linkname, kind, numbers, magic, dev)
    unsigned, signed_sum = _sums(buf)
    if signed:
        buf = _with_checksum(buf, signed_sum)
    assert _same(buf) is (not signed or signed_sum == unsigned)


@pytest.mark.parametrize(
    "buf",
    [
        _common(),  # an ASCII block: one adler32 over the whole block is exact
        _common(b"\xff" * 100, b"0", b"\xfd" * 155, linkname=b"\xfe" * 100),  # sum > 65521
    ],
)
def test_checksums_off_by_the_adler_modulus_are_refused(buf: bytes) -> None:
    """adler32 sums modulo 65521: a checksum that is off by exactly that must still be
    refused (as frombuf refuses it), on ASCII blocks and on blocks that sum past it."""
    unsigned = _sums(buf)[0]
    assert _same(buf) is True
    for wrong in (unsigned + 65521, unsigned - 65521):
        if wrong >= 0:
            bad = _with_checksum(buf, wrong)
            assert _same(bad) is False
            with pytest.raises(tarfile.HeaderError):
                tarstream.parse_header(bad)
