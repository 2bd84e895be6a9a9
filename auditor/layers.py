"""Read each layer once, as a stream, into a `LayerIndex`: pure, serialisable data.

A layer blob is decompressed (gzip, zstd or none, told by magic bytes, never by the
media type), its stored bytes hashed on the way (the blob digest: `_verify` says why
the diff_id is not hashed too), and its tar headers are iterated. For every entry the
index records path, type, mode, owner, size, mtime and link target; content is kept
only for paths the capture policy names, and ELF files are reduced to their link
facts. Nothing is written to the host filesystem (the ELF parser keeps the ranges it
needs in memory, within fixed caps: auditor/elf.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib
import posixpath
import queue
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any, cast

import zstandard

from auditor import tarstream
from auditor.capture import DEFAULT_POLICY, Capture, CapturePolicy
from auditor.elf import ELF_MAGIC, PREFIX_CAP, parse_elf_stream, release_spare_heads
from auditor.errors import CorruptInput
from auditor.layerindex import (
    BLOCK,
    CAPTURE_LIMIT,
    CHAR,
    DIR,
    FIFO,
    FILE,
    HARDLINK,
    SYMLINK,
    Entry,
    EntryTable,
    LayerIndex,
)
from auditor.limits import DEFAULT_MAX_ENTRIES, DEFAULT_MAX_RATIO
from auditor.memory import gc_paused, keep_big_blocks, trim_heap
from auditor.sources.interface import Layer
from auditor.versionprobe import VersionProbe


def _inflater() -> Any:
    """The zlib-compatible module that inflates gzip layers, the fastest importable:
    ISA-L (~10% less inflate time than zlib-ng on real layers, bench/PROFILE.md), then
    zlib-ng (~2x faster than the stdlib's zlib, bench/RESULTS.md), then zlib itself
    (platforms without either wheel keep working)."""
    for name in ("isal.isal_zlib", "zlib_ng.zlib_ng"):
        try:
            return importlib.import_module(name)
        except ImportError:  # pragma: no cover - platforms without that wheel
            continue
    return zlib  # pragma: no cover


_inflate: Any = _inflater()


def _gzip_stream() -> Callable[[], Any] | None:
    """With ISA-L, a gzip decoder that keeps the input it has not used yet (the
    `needs_input` interface of bz2 and lzma). `decompressobj` hands that input back as
    `unconsumed_tail`, a new copy of the rest of the piece on every call (a 1 MiB piece
    inflates to ~3.5 MiB, taken 1 MiB at a time); the stream decoder spent ~8% less CPU
    on the bench image's 260 MB layer (bench/PROFILE.md). It checks the gzip trailer
    (CRC and size) as `decompressobj(31)` does. None: decompressobj (zlib-ng, zlib)."""
    if _inflate.__name__ != "isal.isal_zlib":
        return None  # pragma: no cover - platforms without the ISA-L wheel
    from isal import igzip_lib

    return functools.partial(igzip_lib.IgzipDecompressor, flag=igzip_lib.DECOMP_GZIP)


_GZIP_STREAM = _gzip_stream()

CHUNK = 1 << 20
# Decompressed bytes per step: 1 MiB stays in the core's cache for the tar parse that
# follows (4 MiB cost ~9% more CPU on the torch layer, bench/PROFILE.md).
PIECE = CHUNK
THREADED = True  # decompress and hash in a thread beside the tar parse (_Producer)
TAR_READER = "tarstream"  # or "tarfile": the reference (tests/test_tarstream.py)
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_RATIO_GRACE = 64 << 20  # small blobs may exceed the ratio (a tar of empty files does)
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, _inflate.error)
_DECODE_ERRORS: tuple[type[Exception], ...] = (*_INFLATE_ERRORS, zstandard.ZstdError)
_STREAM_ERRORS: tuple[type[Exception], ...] = (tarfile.TarError, EOFError, *_INFLATE_ERRORS)
_ZSTD_PIECE = 1 << 10  # zstd input per decode call: bounds its output (~32 MiB at most)
_INT64 = (1 << 63) - 1
# ELF files this big: the parser may have held tens of MB (its prefix reaches PREFIX_CAP
# only in files at least that big). A smaller file's buffers stay on the heap for the
# next file to reuse: trimming after each file from 8 MiB up made the pages of the next
# pieces fault in again (bench image, two biggest layers: 176k -> 94k page faults,
# ~0.25 CPU s less, peak RSS +4 MB; bench/PROFILE.md).
_TRIM_AFTER = PREFIX_CAP
_ID_MAX = _INT64  # tar allows 64-bit ids (base-256); negative ones are damage

_KIND = {
    tarfile.REGTYPE: FILE,
    tarfile.AREGTYPE: FILE,
    tarfile.CONTTYPE: FILE,
    tarfile.GNUTYPE_SPARSE: FILE,
    tarfile.DIRTYPE: DIR,
    tarfile.SYMTYPE: SYMLINK,
    tarfile.LNKTYPE: HARDLINK,
    tarfile.CHRTYPE: CHAR,
    tarfile.BLKTYPE: BLOCK,
    tarfile.FIFOTYPE: FIFO,
}
# Entry's own __new__ is a Python function around this call: ~0.15 us per entry less.
_new_entry = tuple.__new__
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
META_PREFIX = ".wh..wh."  # whiteout-metadata names; only the opaque marker means anything


def _is_aufs_meta(path: str) -> bool:
    return any(p.startswith(META_PREFIX) and p != OPAQUE_MARKER for p in path.split("/"))


class _HashingRaw:
    """The stored blob bytes, hashed and counted as they pass (the blob digest)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.hash = hashlib.sha256()
        self.count = 0
        # With a producer thread: the bytes read, kept (in order) for the parse thread
        # to hash, so that the producer's own work is only reading and decompressing.
        self.kept: list[bytes] | None = None

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.count += len(data)
        if self.kept is not None:
            self.kept.append(data)
        else:
            self.hash.update(data)
        return data

    def readable(self) -> bool:
        return True


class _DigestingReader:
    """Decompresses a blob on the fly, hashing the stored bytes (the blob digest).

    Compression is told by magic bytes. gzip members are decoded one after another
    (estargz and `pigz --independent` write many); zstd frames likewise (skippable
    frames included). A stream that ends inside a member or frame is an error: neither
    decoder reports truncation on its own. Output per step is bounded (gzip by
    `max_length`, zstd by feeding small input pieces), so memory stays flat whatever
    the ratio, and a ratio guard stops decompression bombs early.

    The current piece of output is kept as it came (`_chunk`, read from `_pos`): a
    header is one slice of it and skipped content only moves `_pos`, so the bytes of a
    layer are never copied into a buffer and shifted out again.

    `threaded`: the stored bytes are read and decompressed by a thread of their own
    (`_Producer`), a few pieces ahead of the tar parse; the parse thread hashes the
    stored bytes (handed over with each piece, in order; an uncompressed blob's hash
    stays in the producer, which does nothing else). zlib-ng/ISA-L, zstandard
    and hashlib release the GIL, so on a second core a layer costs the longer of the
    two threads instead of their sum (bench/PROFILE.md). The caller must `close()`
    the reader.
    """

    def __init__(self, raw: IO[bytes], what: str, max_ratio: int, threaded: bool = False) -> None:
        self._raw = _HashingRaw(raw)
        self._what = what
        self._max_ratio = max_ratio
        self.produced = 0
        self._chunk = b""  # output not yet consumed: _chunk[_pos:]
        self._pos = 0
        self._eof = False
        self._pending = self._raw.read(CHUNK)
        if self._pending.startswith(GZIP_MAGIC):
            self.compression = "gzip"
        elif self._pending.startswith(ZSTD_MAGIC):
            self.compression = "zstd"
        else:
            self.compression = "none"  # the stored bytes are the tar: digest = diff_id
        self._dec: Any = None  # the decoder of the current gzip member / zstd frame
        # gzip members decoded by `_GZIP_STREAM`: the decoder holds its unused input
        self._stream = _GZIP_STREAM if self.compression == "gzip" else None
        self._producer = _Producer(self) if threaded else None

    @property
    def blob_digest(self) -> str:
        return "sha256:" + self._raw.hash.hexdigest()

    @property
    def stored(self) -> int:
        return self._raw.count

    def close(self) -> None:
        """Stop the producer thread, if any (it holds the stored stream)."""
        if self._producer is not None:
            self._producer.stop()

    def _fill(self) -> None:
        """The next piece of output into `_chunk` (only when the last one is used up)."""
        out = self._producer.next() if self._producer is not None else self._output()
        if not out:
            self._eof = True
            return
        self._chunk = out
        self._pos = 0

    def _output(self) -> bytes:
        """The next piece of output (b"" at the end), counted against the ratio guard.
        Runs in the producer thread when there is one: it touches only the stored
        stream, the decoder, `_pending` and `produced`."""
        try:
            if self.compression == "none":
                out = self._pending or self._raw.read(CHUNK)
                self._pending = b""
            else:
                out = self._decode_step()
        except (*_DECODE_ERRORS, _inflate.error) as exc:  # the inflater in use now
            raise CorruptInput(f"{self._what}: corrupt {self.compression} data ({exc})") from None
        self.produced += len(out)
        if (
            self.compression != "none"
            and self.produced > _RATIO_GRACE
            and self.produced > self._max_ratio * max(self.stored, 1)
        ):
            raise CorruptInput(
                f"{self._what}: decompresses to over {self._max_ratio}x its size "
                "(a decompression bomb?); raise --max-ratio to read it"
            )
        return out

    def _new_decoder(self) -> Any:
        if self._stream is not None:
            return self._stream()
        if self.compression == "gzip":
            return _inflate.decompressobj(16 + zlib.MAX_WBITS)
        return zstandard.ZstdDecompressor(max_window_size=1 << 27).decompressobj()

    def _decode(self, data: bytes) -> bytes:
        """Feed `data` to the current decoder; input it did not take goes to `_pending`
        (a stream decoder keeps it, and gives what follows its member's end)."""
        if self.compression == "gzip":
            dec = self._dec
            out: bytes = dec.decompress(data, PIECE)
            if dec.eof:
                leftover = dec.unused_data
            else:
                leftover = b"" if self._stream is not None else dec.unconsumed_tail
        else:
            # zstd's decompressobj has no output limit: feed small pieces instead, and
            # stop at a frame end or once enough output is ready.
            view = memoryview(data)
            parts: list[bytes] = []
            got = pos = 0
            while pos < len(view) and got < PIECE and not self._dec.eof:
                part = self._dec.decompress(view[pos : pos + _ZSTD_PIECE])
                pos += _ZSTD_PIECE
                parts.append(part)
                got += len(part)
            out = b"".join(parts)
            rest = bytes(view[pos:]) if pos < len(view) else b""
            leftover = (self._dec.unused_data + rest) if self._dec.eof else rest
        if self._dec.eof:
            self._dec = None
        self._pending = leftover
        return out

    def _decode_step(self) -> bytes:
        """Some decompressed bytes (bounded); b"" at the clean end of the stream."""
        while True:
            dec = self._dec
            if self._stream is not None and dec is not None and not dec.needs_input:
                # The stream decoder holds input it has not inflated yet: no new input
                # until it asks (the output per call stays bounded, and so its buffer).
                out = self._decode(b"")
                if out:
                    return out
                if self._dec is dec and not dec.needs_input:
                    raise zlib.error("the gzip decoder made no progress")
                continue
            raw = self._pending or self._raw.read(CHUNK)
            self._pending = b""
            if not raw:
                if self._dec is None:
                    return b""
                # Input is exhausted: drain what the decoder still holds, then the
                # member must have ended, or the stream was cut short.
                out = self._decode(b"")
                if out:
                    return out
                if self._dec is not None:
                    raise CorruptInput(f"{self._what}: truncated {self.compression} stream")
                return b""
            if self._dec is None:  # at a member/frame boundary
                if self.compression == "gzip" and not raw.startswith(GZIP_MAGIC[: len(raw)]):
                    # Some writers pad the blob with zeros; anything else is damage.
                    if raw.strip(b"\0"):
                        raise zlib.error("trailing garbage after the gzip stream")
                    continue
                self._dec = self._new_decoder()
            out = self._decode(raw)
            if out:
                return out

    def read(self, n: int = -1) -> bytes:
        chunk, pos = self._chunk, self._pos
        end = pos + n
        if n >= 0 and end <= len(chunk):  # the common case: one slice
            self._pos = end
            return chunk[pos:end]
        parts = [chunk[pos:]]
        got = len(parts[0])
        self._chunk, self._pos = b"", 0
        while (n < 0 or got < n) and not self._eof:
            self._fill()
            chunk = self._chunk
            if 0 <= n < got + len(chunk):
                take = n - got
                parts.append(chunk[:take])
                self._pos = take
                break
            parts.append(chunk)
            got += len(chunk)
            self._chunk = b""
        return b"".join(parts)

    def append_to(self, buf: tarstream.Growable, n: int) -> int:
        """`buf += read(n)` with one copy instead of two (the ELF parser's kept prefix
        grows this way); the count appended, fewer than `n` only at the end."""
        got = 0
        while got < n:
            chunk, pos = self._chunk, self._pos
            take = min(n - got, len(chunk) - pos)
            if take <= 0:
                self._chunk, self._pos = b"", 0
                if self._eof:
                    break
                self._fill()
                continue
            with memoryview(chunk) as view:
                buf += view[pos : pos + take]
            self._pos = pos + take
            got += take
        return got

    def skip(self, n: int) -> None:
        """Consume `n` bytes without returning them (still hashed and counted)."""
        while True:
            left = len(self._chunk) - self._pos
            if n <= left:
                self._pos += n
                return
            n -= left
            self._chunk, self._pos = b"", 0
            if self._eof:  # a member declared larger than the data that follows
                raise tarfile.ReadError("unexpected end of data")
            self._fill()

    def skip_read(self, n: int, m: int) -> bytes:
        """`skip(n)` then `read(m)`: the step between two tar headers, one call."""
        pos = self._pos + n
        end = pos + m
        chunk = self._chunk
        if end <= len(chunk):  # the common case: both within the current piece
            self._pos = end
            return chunk[pos:end]
        self.skip(n)
        return self.read(m)

    def drain(self) -> None:
        """Read to the end (tar padding included) so the digest covers every byte."""
        self._chunk, self._pos = b"", 0
        while not self._eof:
            self._fill()
            self._chunk = b""


_AHEAD = 4  # decompressed pieces the producer thread may hold ready for the parse


class _Producer:
    """The thread that reads and decompresses a blob for `_DigestingReader`.

    Pieces pass through a bounded queue, so memory stays flat (at most `_AHEAD` pieces
    of at most `PIECE` bytes wait). An exception in the thread (CorruptInput, a registry
    error) is passed along the queue and raised by `next()` in the parsing thread,
    in stream order, so every error path is the same as without the thread.
    """

    def __init__(self, reader: _DigestingReader) -> None:
        self._reader = reader
        self._raw = reader._raw
        if reader.compression != "none":  # the parse thread hashes the stored bytes
            self._raw.kept = []
        self._queue: queue.Queue[tuple[list[bytes] | None, bytes] | BaseException]
        self._queue = queue.Queue(_AHEAD)
        self._stopping = False
        self._done = False  # the end (or an error) was taken
        self._thread = threading.Thread(target=self._run, name="imgaudit-inflate", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        reader, raw, put = self._reader, self._raw, self._queue.put
        try:
            while not self._stopping:
                out = reader._output()
                kept = raw.kept
                if kept is not None:
                    raw.kept = []
                if len(out) > PIECE:
                    # One zstd call on a bomb's highly compressed input can give tens of
                    # MB at once: queued whole, `_AHEAD` of them were ~250 MB. In PIECE
                    # slices the queue holds what its docstring says.
                    for start in range(0, len(out), PIECE):
                        put((kept if start == 0 else None, out[start : start + PIECE]))
                    continue
                put((kept, out))
                if not out:
                    break
        except BaseException as exc:  # raised again by next(), in the parsing thread
            put(exc)

    def next(self) -> bytes:
        """The next piece; b"" at the end (the thread has finished: digests are final)."""
        if self._done:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._done = True
            self._thread.join()
            raise item
        kept, out = item
        if kept:
            update = self._raw.hash.update
            for data in kept:  # in stream order: the blob digest
                update(data)
        if not out:
            self._done = True
            self._thread.join()
        return out

    def stop(self) -> None:
        """End the thread early (an error in the parse): unblock it and wait for it."""
        self._stopping = True
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()


def _clean_path(name: str, what: str) -> str:
    """Image-relative path of a tar entry; unsafe names are errors, never joined anywhere.

    Names that are not UTF-8 keep tarfile's surrogate escapes (the report writers turn
    them back into the original bytes), so a whiteout in a later layer still matches.
    """
    if (
        name
        and name[0] not in "/."
        and name[-1] != "/"
        and "//" not in name
        and "/." not in name
        and "\x00" not in name
    ):
        return name  # already clean (no empty, "." or ".." part): most names
    if "\x00" in name:
        raise CorruptInput(f"{what}: entry name contains NUL: {name!r}")
    if name.startswith("/"):
        raise CorruptInput(f"{what}: absolute path in layer: {name!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise CorruptInput(f"{what}: path with '..' in layer: {name!r}")
    return "/".join(parts)


def _open_tar(reader: Any, what: str) -> tarfile.TarFile:
    """A streaming tar reader (it parses the first header at once: see `_members`)."""
    try:
        return tarfile.open(fileobj=reader, mode="r|", errorlevel=2)
    except (ValueError, OverflowError) as exc:
        raise CorruptInput(f"{what}: unreadable tar header ({exc})") from None


def _members(tar: tarfile.TarFile, what: str) -> Iterator[tarfile.TarInfo]:
    """The tar's headers; a header tarfile cannot make sense of is damage, not a bug.

    tarfile lets some absurd PAX values escape as ValueError/OverflowError (a length
    field of 10**20, `GNU.sparse` maps that do not parse): those are the input's fault.
    """
    while True:
        try:
            info = tar.next()
        except (ValueError, OverflowError) as exc:
            raise CorruptInput(f"{what}: unreadable tar header ({exc})") from None
        if info is None:
            return
        # tarfile keeps every TarInfo it has read (for random access we never make):
        # ~500 bytes an entry, 0.5 GB for a million. Dropped as we go.
        tar.members = []  # type: ignore[attr-defined]
        yield info


def _bounded(value: Any, low: int, high: int) -> int | None:
    """`value` as an int when it is a finite number within [low, high], else None."""
    try:
        number = int(value)
    except (ValueError, OverflowError, TypeError):
        return None
    return number if low <= number <= high else None


def index_layer(
    layer: Layer,
    policy: CapturePolicy = DEFAULT_POLICY,
    max_ratio: int = DEFAULT_MAX_RATIO,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    handoff: Callable[[LayerIndex], None] | None = None,
) -> LayerIndex:
    """Stream one layer blob into its index, verifying its digest (see `_verify`).

    Hostile content either becomes an error (CorruptInput: exit 2, one line) or a line
    in `index.skipped` (reported as IN001): unsafe names (`..`, absolute, NUL) and
    unreadable headers or streams are errors, since the layer cannot be modelled
    faithfully; entry types imgaudit does not model, malformed whiteouts and absurd
    metadata values (mtime, uid) are skipped or clamped and recorded. Links are stored
    as written and never followed here (fs.resolve stays inside the image model).

    `handoff` (worker processes): called with the index so far every BATCH_ENTRIES
    entries, which are then dropped here; the returned index holds the rest only.
    """
    keep_big_blocks()
    what = f"layer {layer.index} ({layer.locator.describe()})"
    index = LayerIndex(diff_id=layer.diff_id, digest=layer.digest)
    try:
        raw = layer.locator.open()
    except OSError as exc:
        raise CorruptInput(f"{what}: cannot open ({exc.strerror or exc})") from None
    with raw:
        reader = _DigestingReader(raw, what, max_ratio, threaded=THREADED)
        try:
            batches = _Batches(index, max_entries, what, handoff)
            _read_members(reader, index, policy, what, None, batches)
            reader.drain()
        except CorruptInput:
            raise
        except _STREAM_ERRORS as exc:
            raise CorruptInput(f"{what}: not a readable tar stream ({exc})") from None
        finally:
            reader.close()
            release_spare_heads()
    index.tar_size = reader.produced
    _verify(reader, layer, what)
    return index


def _read_members(
    reader: _DigestingReader,
    index: LayerIndex,
    policy: CapturePolicy,
    what: str,
    spill: str | None,
    batches: _Batches,
) -> None:
    """Index every tar member: auditor.tarstream (fast), tarfile for what it leaves over."""
    stream: Any = reader
    if TAR_READER == "tarstream":
        try:
            # Entries are tuples of atoms, contents bytes: no cycles, and with the
            # collector on, its collections (triggered by these allocations) re-walk
            # everything built so far: ~15% of reading a layer of small files.
            with gc_paused():
                _read_tarstream(reader, index, policy, what, spill, batches)
            return
        except tarstream.Fallback as fallback:
            stream = _Prefixed(fallback.replay, reader)
    with _open_tar(stream, what) as tar:
        for tarinfo in _members(tar, what):
            _index_entry(tar.extractfile, tarinfo, index, policy, what, spill)
            batches.after_entry()


_REGULAR, _DIRECTORY, _SYMBOLIC = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE


def _read_tarstream(
    reader: _DigestingReader,
    index: LayerIndex,
    policy: CapturePolicy,
    what: str,
    spill: str | None,
    batches: _Batches,
) -> None:
    """`tarstream.iter_members` and `_index_entry` in one loop, with a fast path for the
    entry nearly every layer is made of.

    Why: on a layer of small files the cost is per entry (~7 us at 434k entries, most
    of it Python calls: the generator, header parse, Member and Content objects, the
    entry, the capture match, reading each file's first bytes for the ELF magic,
    bench/PROFILE.md). The fast path takes a header `tarstream.parse_header` would
    parse itself (`tarstream.COMMON`, valid checksum, ASCII block, the ustar prefix
    joined as it joins it) of a regular file, directory or symlink whose name needs no
    cleaning (which also rules out whiteouts and AUFS names): it is parsed inline, its
    entry made here, and the ELF magic looked at in the reader's current piece without
    consuming it. Every
    other header and entry goes through `tarstream` and `_index_entry` as before, and
    every file whose content is kept through `_index_content`: the index is the same
    byte for byte (bench/PROFILE.md, tests/test_layers.py)."""
    common = tarstream.COMMON.match
    adler32 = zlib.adler32
    new_entry, entry_type, magic = _new_entry, Entry, ELF_MAGIC
    by_last, every_rule = policy._by_last_char, policy._regex
    captures, elf, shebang = policy.captures, policy.elf, policy.shebang_head
    global_pax: dict[str, str] = {}
    buf = reader.read(BLOCK_SIZE)
    if len(buf) < BLOCK_SIZE:
        raise tarfile.ReadError("empty file" if not buf else "truncated header")
    append = index.entries.append  # type: ignore[union-attr] # the reader's index: a list
    room = batches.room()
    contents = _captured(index)
    contents_room = BATCH_CONTENTS if batches.handoff is not None else 1 << 62
    fast = 0
    owners: dict[bytes, tuple[int, int, int]] = {}
    mtimes: dict[bytes, int] = {}
    # The reader's current piece and position, kept here (~5 attribute accesses an
    # entry): written back before every call that reads, read again after it.
    chunk, pos = reader._chunk, reader._pos
    try:
        while True:
            m = common(buf, 100)
            if (
                m is not None
                and (fields := m.groups())[6] in _FAST_TYPES
                and buf.isascii()
                # The checksum as `tarstream.parse_header` checks it; the field's bytes
                # are its six octal digits (so their sum is told by its value), NUL, space.
                and (chk := int(fields[5], 8))
                == (adler32(buf, 0) & 0xFFFF)
                - _OCTAL_DIGIT_SUM[chk >> 9]
                - _OCTAL_DIGIT_SUM[chk & 511]
                - 64
                and (name := buf[: (n if (n := buf.find(b"\0", 0, 100)) >= 0 else 100)].decode())
                and (fields[6] != _DIRECTORY or (name := name.rstrip("/")))
                and (
                    not buf[345]
                    # The ustar prefix (a third of a Python layer's names are longer than
                    # 100 bytes: Go's archive/tar, which writes docker's and BuildKit's
                    # layers, splits them there), joined as `tarstream.parse_header` does.
                    or (name := _prefix(buf) + "/" + name)
                )
                # "./usr/bin/x" (`tar -C rootfs -c .`, a `docker import`ed base): the
                # name `_clean_path` makes of it, when the rest is clean
                and (name[:2] != "./" or (name := name[2:]))
                and name[0] not in "/."
                and name[-1] != "/"
                and "//" not in name
                and "/." not in name
            ):
                # A clean name has no "" "." ".." part, so no ".wh." part either.
                fast += 1
                mode_, uid_, gid_, size_, mtime_, _, kind = fields
                # Most entries share a few owners, modes and mtimes: their fields' bytes
                # (checked octal digits) looked up instead of converted (~0.2 us an entry).
                ids = owners.get(key := buf[100:124])  # the mode, uid and gid fields
                if ids is None:
                    ids = (int(mode_, 8) & 0o7777, int(uid_, 8), int(gid_, 8))
                    if len(owners) < _MEMO:
                        owners[key] = ids
                mode, uid, gid = ids
                mtime = mtimes.get(mtime_)
                if mtime is None:
                    mtime = int(mtime_, 8)
                    if len(mtimes) < _MEMO:
                        mtimes[mtime_] = mtime
                advance = 0
                if kind == _REGULAR:
                    size = int(size_, 8)
                    append(new_entry(entry_type, (name, FILE, mode, uid, gid, size, mtime, "")))
                    if size:
                        advance = size + (-size % BLOCK_SIZE)
                        regex = by_last.get(name[-1], every_rule)  # CapturePolicy.match
                        capture = None
                        if regex is not None:
                            found = regex.match(name[::-1])
                            if found is not None and found.lastgroup is not None:
                                capture = captures[int(found.lastgroup[1:])]
                        executable = mode & 0o111 and shebang
                        if capture is not None or executable or elf:
                            # `_index_content` on the bytes at hand when they are in the
                            # reader's current piece (nothing consumed: skipped as a whole).
                            end = pos + (size if size < 4 else 4)
                            slow = end > len(chunk)
                            if not slow:
                                head = chunk[pos:end]
                                if elf and head == magic:
                                    slow = True
                                elif capture is not None:
                                    keep = min(size, capture.limit)
                                    if pos + keep > len(chunk) or (
                                        keep < size and not capture.head
                                    ):
                                        slow = True
                                    else:
                                        contents[name] = chunk[pos : pos + keep]
                                        if len(contents) >= contents_room:
                                            batches.after_entry()
                                            append = index.entries.append  # type: ignore[union-attr]
                                            contents = _captured(index)
                                            room = batches.room() + 1
                                elif executable and head[:2] == b"#!":
                                    slow = True
                            if slow:
                                reader._pos = pos
                                content = tarstream.Content(reader, size)
                                fh = cast(IO[bytes], content)
                                _index_content(
                                    fh, name, size, capture, executable, index, policy, spill
                                )
                                chunk, pos = reader._chunk, reader._pos
                                advance = content.remaining + (-size % BLOCK_SIZE)
                                batches.after_entry()
                                append = index.entries.append  # type: ignore[union-attr]
                                contents = _captured(index)
                                room = batches.room() + 1
                elif kind == _DIRECTORY:
                    append(new_entry(entry_type, (name, DIR, mode, uid, gid, 0, mtime, "")))
                else:
                    end = buf.find(b"\0", 157, 257)
                    link = buf[157 : end if end >= 0 else 257].decode()
                    append(new_entry(entry_type, (name, SYMLINK, mode, uid, gid, 0, mtime, link)))
                room -= 1
                if room <= 0:  # what `_Batches.after_entry` checks after every entry
                    batches.after_entry()
                    append = index.entries.append  # type: ignore[union-attr]
                    contents = _captured(index)
                    room = batches.room()
            else:
                reader._pos = pos
                info = tarstream.header(buf)
                if info is None:
                    return
                if info.type not in tarstream.PLAIN_TYPES:
                    info = tarstream.extended(reader, buf, info, global_pax)
                    if info is None:
                        return
                size = info.size if info.type in tarstream.WITH_CONTENT else 0
                content = tarstream.Content(reader, size)
                _index_entry(lambda _info, c=content: c, info, index, policy, what, spill)  # type: ignore[misc]
                batches.after_entry()
                append = index.entries.append  # type: ignore[union-attr]
                contents = _captured(index)
                room = batches.room()
                chunk, pos = reader._chunk, reader._pos
                advance = content.remaining + (-size % BLOCK_SIZE)
            # The next header: `reader.skip_read(advance, BLOCK_SIZE)`, inlined.
            start = pos + advance
            end = start + BLOCK_SIZE
            if end <= len(chunk):
                pos = end
                buf = chunk[start:end]
            else:
                reader._pos = pos
                buf = reader.skip_read(advance, BLOCK_SIZE)
                chunk, pos = reader._chunk, reader._pos
                if len(buf) < BLOCK_SIZE:
                    return
    finally:  # the reader's own position is right here (every exit follows a call to it)
        tarstream.FAST_HEADERS[0] += fast


_FAST_TYPES = (_REGULAR, _DIRECTORY, _SYMBOLIC)


def _prefix(header: bytes) -> str:
    """The ustar prefix field of an ASCII header (up to its first NUL)."""
    end = header.find(b"\0", 345, 500)
    return header[345 : end if end >= 0 else 500].decode()


_MEMO = 4096  # distinct header fields remembered per layer (hostile layers: all distinct)
# The sum of the octal digits of 0..511 (three digits each): a 6-digit field in two looks.
_OCTAL_DIGIT_SUM = [sum(map(int, f"{i:o}")) for i in range(512)]
BLOCK_SIZE = tarstream.BLOCK


BATCH_ENTRIES = 16384  # entries a worker holds before handing them over (~5 MB)
BATCH_CONTENTS = 4096  # or captured files


class _Batches:
    """After each entry: the tar-bomb guard (entries of the whole layer), and in a
    worker the hand-over of a full batch, so a worker's memory does not grow with the
    layer (a 62k-entry layer held ~25 MB of index until its end)."""

    def __init__(
        self,
        index: LayerIndex,
        max_entries: int,
        what: str,
        handoff: Callable[[LayerIndex], None] | None,
    ) -> None:
        self.index = index
        self.max_entries = max_entries
        self.what = what
        self.handoff = handoff
        self.handed = 0  # entries already handed over

    def room(self) -> int:
        """Entries that can be added before `after_entry` has anything to do, when no
        content is kept meanwhile (`_read_tarstream` calls it only then)."""
        room = self.max_entries - self.handed + 1 - len(self.index.entries)
        if self.handoff is not None:
            room = min(room, BATCH_ENTRIES - len(self.index.entries))
        return room

    def after_entry(self) -> None:
        index = self.index
        count = len(index.entries)
        if self.handed + count > self.max_entries:
            raise CorruptInput(
                f"{self.what}: over {self.max_entries} entries (a tar bomb?); "
                "raise --max-entries to read it"
            )
        if self.handoff is None:
            return
        if count >= BATCH_ENTRIES or len(index.contents) >= BATCH_CONTENTS:
            self.handoff(index)
            self.handed += count
            index.entries, index.whiteouts, index.opaque_dirs, index.skipped = [], [], [], []
            index.contents, index.elf = {}, {}


class _Prefixed:
    """A stream with some already-read bytes put back in front (tarstream's fallback)."""

    def __init__(self, prefix: bytes, rest: _DigestingReader) -> None:
        self._prefix = prefix
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if not self._prefix:
            return self._rest.read(n)
        if n < 0:
            data, self._prefix = self._prefix, b""
            return data + self._rest.read()
        data, self._prefix = self._prefix[:n], self._prefix[n:]
        return data + (self._rest.read(n - len(data)) if n > len(data) else b"")


def _verify(reader: _DigestingReader, layer: Layer, what: str) -> None:
    """The stored blob must be the one the manifest names (its sha256 digest); an
    uncompressed blob is its own tar, so the config's diff_id must name it too.

    A compressed blob's diff_id (the sha256 of what it inflates to) is not computed:
    the blob's digest already fixes every byte it inflates to (gzip's CRC-32 and zstd's
    checksum, where the writer added one, check the inflater), so a second hash of the
    tar, a third of the CPU that inflating it with ISA-L takes, would check only the
    config's claim. Engines check that claim when they load an image; imgaudit does not
    lean on it (bench/PROFILE.md, "The diff_id of a compressed blob"): an index read
    from a compressed blob is cached under the blob's digest (auditor/cache.py), and an
    image's stored results are keyed by its layers' blob digests as well as its config
    (auditor/results.py), so a config that lies about a diff_id cannot make another
    image's scan read this blob's index.
    """
    # Only sha256 is computed: any other algorithm would be accepted unchecked, so it
    # is refused (a digest is never silently taken on trust).
    for name, value in (("digest", layer.digest), ("diff_id", layer.diff_id)):
        if not value.startswith("sha256:"):
            raise CorruptInput(f"{what}: unsupported {name} {value!r} (imgaudit verifies sha256)")
    blob = reader.blob_digest
    if blob != layer.digest:
        raise CorruptInput(f"{what}: digest mismatch (expected {layer.digest}, content is {blob})")
    if reader.compression == "none" and blob != layer.diff_id:
        raise CorruptInput(
            f"{what}: diff_id mismatch (config says {layer.diff_id}, content is {blob})"
        )


def _index_entry(
    extract: Callable[[Any], IO[bytes] | None],
    info: tarfile.TarInfo | tarstream.Member,
    index: LayerIndex,
    policy: CapturePolicy,
    what: str,
    spill: str | None,
) -> None:
    path = _clean_path(info.name, what)
    if not path:
        return  # the root directory itself
    base = path.rpartition("/")[2]  # posixpath.basename, cheaper
    if META_PREFIX in path and _is_aufs_meta(path):
        return  # AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not image content
    if base.startswith(WHITEOUT_PREFIX):
        parent = posixpath.dirname(path)
        if base == OPAQUE_MARKER:
            index.opaque_dirs.append(parent)
        else:
            target = base[len(WHITEOUT_PREFIX) :]
            if target in ("", ".", ".."):
                index.skipped.append(f"{path}: malformed whiteout")
                return
            index.whiteouts.append(posixpath.join(parent, target) if parent else target)
        return
    kind = _KIND.get(info.type)
    if kind is None:
        index.skipped.append(f"{path}: unsupported tar entry type {info.type!r}")
        return
    link = ""
    if kind == SYMLINK:
        link = info.linkname
    elif kind == HARDLINK:
        link = _clean_path(info.linkname, what)
    size = info.size if kind == FILE else 0
    if size < 0:
        raise CorruptInput(f"{what}: negative size for {path!r}")
    if size > _INT64:  # no stream holds that much (and the index stores int64 sizes)
        raise CorruptInput(f"{what}: not a readable tar stream ({path!r}: size {size})")
    mtime: int | None = info.mtime  # type: ignore[assignment] # checked next
    uid: int | None = info.uid
    gid: int | None = info.gid
    if not (  # ints in range, as every header of the fast path gives: _bounded is a no-op
        type(mtime) is int
        and type(uid) is int
        and type(gid) is int
        and -_INT64 <= mtime <= _INT64
        and 0 <= uid <= _ID_MAX
        and 0 <= gid <= _ID_MAX
    ):
        mtime = _bounded(info.mtime, -_INT64, _INT64)
        uid, gid = _bounded(info.uid, 0, _ID_MAX), _bounded(info.gid, 0, _ID_MAX)
    if mtime is None or uid is None or gid is None:
        index.skipped.append(
            f"{path}: absurd metadata (mtime {info.mtime!r}, uid {info.uid!r}, gid {info.gid!r})"
            " recorded as 0"
        )
    index.entries.append(  # type: ignore[union-attr] # the reader's index holds a list
        _new_entry(
            Entry, (path, kind, info.mode & 0o7777, uid or 0, gid or 0, size, mtime or 0, link)
        )
    )
    if kind != FILE or size == 0:
        return
    capture = policy.match(path)
    executable = info.mode & 0o111 and policy.shebang_head
    if not policy.elf and capture is None and not executable:
        return
    fh = extract(info)
    if fh is None:
        return
    _index_content(fh, path, size, capture, executable, index, policy, spill)


def _index_content(
    fh: IO[bytes],
    path: str,
    size: int,
    capture: Capture | None,
    executable: int | bool,
    index: LayerIndex,
    policy: CapturePolicy,
    spill: str | None,
) -> None:
    """What the index keeps of a regular file's content (`fh`, at its start): an ELF
    file's link facts, a captured file's bytes, an executable script's shebang."""
    head = fh.read(min(4, size))
    if policy.elf and head == ELF_MAGIC:
        major_minor = policy.probes_version(path)
        probe = VersionProbe(fh, major_minor, head) if major_minor else None
        facts = parse_elf_stream(cast(IO[bytes], probe) if probe else fh, head, spill)
        if probe is not None:
            probe.drain(size)
            facts = dataclasses.replace(facts, python_versions=tuple(probe.versions()))
        index.elf[path] = facts
        _captured(index).pop(path, None)
        if size >= _TRIM_AFTER:
            trim_heap()
        return
    if capture is None:
        if executable and head[:2] == b"#!":  # a script: its shebang names its interpreter
            keep = min(size, policy.shebang_head)
            _captured(index)[path] = head + fh.read(max(0, keep - len(head)))
        return
    if size > capture.limit and not capture.head:
        index.skipped.append(f"{path}: {size} bytes, {CAPTURE_LIMIT} {capture.limit}")
        return
    _captured(index)[path] = head + fh.read(max(0, min(size, capture.limit) - len(head)))


def _captured(index: LayerIndex) -> dict[str, bytes]:
    """The captured contents of an index this reader is filling: a dict (a decoded
    index holds a read-only `Contents`)."""
    assert isinstance(index.contents, dict)
    return index.contents


def index_layers(
    layers: tuple[Layer, ...],
    cache: Any = None,
    jobs: int = 0,
    policy: CapturePolicy = DEFAULT_POLICY,
    max_ratio: int = DEFAULT_MAX_RATIO,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    while_waiting: Callable[[], object] | None = None,
) -> list[LayerIndex]:
    """Indexes for `layers`, in order: from the cache where present, the rest read once
    each, in parallel worker processes when more than one layer needs reading.

    A blob that appears twice in one image (same digest) is read once.
    `while_waiting`: called once in this process once the first workers are started (not
    at all when no worker is), for work that would otherwise wait for the layers.
    """
    import os

    found: dict[str, LayerIndex] = {}  # by blob digest
    todo: dict[str, Layer] = {}
    for layer in layers:
        if layer.digest in found or layer.digest in todo:
            continue
        cached = cache.get(layer) if cache is not None else None
        if cached is not None:
            found[layer.digest] = cached
        else:
            todo[layer.digest] = layer
    cores = jobs or os.cpu_count() or 1

    def read_here(layer: Layer) -> None:
        index = index_layer(layer, policy, max_ratio, max_entries)
        found[layer.digest] = index
        if cache is not None:
            cache.put(index)
        index.entries = EntryTable.of(index.entries)  # as decoded ones are held

    if min(len(todo), cores) > 1:
        from auditor import indexcodec

        def decode(digest: str, data: bytes) -> None:
            found[digest] = indexcodec.decode(data)

        # A small layer (ENV, WORKDIR, COPY of a few files) is read here, while the
        # workers read the big ones: a worker of its own cost more than its reading
        # (~30 ms: the fork, its connection, its exit), one after another in a slot.
        small = [ly for ly in todo.values() if _small(ly)]
        big = [ly for ly in todo.values() if not _small(ly)]
        if not big:  # the small ones go to workers: there is no other work to wait for
            big, small = small, []

        def waiting() -> None:
            for layer in small:
                read_here(layer)
            if while_waiting is not None:
                while_waiting()

        _read_in_workers(
            big,
            min(len(big), cores),
            cache,
            policy,
            max_ratio,
            max_entries,
            decode,
            waiting,
        )
    else:
        for layer in todo.values():
            read_here(layer)
    return [found[layer.digest] for layer in layers]


#: Stored bytes of a layer read in the parent process rather than by a worker
SMALL_LAYER = 256 << 10


def _small(layer: Layer) -> bool:
    return layer.size is not None and layer.size <= SMALL_LAYER


def _read_in_workers(
    todo: list[Layer],
    workers: int,
    cache: Any,
    policy: CapturePolicy,
    max_ratio: int,
    max_entries: int,
    ready: Callable[[str, bytes], None],
    while_waiting: Callable[[], object] | None = None,
) -> None:
    """Each layer read in a forked process of its own, at most `workers` at a time,
    largest first (the long poles start early); `ready(digest, encoded index)` for each.

    Memory is why it is not a process pool. A worker sends back its index in the compact
    encoding (and writes it to the cache itself), then exits: a pool's long-lived workers
    keep their peak (an ELF parse of a big library, the allocator's free lists) until
    the scan ends, and every worker forked later would copy a parent that already holds
    decoded indexes. Here the results stay encoded (a few MB) until the last worker has
    been forked, so every fork starts from the same lean parent; from then on each result
    goes to `ready` as it comes (the parent decodes a big layer while the last workers
    still read: on a million-file image ~0.4 s of decoding off the critical path).
    """
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("fork")
    pending = sorted(todo, key=lambda ly: -(ly.size or 0))
    running: dict[Any, tuple[Any, Layer]] = {}  # receiving end -> (process, layer)
    held: dict[str, bytes] = {}  # results that came while forks were still to be made
    try:
        while pending or running:
            while pending and len(running) < workers:
                layer = pending.pop(0)
                receive, send = ctx.Pipe(duplex=False)
                args = (send, layer, cache, policy, max_ratio, max_entries)
                proc = ctx.Process(target=_worker, args=args, daemon=True)
                proc.start()
                send.close()
                running[receive] = (proc, layer)
            if while_waiting is not None:
                # Once the first workers run, not after the last fork: this process
                # does not receive while it works, and a worker whose result is not
                # taken blocks in its send (a 0.15 s import of the checks after the
                # last fork held back the largest layer's result on the critical
                # path). A worker forked later copies nothing it would not read.
                while_waiting()
                while_waiting = None
            for conn in wait(list(running)):
                proc, layer = running.pop(conn)
                try:
                    ok, result = cast(tuple[bool, Any], conn.recv())  # type: ignore[union-attr,call-arg]
                except EOFError:
                    proc.join()
                    raise RuntimeError(
                        f"the worker reading layer {layer.index} died (exit code {proc.exitcode})"
                    ) from None
                finally:
                    conn.close()  # type: ignore[union-attr]
                proc.join()
                if not ok:
                    raise cast(BaseException, result)
                held[layer.digest] = cast(bytes, result)
                if not pending:  # no fork is left to make: a lean parent no longer matters
                    while held:
                        ready(*held.popitem())
    finally:
        for proc, _ in running.values():
            proc.terminate()
        for receive, (proc, _) in running.items():
            proc.join()
            receive.close()
    while held:
        ready(*held.popitem())


def _worker(
    send: Any,
    layer: Layer,
    cache: Any,
    policy: CapturePolicy,
    max_ratio: int,
    max_entries: int,
) -> None:
    """One layer, in a worker process: (True, encoded index) or (False, the exception)."""
    from auditor import indexcodec

    try:
        parts = indexcodec.Parts()
        rest = index_layer(layer, policy, max_ratio, max_entries, handoff=parts.add)
        result = parts.finish(rest)
        if cache is not None:
            cache.put_encoded(rest.digest, result)
        send.send((True, result))
    except BaseException as exc:  # the parent raises it
        try:
            send.send((False, exc))
        except Exception:  # an exception that does not pickle
            send.send((False, RuntimeError(f"layer {layer.index}: {exc!r}")))
    finally:
        send.close()
