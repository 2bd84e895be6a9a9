"""ELF link facts, extracted while a layer streams, in bounded memory.

Only what linkage analysis needs is kept: class, machine, type, PT_INTERP, DT_NEEDED,
DT_SONAME, DT_RPATH, DT_RUNPATH, symbol versions needed (verneed, per library) and
defined (verdef), and whether the file is stripped (no SHT_SYMTAB).

The layer is a forward-only tar stream, so the file is read ONCE, front to back, and
only the ranges the headers point at are kept:

- the ELF header and the program headers (right after it in every real file);
- a prefix of the file up to the end of PT_DYNAMIC/PT_INTERP, but never more than
  PREFIX_CAP bytes: the dynamic string table and the version tables that .dynamic
  points at sit in the first read-only segment, before .dynamic, in every layout the
  GNU and LLVM linkers produce;
- when PT_DYNAMIC lies beyond the prefix (a huge .text before .data), the TAIL_CAP
  bytes just before it: patchelf (auditwheel repair, i.e. most manylinux wheels)
  rewrites .dynstr and the version tables into a new segment right there;
- PT_DYNAMIC itself, and any table .dynamic points at that lies after it (read as
  the stream passes);
- the section header table at e_shoff (only sh_type is looked at: SHT_SYMTAB present
  means "not stripped").

Everything else is skipped without being stored, so a 1 GB shared library costs at
most PREFIX_CAP + TAIL_CAP + a few capped ranges of memory, and is parsed with `struct` (no
general-purpose ELF object model: fast). A table the stream has already passed and
that fell outside the kept prefix cannot be read back: the file then gets an error
record, like a truncated or corrupt one: `{"error": reason}`; the scan goes on.
"""

from __future__ import annotations

import contextlib
import functools
import struct
from typing import IO, Any

ELF_MAGIC = b"\x7fELF"
PREFIX_CAP = 32 << 20  # head of a file kept at most (dynstr + version tables live there)
RANGE_CAP = 16 << 20  # any other single range kept (PT_DYNAMIC, section headers, tables)
TAIL_CAP = 16 << 20  # bytes kept just before PT_DYNAMIC when it lies beyond the prefix
VERSION_SPAN = 1 << 20  # bytes read for a version table found after .dynamic (no size in DT_*)
MAX_LIST = 4096  # cap on DT_NEEDED / version entries kept per file (hostile input)
SKIP_CHUNK = 1 << 20


@functools.cache
def _names() -> tuple[dict[int, str], dict[int, str]]:
    """e_machine and e_type numbers -> names (EM_X86_64, ET_DYN), from pyelftools' tables.

    Deferred: start-up time, see README "Performance". Only a scan that parses ELF
    files (reads a layer) needs pyelftools; a warm one should not pay for its import."""
    from elftools.elf.enums import ENUM_E_MACHINE, ENUM_E_TYPE

    machines = {v: k for k, v in ENUM_E_MACHINE.items() if isinstance(v, int)}
    types = {v: k for k, v in ENUM_E_TYPE.items() if isinstance(v, int)}
    return machines, types


PT_DYNAMIC, PT_INTERP, PT_LOAD = 2, 3, 1
SHT_SYMTAB = 2
DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 1, 5, 10, 14, 15, 29
DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = (
    0x6FFFFFFC,
    0x6FFFFFFD,
    0x6FFFFFFE,
    0x6FFFFFFF,
)
VER_FLG_BASE = 0x1


class ElfError(Exception):
    """The file is not a well-formed ELF (or needs bytes the stream already passed)."""


class _Forward:
    """A forward-only stream with a kept prefix: `get(off, n)` serves bytes from the
    prefix, or skips ahead and reads them; bytes behind the position outside the
    prefix are gone."""

    def __init__(self, stream: IO[bytes], head: bytes) -> None:
        self._stream = stream
        self.prefix = bytearray(head)
        self.pos = len(head)
        self.keeping = True  # prefix == bytes [0, pos)
        self.pieces: list[tuple[int, bytes]] = []  # (offset, bytes) kept beyond the prefix

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
        self.keeping = False
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

    def _skip(self, n: int) -> None:
        while n > 0:
            data = self._read(min(n, SKIP_CHUNK))
            if not data:
                raise ElfError("truncated file")
            n -= len(data)

    def _extend_prefix(self, end: int) -> None:
        while self.keeping and self.pos < end:
            data = self._read(min(end - self.pos, SKIP_CHUNK))
            if not data:
                raise ElfError("truncated file")
            self.prefix += data

    def _prefix_range(self, start: int, end: int) -> bytes:
        """A copy of prefix bytes (one copy: slicing the bytearray first would be two)."""
        with memoryview(self.prefix) as view:
            return bytes(view[start:end])

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
        self.keeping = False
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
        self.keeping = False
        self._skip(off - self.pos)
        return self._read(n)


def parse_elf_stream(stream: IO[bytes], head: bytes, tmpdir: str | None = None) -> dict[str, Any]:
    """Link facts of an ELF whose first bytes (`head`) were already read from `stream`;
    the stream is read forward only and left wherever parsing stopped (the tar reader
    skips the rest). `tmpdir` is unused (kept for callers of the spooling version)."""
    del tmpdir
    return parse_elf(stream, head)


def parse_elf(fh: IO[bytes], head: bytes = b"") -> dict[str, Any]:
    """Link facts of an ELF read forward from `fh`; `{"error": reason}` when the file
    cannot be parsed (truncated, corrupt, hostile)."""
    try:
        return _parse(_Forward(fh, head))
    except (ElfError, struct.error, UnicodeDecodeError, OverflowError, MemoryError) as exc:
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}


def _parse(src: _Forward) -> dict[str, Any]:
    ident = src.get(0, 16)
    if ident[:4] != ELF_MAGIC:
        raise ElfError("no ELF magic")
    if ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise ElfError(f"bad class/data bytes {ident[4]}/{ident[5]}")
    is64 = ident[4] == 2
    e = "<" if ident[5] == 1 else ">"
    if is64:
        hdr = struct.unpack(e + "HHIQQQIHHHHHH", src.get(16, 48))
    else:
        hdr = struct.unpack(e + "HHIIIIIHHHHHH", src.get(16, 36))
    e_type, e_machine, _, _, e_phoff, e_shoff, _, _, e_phentsize, e_phnum = hdr[:10]
    e_shentsize, e_shnum = hdr[10], hdr[11]
    machines, types = _names()
    facts: dict[str, Any] = {
        "class": 64 if is64 else 32,
        "machine": machines.get(e_machine, f"EM_{e_machine}"),
        "type": types.get(e_type, f"ET_{e_type}"),
        "interp": None,
        "needed": [],
        "soname": None,
        "rpath": [],
        "runpath": [],
        "verneed": {},
        "verdef": [],
        "stripped": True,
    }

    # Program headers: PT_INTERP, PT_DYNAMIC, and the PT_LOAD map from addresses to offsets.
    loads: list[tuple[int, int, int]] = []  # (vaddr, filesz, offset)
    dyn_range: tuple[int, int] | None = None
    interp_range: tuple[int, int] | None = None
    if e_phnum and e_phoff:
        want = 56 if is64 else 32
        if e_phentsize < want or e_phnum > 4096:
            raise ElfError(f"bad program header table ({e_phnum} x {e_phentsize})")
        table = src.get(e_phoff, e_phnum * e_phentsize)
        for i in range(e_phnum):
            raw = table[i * e_phentsize : i * e_phentsize + want]
            if is64:
                p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack(e + "IIQQQQQQ", raw)
            else:
                p_type, p_offset, p_vaddr, _, p_filesz, _, _, _ = struct.unpack(e + "IIIIIIII", raw)
            if p_type == PT_LOAD:
                loads.append((p_vaddr, p_filesz, p_offset))
            elif p_type == PT_DYNAMIC and dyn_range is None:
                dyn_range = (p_offset, p_filesz)
            elif p_type == PT_INTERP and interp_range is None:
                interp_range = (p_offset, p_filesz)

    for rng in sorted(r for r in (dyn_range, interp_range) if r is not None):
        if rng == interp_range:
            raw = src.get(rng[0], min(rng[1], 4096))
            facts["interp"] = _text(raw.split(b"\0", 1)[0])
        else:
            src.keep_before(rng[0])
            _dynamic(src, facts, src.get(rng[0], rng[1]), is64, e, loads)

    # Section headers: only their types matter (SHT_SYMTAB = symbols not stripped).
    if e_shoff and e_shentsize >= (64 if is64 else 40):
        if e_shnum == 0:  # extended numbering: the count is in section 0's sh_size
            first = src.get(e_shoff, e_shentsize)
            e_shnum = struct.unpack_from(e + ("Q" if is64 else "I"), first, 32 if is64 else 20)[0]
        e_shnum = min(e_shnum, RANGE_CAP // e_shentsize)
        table = src.get(e_shoff, e_shnum * e_shentsize)
        for i in range(e_shnum):
            (sh_type,) = struct.unpack_from(e + "I", table, i * e_shentsize + 4)
            if sh_type == SHT_SYMTAB:
                facts["stripped"] = False
                break
    return facts


def _dynamic(
    src: _Forward,
    facts: dict[str, Any],
    raw: bytes,
    is64: bool,
    e: str,
    loads: list[tuple[int, int, int]],
) -> None:
    fmt = e + ("qQ" if is64 else "iI")
    size = 16 if is64 else 8
    tags: list[tuple[int, int]] = []
    for i in range(len(raw) // size):
        tag, val = struct.unpack_from(fmt, raw, i * size)
        if tag == 0:
            break
        tags.append((tag, val))
    one = {t: v for t, v in reversed(tags)}  # first occurrence wins
    if DT_STRTAB not in one:
        if any(t in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH) for t, _ in tags):
            raise ElfError("dynamic section without DT_STRTAB")
        return
    strtab_off = _offset(one[DT_STRTAB], loads)
    strsz = one.get(DT_STRSZ, 0)
    # Tables in file order: a table after .dynamic is read as the stream passes it.
    jobs: list[tuple[int, str]] = [(strtab_off, "strtab")]
    if DT_VERNEED in one:
        jobs.append((_offset(one[DT_VERNEED], loads), "verneed"))
    if DT_VERDEF in one:
        jobs.append((_offset(one[DT_VERDEF], loads), "verdef"))
    strtab = b""
    pending: list[tuple[int, str, bytes]] = []
    for off, what in sorted(jobs):
        if what == "strtab":
            strtab = src.get(off, strsz) if strsz else src.get_upto(off, VERSION_SPAN)
        else:
            pending.append((off, what, src.get_upto(off, VERSION_SPAN)))

    def string(at: int) -> str:
        if at >= len(strtab):
            raise ElfError(f"string offset {at} outside the dynamic string table")
        end = strtab.find(b"\0", at)
        return _text(strtab[at : end if end >= 0 else len(strtab)])

    for tag, val in tags:
        if tag == DT_NEEDED and len(facts["needed"]) < MAX_LIST:
            facts["needed"].append(string(val))
        elif tag == DT_SONAME and facts["soname"] is None:
            facts["soname"] = string(val)
        elif tag == DT_RPATH:
            facts["rpath"] = [p for p in string(val).split(":") if p]
        elif tag == DT_RUNPATH:
            facts["runpath"] = [p for p in string(val).split(":") if p]
    for _, what, table in pending:
        if what == "verneed":
            facts["verneed"] = _verneed(table, one.get(DT_VERNEEDNUM, MAX_LIST), e, string)
        else:
            facts["verdef"] = _verdef(table, one.get(DT_VERDEFNUM, MAX_LIST), e, string)


def _verneed(table: bytes, count: int, e: str, string: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    at = 0
    for _ in range(min(count, MAX_LIST)):
        _, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from(e + "HHIII", table, at)
        names: set[str] = set()
        aux = at + vn_aux
        for _ in range(min(vn_cnt, MAX_LIST)):
            _, _, _, vna_name, vna_next = struct.unpack_from(e + "IHHII", table, aux)
            names.add(string(vna_name))
            if not vna_next:
                break
            aux += vna_next
        out.setdefault(string(vn_file), [])
        out[string(vn_file)] = sorted(names | set(out[string(vn_file)]))
        if not vn_next:
            break
        at += vn_next
    return out


def _verdef(table: bytes, count: int, e: str, string: Any) -> list[str]:
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
