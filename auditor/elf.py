"""ELF link facts, extracted while a layer streams, in bounded memory.

Kept: what glibc's loader checks in the header before it maps a file (class, data
encoding, version, OS ABI, machine, type, program headers, PT_LOAD alignment and extent,
PT_DYNAMIC), and what linkage analysis needs: PT_INTERP, DT_NEEDED, DT_SONAME, DT_RPATH,
DT_RUNPATH, DT_FLAGS_1, symbol versions needed (verneed, per library; weak references
left out) and defined (verdef), and whether the file is stripped (no SHT_SYMTAB). The
result is typed (auditor/elffacts.py): `ElfFacts`, or `UnreadableElf` with what the
header said.

The layer is a forward-only tar stream, so the file is read ONCE, front to back, and
only the ranges the headers point at are kept:

- the ELF header and the program headers (right after it in every real file);
- a prefix of the file up to the end of PT_DYNAMIC/PT_INTERP, but never more than
  PREFIX_CAP bytes: the dynamic string table and the version tables that .dynamic
  points at sit in the first read-only segment, before .dynamic, in every layout the
  GNU and LLVM linkers produce;
- when a string table lies (in part) beyond the prefix (a library whose .dynsym and
  .dynstr pass PREFIX_CAP), the strings that can be a library name, a search path or a
  version name (not C++ mangled symbols: "_Z...") are harvested from it as it streams
  past, up to HARVEST_CAP bytes: names the linker wrote late (DT_SONAME, DT_RPATH,
  version names, which GNU ld appends after every symbol) are found there. Skipped
  bytes that are text (a 4 KB sample first, then the chunk) within PREFIX_CAP bytes
  after the prefix start a harvest, bytes that are not end it; one run is harvested;
- when PT_DYNAMIC lies beyond the prefix (a huge .text before .data), the TAIL_CAP
  bytes just before it: patchelf (auditwheel repair, i.e. most manylinux wheels)
  rewrites .dynstr and the version tables into a new segment right there;
- PT_DYNAMIC itself, and any table .dynamic points at that lies after it, read as the
  stream passes: a string table after .dynamic (patchelf's other layout: a new segment
  at the end of the file) of any size is streamed through, keeping only the strings at
  the offsets .dynamic names and the harvestable ones;
- the section header table at e_shoff (only sh_type is looked at: SHT_SYMTAB present
  means "not stripped"), read in file order with the tables .dynamic points at:
  patchelf leaves it between .dynamic and the string table it appends.

Everything else is skipped without being stored, so a 1 GB shared library costs at
most PREFIX_CAP + TAIL_CAP + a few capped ranges of memory, and is parsed with `struct`
(no general-purpose ELF object model: fast). A string the kept ranges do not hold gives
an `UnreadableElf` that says so (reported, never silently dropped), as does a truncated
or corrupt file.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import mmap
import re
import struct
from collections.abc import Callable
from typing import IO, Any

from auditor.elffacts import ELFCLASS32, ELFCLASS64, AnyElf, ElfFacts, UnreadableElf

ELF_MAGIC = b"\x7fELF"
PREFIX_CAP = 32 << 20  # head of a file kept at most (dynstr + version tables live there)
RANGE_CAP = 16 << 20  # any other single range kept (PT_DYNAMIC, section headers, tables)
TAIL_CAP = 16 << 20  # bytes kept just before PT_DYNAMIC when it lies beyond the prefix
HARVEST_CAP = 8 << 20  # bytes of harvested strings kept at most (see the module docstring)
BIG_STRTAB = 4 << 20  # a string table after .dynamic this big is streamed, not kept
VERSION_SPAN = 1 << 20  # bytes read for a version table found after .dynamic (no size in DT_*)
MAX_LIST = 4096  # cap on DT_NEEDED / version entries kept per file (hostile input)
SKIP_CHUNK = 1 << 20
PAGE_SIZE = 4096  # glibc rejects PT_LOADs whose vaddr and offset differ modulo the page size

# glibc 2.36, elf/dl-load.c open_verify and sysdeps/gnu/ldsodefs.h: the OS ABIs and ABI
# versions the loader accepts (ELFOSABI_GNU with ABI versions below LIBC_ABI_MAX, which
# is 4 on x86_64: UNIQUE, IFUNC, ABSOLUTE).
ELFOSABI_SYSV, ELFOSABI_GNU = 0, 3
LIBC_ABI_MAX = 4


@functools.cache
def _names() -> tuple[dict[int, str], dict[int, str]]:
    """e_machine and e_type numbers -> names (EM_X86_64, ET_DYN), from pyelftools' tables.

    Deferred: start-up time, see README "Performance". Only a scan that parses ELF
    files (reads a layer) needs pyelftools; a warm one should not pay for its import."""
    from elftools.elf.enums import ENUM_E_MACHINE, ENUM_E_TYPE

    machines = {v: k for k, v in ENUM_E_MACHINE.items() if isinstance(v, int)}
    types = {v: k for k, v in ENUM_E_TYPE.items() if isinstance(v, int)}
    return machines, types


PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
SHT_SYMTAB = 2
DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 1, 5, 10, 14, 15, 29
DT_FLAGS_1 = 0x6FFFFFFB
DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = (
    0x6FFFFFFC,
    0x6FFFFFFD,
    0x6FFFFFFE,
    0x6FFFFFFF,
)
VER_FLG_BASE, VER_FLG_WEAK = 0x1, 0x2

# Strings worth keeping from a table the parser cannot keep whole: a library name
# (".so"), a path ("/", "$ORIGIN"), or a version name (no "_Z" mangling, no spaces).
_HARVEST = re.compile(
    rb"(?<=\0)(?!_Z)(?:[^\0]*(?:\.so|/|\$)[^\0]*|[A-Za-z_][A-Za-z0-9_.@-]{0,127})(?=\0)"
)
# The bytes a dynamic string table is made of: NULs and the characters of symbol names,
# library names, search paths and version names. Other text (.rodata's messages: spaces,
# punctuation, newlines) does not pass for one, so it is never harvested.
_TABLE_CHARS = (
    b"\0" + b"_.$@-+:/~" + bytes(range(48, 58)) + bytes(range(65, 91)) + bytes(range(97, 123))
)
_NOT_TEXT = bytes(b for b in range(256) if b not in _TABLE_CHARS)
_NON_TEXT_BYTE = re.compile(b"[" + re.escape(_NOT_TEXT) + b"]")


class ElfError(Exception):
    """The file is not a well-formed ELF (or needs bytes the stream already passed)."""


class _Strings:
    """Strings of a table kept in part: (start offset, bytes up to the NUL), sorted. A
    lookup inside a kept string gives its suffix (linkers merge common suffixes)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.texts: list[bytes] = []
        self.size = 0

    def add(self, start: int, text: bytes, force: bool = False) -> bool:
        """Keep a string; False (and nothing kept) once HARVEST_CAP bytes are, unless
        `force` (a string the dynamic section names: always kept, there are few)."""
        if self.size + len(text) > HARVEST_CAP and not force:
            return False
        if self.starts and start <= self.starts[-1]:
            i = bisect.bisect_left(self.starts, start)
            if i < len(self.starts) and self.starts[i] == start:
                return True
            self.starts.insert(i, start)
            self.texts.insert(i, text)
        else:
            self.starts.append(start)
            self.texts.append(text)
        self.size += len(text)
        return True

    def find(self, at: int) -> bytes | None:
        i = bisect.bisect_right(self.starts, at) - 1
        if i < 0:
            return None
        start, text = self.starts[i], self.texts[i]
        return text[at - start :] if at - start <= len(text) else None


class _Harvester:
    """Collects harvestable strings (and those at `wanted` offsets) from consecutive
    chunks of a string table, carrying a string cut by a chunk boundary over."""

    def __init__(self, into: _Strings, start: int, carry: bytes = b"\0") -> None:
        self.into = into
        self.pos = start - len(carry)  # file offset of carry[0]
        self.carry = carry  # bytes since the last NUL seen (a NUL first: a string start)
        self.wanted: set[int] = set()
        self.full = False

    def feed(self, chunk: bytes) -> None:
        data = self.carry + chunk
        last = data.rfind(b"\0")
        if last < 0:
            self.carry = data[-4096:]
            self.pos += len(data) - len(self.carry)
            return
        body = data[: last + 1]
        if not self.full:
            for m in _HARVEST.finditer(body):
                if not self.into.add(self.pos + m.start(), m.group()):
                    self.full = True
                    break
        for at in self.wanted:
            rel = at - self.pos
            if 0 <= rel < last:
                end = body.find(b"\0", rel)
                self.into.add(at, body[rel:end], force=True)
        self.carry = data[last:]
        self.pos += last


class _Head:
    """The kept prefix of a file: bytes appended at the end, ranges copied out.

    Its storage is one anonymous mapping of PREFIX_CAP bytes, reused from one file to
    the next (`_spare_heads`) rather than a bytearray per file. Why: a big library's
    prefix is kept up to PREFIX_CAP (32 MiB: .dynsym and .dynstr of libtorch_cpu.so
    fill it), and a fresh buffer of that size is ~8,000 page faults each time it is
    filled (the heap is trimmed after each big ELF file, `memory.trim_heap`); the torch
    layer of the bench image has 11 such libraries: ~85,000 faults in its worker, about
    half of them gone with the reuse (bench/PROFILE.md). A mapping's pages fault once,
    the first time they are written, and only the pages the longest prefix so far
    touched are resident. `release_spare_heads` unmaps it after each layer. Threads that
    read layers side by side (a fleet worker) each take their own mapping: `pop` and
    `append` on the spare list are atomic, and a popped mapping is its file's alone."""

    __slots__ = ("buf", "size")

    def __init__(self, head: bytes) -> None:
        self.buf: mmap.mmap | bytearray
        try:
            self.buf = _spare_heads.pop()  # atomic under the GIL
        except IndexError:
            try:
                # private: an anonymous mapping is shared with forked children by
                # default, and two layer workers forked from a process holding a spare
                # one wrote each other's ELF tables into it (garbage DT_NEEDED names)
                self.buf = mmap.mmap(-1, PREFIX_CAP, flags=mmap.MAP_PRIVATE)
            except OSError:  # no address space for it (a low ulimit -v): grow as needed
                self.buf = bytearray()
        self.size = 0
        self += head

    def __len__(self) -> int:
        return self.size

    def __iadd__(self, data: Any) -> _Head:
        """Append `data` (bytes-like). The prefix never outgrows PREFIX_CAP; should it,
        it moves to a bytearray (the mapping cannot grow)."""
        end = self.size + len(data)
        if end > len(self.buf):  # a bytearray is always full: it grows at its end
            if not isinstance(self.buf, bytearray):  # the mapping: move to a bytearray
                grown = bytearray(self.range(0, self.size))
                self.release()
                self.buf = grown
            self.buf += data
        else:
            with memoryview(self.buf) as into:
                into[self.size : end] = data
        self.size = end
        return self

    def range(self, start: int, end: int) -> bytes:
        """A copy of bytes [start, end) of the prefix (cut at its end, as slicing is)."""
        with memoryview(self.buf) as view:
            return bytes(view[start : min(end, self.size)])

    def release(self) -> None:
        """Offer the mapping to the next file (one is kept: each thread parses one file
        at a time, and only a layer's parse thread parses them)."""
        if not isinstance(self.buf, bytearray) and not _spare_heads:
            _spare_heads.append(self.buf)
        self.buf, self.size = bytearray(), 0


_spare_heads: list[mmap.mmap] = []


def release_spare_heads() -> None:
    """Unmap the reused prefix storage (after each layer: a process that reads layers in
    its main thread does not hold up to 32 MiB for the rest of the scan)."""
    while _spare_heads:
        _spare_heads.pop().close()


class _Forward:
    """A forward-only stream with a kept prefix: `get(off, n)` serves bytes from the
    prefix, or skips ahead and reads them; bytes behind the position outside the
    prefix are gone (but for harvested strings, see the module docstring)."""

    def __init__(self, stream: IO[bytes], head: bytes) -> None:
        self._stream = stream
        self.prefix = _Head(head)
        self.pos = len(head)
        self.keeping = True  # prefix == bytes [0, pos)
        self.pieces: list[tuple[int, bytes]] = []  # (offset, bytes) kept beyond the prefix
        self.harvested = _Strings()
        self._harvester: _Harvester | None = None  # live while the prefix's table goes on
        self.harvest_done = False  # a string table was harvested (there is one to find)
        # The layer reader's member (tarstream.Content) grows the prefix with one copy and
        # passes over bytes without any; other streams (VersionProbe must see every byte)
        # are read.
        self._appender = getattr(stream, "append_to", None)
        self._skipper = getattr(stream, "pass_over", None)

    def _piece(self, off: int, n: int) -> bytes | None:
        for start, data in self.pieces:
            if start <= off and off + n <= start + len(data):
                return data[off - start : off - start + n]
        return None

    def keep_before(self, off: int) -> None:
        """Skip ahead to `off`, keeping the TAIL_CAP bytes before it: patchelf (used by
        auditwheel repair) moves .dynstr and the version tables into a new segment
        placed just before the new .dynamic, far beyond the prefix in big libraries."""
        if off <= self.pos or (self.keeping and off <= PREFIX_CAP):
            return
        self._extend_prefix(min(off, PREFIX_CAP))
        self._stop_keeping()
        start = max(self.pos, off - TAIL_CAP)
        self._skip(start - self.pos)
        data = self._read(off - start)
        if len(data) != off - start:
            raise ElfError("truncated file")
        self.pieces.append((start, data))

    def _read(self, n: int) -> bytes:
        """Up to `n` bytes (fewer at the end of the file). A big range is gathered a
        chunk at a time into one growing buffer: a single read of 16 MiB would pass
        through the layer reader's buffer and two copies (~3x its size at once)."""
        if n <= SKIP_CHUNK:
            data = self._stream.read(n)
            self.pos += len(data)
            return data
        out = bytearray()
        while len(out) < n:
            piece = self._stream.read(min(n - len(out), SKIP_CHUNK))
            if not piece:
                break
            out += piece
        self.pos += len(out)
        return out  # type: ignore[return-value] # bytes-like: struct, find, slices, decode

    def _stop_keeping(self) -> None:
        """The prefix ends here. If it was cut by PREFIX_CAP inside a string table (its
        last bytes are text), harvest the rest of that table as it streams past."""
        if not self.keeping:
            return
        self.keeping = False
        if len(self.prefix) < PREFIX_CAP:
            return
        tail = self.prefix.range(max(0, len(self.prefix) - 4096), len(self.prefix))
        cut = tail.rfind(b"\0")
        if cut >= 0 and _is_text(tail):
            self._harvester = _Harvester(self.harvested, len(self.prefix), tail[cut:])

    def _skip(self, n: int) -> None:
        while n > 0:
            if self._skipper is not None and self._no_harvest_ahead():
                skipped = self._skipper(n)  # passed over without a copy
                self.pos += skipped
                if skipped < n:
                    raise ElfError("truncated file")
                return
            data = self._read(min(n, SKIP_CHUNK))
            if not data:
                raise ElfError("truncated file")
            n -= len(data)
            self._harvest(data)

    def _no_harvest_ahead(self) -> bool:
        """Whether `_harvest` would do nothing with any bytes from here on: no table is
        being harvested and none can start (one was, or the window for one is past)."""
        return self._harvester is None and (
            self.harvest_done or self.keeping or self.pos >= 2 * PREFIX_CAP
        )

    def _harvest(self, data: bytes) -> None:
        """Harvest strings from skipped bytes that form a string table: one the kept
        prefix ended in, or one that starts later (a .dynsym bigger than the prefix
        pushes .dynstr beyond it). A chunk that is not text ends the table."""
        harvester = self._harvester
        if harvester is None:
            # Only the table .dynsym pushed past the prefix: one run of text, starting
            # within another PREFIX_CAP bytes (.rodata of a big library is text too,
            # hundreds of MB further on: not worth a look).
            if self.keeping or self.harvest_done or self.pos - len(data) >= 2 * PREFIX_CAP:
                return
            if not _is_text(data[-4096:]):
                return
            start = _text_tail(data)  # where the table starts in this chunk
            if len(data) - start < 64:
                return
            # a table starting mid-string (or the run just found): its first, partial
            # string is not preceded by a NUL in what the harvester sees: left out
            begin = self.pos - len(data) + start
            harvester = self._harvester = _Harvester(self.harvested, begin, b"")
            data = data[start:]
        if harvester.full:
            self._harvester = None
            self.harvest_done = True
            return
        other = _NON_TEXT_BYTE.search(data)
        if other is None or _is_text(data):
            harvester.feed(data)
        else:  # the table ends in this chunk: harvest up to there, then nothing more
            harvester.feed(data[: other.start()] + b"\0")
            self._harvester = None
            self.harvest_done = True

    def _extend_prefix(self, end: int) -> None:
        while self.keeping and self.pos < end:
            want = min(end - self.pos, SKIP_CHUNK)
            if self._appender is not None:  # straight into the prefix: one copy
                got = self._appender(self.prefix, want)
                self.pos += got
            else:
                data = self._read(want)
                got = len(data)
                self.prefix += data
            if not got:
                raise ElfError("truncated file")

    def _prefix_range(self, start: int, end: int) -> bytes:
        """A copy of prefix bytes."""
        return self.prefix.range(start, end)

    def get(self, off: int, n: int, limit: int = RANGE_CAP) -> bytes:
        if off < 0 or n < 0 or n > max(limit, PREFIX_CAP):
            raise ElfError(f"range {off}+{n} out of bounds")
        end = off + n
        if end <= len(self.prefix):
            return self._prefix_range(off, end)
        piece = self._piece(off, n)
        if piece is not None:
            return piece
        if self.keeping and end <= PREFIX_CAP:
            self._extend_prefix(end)
            return self._prefix_range(off, end)
        if n > limit:
            raise ElfError(f"range of {n} bytes over the cap of {limit}")
        if off < self.pos:
            raise ElfError(f"bytes at {off} already passed in the stream (outside the kept head)")
        self._extend_prefix(min(off, PREFIX_CAP))  # keep the head: tables may sit there
        self._stop_keeping()
        self._skip(off - self.pos)
        data = self._read(n)
        if len(data) != n:
            raise ElfError("truncated file")
        return data

    def get_upto(self, off: int, n: int) -> bytes:
        """Up to `n` bytes at `off` (fewer at the end of the file or of a kept range)."""
        for start, data in self.pieces:
            if start <= off < start + len(data):
                return data[off - start : off - start + n]
        if off < len(self.prefix) and (not self.keeping or off + n <= len(self.prefix)):
            return self._prefix_range(off, off + n)
        if self.keeping and off + n <= PREFIX_CAP:
            with contextlib.suppress(ElfError):
                self._extend_prefix(off + n)
            return self._prefix_range(off, off + n)
        if off < self.pos:
            return self._prefix_range(off, off + n)
        self._extend_prefix(min(off, PREFIX_CAP))
        self._stop_keeping()
        self._skip(off - self.pos)
        return self._read(n)

    def stream_strings(self, off: int, size: int, wanted: set[int]) -> _Strings:
        """The strings at `wanted` offsets (relative to `off`) and the harvestable ones
        of a table of `size` bytes at `off`, read as the stream passes it: only what is
        kept costs memory, whatever the table's size."""
        if off < self.pos:
            raise ElfError(f"bytes at {off} already passed in the stream (outside the kept head)")
        self._extend_prefix(min(off, PREFIX_CAP))
        self._stop_keeping()
        self._skip(off - self.pos)
        out = _Strings()
        harvester = _Harvester(out, 0)
        harvester.wanted = wanted
        left = size
        while left > 0:
            data = self._read(min(left, SKIP_CHUNK))
            if not data:
                raise ElfError("truncated file")
            left -= len(data)
            harvester.feed(data)
        harvester.feed(b"\0")
        return out


def _text_tail(data: bytes) -> int:
    """Where the run of text that ends `data` starts (0: all of it is text)."""
    end = len(data)
    while end > 0 and _is_text(data[max(0, end - 4096) : end]):
        end -= 4096
    if end <= 0:
        return 0
    block = data[max(0, end - 4096) : end + 4096]
    others = list(_NON_TEXT_BYTE.finditer(block))  # a few KB at most
    return max(0, end - 4096) + (others[-1].end() if others else 0)


def _is_text(data: bytes) -> bool:
    """Made (99%) of a dynamic string table's characters: a piece of one."""
    return len(data.translate(None, _NOT_TEXT)) * 100 >= len(data) * 99


def parse_elf_stream(stream: IO[bytes], head: bytes, tmpdir: str | None = None) -> AnyElf:
    """Link facts of an ELF whose first bytes (`head`) were already read from `stream`;
    the stream is read forward only and left wherever parsing stopped (the tar reader
    skips the rest). `tmpdir` is unused (kept for callers of the spooling version)."""
    del tmpdir
    return parse_elf(stream, head)


def parse_elf(fh: IO[bytes], head: bytes = b"") -> AnyElf:
    """Link facts of an ELF read forward from `fh`; an `UnreadableElf` (with what its
    header said) when the file cannot be parsed (truncated, corrupt, hostile)."""
    header: dict[str, Any] = {}
    src = None
    try:
        src = _Forward(fh, head)
        return _parse(src, header)
    except (ElfError, struct.error, UnicodeDecodeError, OverflowError, MemoryError) as exc:
        return UnreadableElf(**header, reason=f"{type(exc).__name__}: {str(exc)[:200]}")
    finally:
        if src is not None:
            src.prefix.release()


def _header_fault(ident: bytes, e_version: int) -> str | None:
    """glibc's verdict on an identification whose class matched (the order of its checks)."""
    data, version, osabi, abiversion = ident[5], ident[6], ident[7], ident[8]
    if data != 1:  # the loaders imgaudit models are little-endian (x86, arm64, ...)
        return "ELF file data encoding not little-endian"
    if version != 1:
        return "ELF file version ident does not match current one"
    if osabi not in (ELFOSABI_SYSV, ELFOSABI_GNU):
        return "ELF file OS ABI invalid"
    if abiversion != 0 and not (osabi == ELFOSABI_GNU and abiversion < LIBC_ABI_MAX):
        return "ELF file ABI version invalid"
    if any(ident[9:16]):
        return "nonzero padding in e_ident"
    if e_version != 1:
        return "ELF file version does not match current one"
    return None


def _parse(src: _Forward, header: dict[str, Any]) -> AnyElf:
    ident = src.get(0, 16)
    if ident[:4] != ELF_MAGIC:
        raise ElfError("no ELF magic")
    header["ei_class"] = ident[4]
    if ident[4] not in (ELFCLASS32, ELFCLASS64) or ident[5] not in (1, 2):
        raise ElfError(f"bad class/data bytes {ident[4]}/{ident[5]}")
    is64 = ident[4] == ELFCLASS64
    e = "<" if ident[5] == 1 else ">"
    if is64:
        hdr = struct.unpack(e + "HHIQQQIHHHHHH", src.get(16, 48))
    else:
        hdr = struct.unpack(e + "HHIIIIIHHHHHH", src.get(16, 36))
    e_type, e_machine, e_version, _, e_phoff, e_shoff, _, _, e_phentsize, e_phnum = hdr[:10]
    e_shentsize, e_shnum = hdr[10], hdr[11]
    machines, types = _names()
    header["machine"] = machines.get(e_machine, f"EM_{e_machine}")
    header["type"] = types.get(e_type, f"ET_{e_type}")
    header["header_fault"] = _header_fault(ident, e_version)
    want = 56 if is64 else 32
    fault = None
    if e_type not in (2, 3):  # ET_EXEC, ET_DYN
        fault = "only ET_DYN and ET_EXEC can be loaded"
    elif e_phentsize != want:
        fault = "ELF file's phentsize not the expected size"
    header["fault"] = fault

    # Program headers: PT_INTERP, PT_DYNAMIC, and the PT_LOAD map from addresses to offsets.
    loads: list[tuple[int, int, int]] = []  # (vaddr, filesz, offset)
    dyn_range: tuple[int, int] | None = None
    interp_range: tuple[int, int] | None = None
    empty_dynamic = False
    aligned = True
    if e_phnum and e_phoff and e_phentsize >= want:
        if e_phnum > 4096:
            raise ElfError(f"bad program header table ({e_phnum} x {e_phentsize})")
        try:
            table = src.get(e_phoff, e_phnum * e_phentsize)
        except ElfError:
            if fault is None:
                header["fault"] = "cannot read file data"
            raise
        for i in range(e_phnum):
            raw = table[i * e_phentsize : i * e_phentsize + want]
            if is64:
                p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack(e + "IIQQQQQQ", raw)
            else:
                p_type, p_offset, p_vaddr, _, p_filesz, _, _, _ = struct.unpack(e + "IIIIIIII", raw)
            if p_type == PT_LOAD:
                loads.append((p_vaddr, p_filesz, p_offset))
                aligned = aligned and (p_vaddr - p_offset) % PAGE_SIZE == 0
            elif p_type == PT_DYNAMIC:
                if p_filesz == 0:
                    empty_dynamic = True
                elif dyn_range is None:
                    dyn_range = (p_offset, p_filesz)
            elif p_type == PT_INTERP and interp_range is None:
                interp_range = (p_offset, p_filesz)
    header["mapped_end"] = max((off + size for _, size, off in loads), default=0)
    header["has_dynamic"] = dyn_range is not None and not empty_dynamic
    if fault is None:
        if not aligned:
            header["fault"] = "ELF load command address/offset not page-aligned"
        elif not loads:
            header["fault"] = "object file has no loadable segments"

    # The section header table, when its size is in the ELF header: read in file order
    # with the tables .dynamic points at (patchelf puts it between .dynamic and the
    # .dynstr it appends: read after that string table, it would have streamed past).
    has_shdrs = bool(e_shoff) and e_shentsize >= (64 if is64 else 40)
    shdrs = (e_shoff, min(e_shnum, RANGE_CAP // e_shentsize) * e_shentsize) if has_shdrs else None
    link: dict[str, Any] = {"needed": [], "verneed": {}, "verdef": []}
    for rng in sorted(r for r in (dyn_range, interp_range) if r is not None):
        if rng == interp_range:
            raw = src.get(rng[0], min(rng[1], 4096))
            link["interp"] = _text(raw.split(b"\0", 1)[0])
        else:
            src.keep_before(rng[0])
            raw = src.get(rng[0], rng[1])
            _dynamic(src, link, raw, is64, e, loads, shdrs if e_shnum else None)

    # Section headers: only their types matter (SHT_SYMTAB = symbols not stripped).
    stripped = True
    if has_shdrs:
        if e_shnum == 0:  # extended numbering: the count is in section 0's sh_size
            first = src.get(e_shoff, e_shentsize)
            e_shnum = struct.unpack_from(e + ("Q" if is64 else "I"), first, 32 if is64 else 20)[0]
        e_shnum = min(e_shnum, RANGE_CAP // e_shentsize)
        table = link.get("shdrs") or src.get(e_shoff, e_shnum * e_shentsize)
        for i in range(e_shnum):
            (sh_type,) = struct.unpack_from(e + "I", table, i * e_shentsize + 4)
            if sh_type == SHT_SYMTAB:
                stripped = False
                break
    return ElfFacts(
        **header,
        interp=link.get("interp"),
        needed=tuple(link["needed"]),
        soname=link.get("soname"),
        rpath=link.get("rpath"),
        runpath=link.get("runpath"),
        flags_1=link.get("flags_1", 0),
        verneed={k: tuple(v) for k, v in link["verneed"].items()},
        verdef=tuple(link["verdef"]),
        stripped=stripped,
    )


def _search_path(value: str) -> tuple[str, ...]:
    """A DT_RPATH/DT_RUNPATH string as ld.so splits it: an empty string lists nothing; an
    empty element between colons is the working directory (kept as "")."""
    return tuple(value.split(":")) if value else ()


def _dynamic(
    src: _Forward,
    link: dict[str, Any],
    raw: bytes,
    is64: bool,
    e: str,
    loads: list[tuple[int, int, int]],
    shdrs: tuple[int, int] | None = None,
) -> None:
    """DT_* of `raw` (PT_DYNAMIC) into `link`, the tables it points at read in file
    order; `shdrs` (offset, size), the section header table, joins that order when it
    lies beyond the stream's position (kept as ``link["shdrs"]``)."""
    fmt = e + ("qQ" if is64 else "iI")
    size = 16 if is64 else 8
    tags: list[tuple[int, int]] = []
    for i in range(len(raw) // size):
        tag, val = struct.unpack_from(fmt, raw, i * size)
        if tag == 0:
            break
        tags.append((tag, val))
    one = dict(tags)  # the last occurrence wins, as in glibc's elf_get_dynamic_info
    if DT_FLAGS_1 in one:
        link["flags_1"] = one[DT_FLAGS_1] & 0xFFFFFFFF
    if DT_STRTAB not in one:
        if any(t in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH) for t, _ in tags):
            raise ElfError("dynamic section without DT_STRTAB")
        return
    strtab_off = _offset(one[DT_STRTAB], loads)
    strsz = one.get(DT_STRSZ, 0)
    wanted = sorted({v for t, v in tags if t in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH)})
    # Tables in file order: a table after .dynamic is read as the stream passes it.
    jobs: list[tuple[int, str]] = [(strtab_off, "strtab")]
    if DT_VERNEED in one:
        jobs.append((_offset(one[DT_VERNEED], loads), "verneed"))
    if DT_VERDEF in one:
        jobs.append((_offset(one[DT_VERDEF], loads), "verdef"))
    if shdrs is not None and shdrs[0] >= src.pos and shdrs[1] <= RANGE_CAP:
        jobs.append((shdrs[0], "shdrs"))
    strings: Callable[[int], str] = _no_strings
    pending: list[tuple[int, str, bytes]] = []
    for off, what in sorted(jobs):
        if what == "shdrs":
            assert shdrs is not None
            link["shdrs"] = src.get(off, shdrs[1])
        elif what != "strtab":
            pending.append((off, what, src.get_upto(off, VERSION_SPAN)))
        elif strsz > BIG_STRTAB and off >= src.pos and not src._piece(off, strsz):
            strings = _sparse_lookup(src.stream_strings(off, strsz, set(wanted)), strsz)
        else:
            strings = _table_lookup(src, off, strsz)

    for tag, val in tags:
        if tag == DT_NEEDED and len(link["needed"]) < MAX_LIST:
            link["needed"].append(strings(val))
        elif tag == DT_SONAME:
            link["soname"] = strings(val)
        elif tag == DT_RPATH:
            link["rpath"] = _search_path(strings(val))
        elif tag == DT_RUNPATH:
            link["runpath"] = _search_path(strings(val))
    for _, what, table in pending:
        if what == "verneed":
            link["verneed"] = _verneed(table, one.get(DT_VERNEEDNUM, MAX_LIST), e, strings)
        else:
            link["verdef"] = _verdef(table, one.get(DT_VERDEFNUM, MAX_LIST), e, strings)


def _no_strings(at: int) -> str:
    raise ElfError("no dynamic string table")


def _table_lookup(src: _Forward, off: int, strsz: int) -> Callable[[int], str]:
    """String lookup in a table kept whole, or (when the stream passed part of it) in
    the part the prefix kept and the strings harvested from the rest."""
    try:
        strtab = src.get(off, strsz) if strsz else src.get_upto(off, VERSION_SPAN)
    except ElfError:
        if not src.harvested.starts:
            raise ElfError(
                f"the dynamic string table ({strsz} bytes at {off}) lies beyond what the "
                "streaming parser keeps"
            ) from None
        kept = src._prefix_range(off, len(src.prefix)) if off < len(src.prefix) else b""
        last_nul = kept.rfind(b"\0")  # a string after it runs on past the prefix
        harvested = src.harvested

        def cut_string(at: int) -> str:
            if strsz and at >= strsz:
                raise ElfError(f"string offset {at} outside the dynamic string table")
            if at <= last_nul:
                return _text(kept[at : kept.find(b"\0", at)])
            text = harvested.find(off + at)
            if text is None:
                text = _in_pieces(src, off + at)
            if text is None:
                raise ElfError(
                    f"string at {at} of a {strsz}-byte dynamic string table is beyond what "
                    "the streaming parser keeps"
                )
            return _text(text)

        return cut_string

    def string(at: int) -> str:
        if at >= len(strtab):
            raise ElfError(f"string offset {at} outside the dynamic string table")
        end = strtab.find(b"\0", at)
        return _text(strtab[at : end if end >= 0 else len(strtab)])

    return string


def _in_pieces(src: _Forward, at: int) -> bytes | None:
    """The string at file offset `at` in a range kept beyond the prefix (the bytes
    before .dynamic), when its NUL is there too."""
    for start, data in src.pieces:
        if start <= at < start + len(data):
            end = data.find(b"\0", at - start)
            return data[at - start : end] if end >= 0 else None
    return None


def _sparse_lookup(strings: _Strings, strsz: int) -> Callable[[int], str]:
    def string(at: int) -> str:
        if strsz and at >= strsz:
            raise ElfError(f"string offset {at} outside the dynamic string table")
        text = strings.find(at)
        if text is None:
            raise ElfError(
                f"string at {at} of a {strsz}-byte dynamic string table is beyond what "
                "the streaming parser keeps"
            )
        return _text(text)

    return string


def _verneed(
    table: bytes, count: int, e: str, string: Callable[[int], str]
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    at = 0
    for _ in range(min(count, MAX_LIST)):
        _, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from(e + "HHIII", table, at)
        names: set[str] = set()
        aux = at + vn_aux
        for _ in range(min(vn_cnt, MAX_LIST)):
            _, vna_flags, _, vna_name, vna_next = struct.unpack_from(e + "IHHII", table, aux)
            if not vna_flags & VER_FLG_WEAK:
                names.add(string(vna_name))
            if not vna_next:
                break
            aux += vna_next
        lib = string(vn_file)
        out[lib] = sorted(names | set(out.get(lib, [])))
        if not vn_next:
            break
        at += vn_next
    return out


def _verdef(table: bytes, count: int, e: str, string: Callable[[int], str]) -> list[str]:
    names: set[str] = set()
    at = 0
    for _ in range(min(count, MAX_LIST)):
        _, vd_flags, _, vd_cnt, _, vd_aux, vd_next = struct.unpack_from(e + "HHHHIII", table, at)
        if not vd_flags & VER_FLG_BASE and vd_cnt:  # the base entry names the file itself
            (vda_name,) = struct.unpack_from(e + "I", table, at + vd_aux)
            names.add(string(vda_name))
        if not vd_next:
            break
        at += vd_next
    return sorted(names)


def _offset(vaddr: int, loads: list[tuple[int, int, int]]) -> int:
    """File offset of a virtual address, through the PT_LOAD segment that maps it."""
    for start, filesz, offset in loads:
        if start <= vaddr < start + filesz:
            return vaddr - start + offset
    if not loads:
        return vaddr  # no segments (unusual): addresses are offsets
    raise ElfError(f"address {vaddr:#x} not in any loaded segment")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
