"""/etc/ld.so.cache, read as glibc's loader reads it (glibc 2.36 elf/dl-cache.c).

Why the cache and not ld.so.conf: the loader never reads ld.so.conf. `ldconfig` turns
the configuration (and the libraries it found at that moment) into this binary file,
and the loader looks names up there, after DT_RPATH, LD_LIBRARY_PATH and DT_RUNPATH and
before its default directories. So a library in an ld.so.conf.d directory that arrived
after the last `ldconfig` is not found through it; a directory removed from ld.so.conf
after `ldconfig` still is; and an image without the file has no cache step at all.

Formats (all three are accepted, as glibc accepts them):
- new: magic "glibc-ld.so.cache1.1", a 48-byte header (nlibs, string table size, an
  endianness flag, the offset of an extension directory), then 24-byte entries
  (flags, key, value, osversion, hwcap); string offsets count from the header;
- old: magic "ld.so-1.7.0", nlibs, 12-byte entries (flags, key, value); string offsets
  count from the end of the entries;
- compat: an old-format cache with a new-format one following it (8-byte aligned): the
  new part is used.
A file that is too short, claims more entries than it holds, or has the wrong
endianness flag is ignored, as the loader ignores it (no cache step).

Lookup (`LdCache.lookup`) is glibc's `search_cache`: a binary search over the entries,
which ldconfig sorted in descending `_dl_cache_libcmp` order (digits compare as
numbers), then a walk over the run of equal keys for the first entry whose flags are
the loader's (`0x303` = ELF libc6 + x86-64 64-bit: a 32-bit library's entry never
answers a 64-bit lookup) and whose hardware capabilities the CPU has. Entries for a
glibc-hwcaps subdirectory (x86-64-v2/v3/v4) or a legacy hwcap beyond the baseline
(avx512_1) depend on the CPU the container runs on: the answer a baseline CPU gets is
the lookup's `path`; the CPU-dependent alternatives are listed apart.

Hostile bytes never raise: every offset is checked against the file before use, and
strings without a terminating NUL end at the end of the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

OLD_MAGIC = b"ld.so-1.7.0"
NEW_MAGIC = b"glibc-ld.so.cache1.1"
EXTENSION_MAGIC = 0xEAA42174
TAG_GLIBC_HWCAPS = 1
HWCAP_EXTENSION = 1 << 62  # entry.hwcap: a glibc-hwcaps subdirectory (index in the low bits)
ISA_LEVEL_MASK = (1 << 10) - 1  # ISA level bits in the upper 32 bits of a named-hwcap entry
HWCAP_TLS = 1 << 63
HWCAP_X86_64 = 1 << 1  # legacy x86 hwcap names (sysdeps/x86/dl-hwcap.h): sse2, x86_64, avx512_1
FLAG_ELF_LIBC6 = 0x0003
# the loader's expected entry flags (its _DL_CACHE_DEFAULT_ID), per (e_machine, class)
DEFAULT_FLAGS = {
    ("EM_X86_64", 64): 0x0303,
    ("EM_X86_64", 32): 0x0803,  # x32
    ("EM_AARCH64", 64): 0x0A03,
    ("EM_PPC64", 64): 0x0503,
    ("EM_S390", 64): 0x0403,
    ("EM_RISCV", 64): 0x1003,
    ("EM_ARM", 32): 0x0903,
    ("EM_386", 32): 0x0003,
}
# architectures whose loader accepts only its exact flags; the others also accept 1
EXACT_FLAGS = {"EM_X86_64", "EM_AARCH64", "EM_PPC64", "EM_S390", "EM_RISCV"}
MAX_ENTRIES = 1 << 20  # a cache with more entries than this is hostile: refused


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One entry; `key` or `path` is None when its string offset lies outside the file
    (the loader's `_dl_cache_verify_ptr` refuses it: a bogus key ends the lookup, a
    bogus path skips the entry)."""

    key: str | None  # the soname ldconfig recorded
    path: str | None  # the library's absolute path
    flags: int
    hwcap: int  # 0 in the old format
    hwcaps_subdir: str | None  # the glibc-hwcaps name of a named-hwcap entry (x86-64-v3)


@dataclass(frozen=True, slots=True)
class CacheHit:
    """What the cache answers for a name: `path` on a baseline CPU (None: no entry
    applies), and entries that only some CPUs get (`cpu_dependent`)."""

    path: str | None
    cpu_dependent: tuple[CacheEntry, ...] = ()


@dataclass(frozen=True)
class LdCache:
    """A parsed ld.so.cache: its entries in file order, and the format they came from."""

    format: str  # new | old | compat
    entries: tuple[CacheEntry, ...]
    hwcaps_subdirs: tuple[str, ...] = ()
    generator: str | None = None

    @property
    def unreadable_entries(self) -> int:
        """Entries whose strings lie outside the file (a damaged or hostile cache)."""
        return sum(1 for e in self.entries if e.key is None or e.path is None)

    def lookup(self, name: str, machine: str | None, elf_class: int | None) -> CacheHit:
        """glibc's search_cache for `name` as a loader for (machine, class) does it."""
        want = DEFAULT_FLAGS.get((machine or "", elf_class or 0), FLAG_ELF_LIBC6)
        exact = machine in EXACT_FLAGS
        key = name.encode("utf-8", "surrogateescape")
        entries = self.entries
        left, right = 0, len(entries) - 1
        while left <= right:
            middle = (left + right) // 2
            found = entries[middle].key
            if found is None:
                return CacheHit(None)
            cmp = libcmp(key, found.encode("utf-8", "surrogateescape"))
            if cmp == 0:
                while middle > 0:
                    before = entries[middle - 1].key
                    if before is None or libcmp(key, before.encode("utf-8", "surrogateescape")):
                        break
                    middle -= 1
                return self._walk(key, middle, right, want, exact, machine)
            if cmp < 0:
                left = middle + 1
            else:
                right = middle - 1
        return CacheHit(None)

    def _walk(
        self, key: bytes, start: int, right: int, want: int, exact: bool, machine: str | None
    ) -> CacheHit:
        best: str | None = None
        other: list[CacheEntry] = []
        for entry in self.entries[start : right + 1]:
            if entry.key is None or libcmp(key, entry.key.encode("utf-8", "surrogateescape")):
                break
            if entry.path is None or not (entry.flags == want or (not exact and entry.flags == 1)):
                continue
            if entry.hwcaps_subdir is not None:
                if entry.hwcaps_subdir:  # listed first; only CPUs with that level take them
                    other.append(entry)
                continue  # a name glibc cannot read (see `_extensions`): never used
            if best is not None:
                break
            if not _baseline(entry.hwcap, machine):
                if not _excluded(entry.hwcap, machine):
                    other.append(entry)
                continue
            best = entry.path
            if entry.flags == want:
                break
        return CacheHit(best, tuple(other))


def _is_named(hwcap: int) -> bool:
    return ((hwcap >> 32) & ~ISA_LEVEL_MASK) == (HWCAP_EXTENSION >> 32)


def _baseline(hwcap: int, machine: str | None) -> bool:
    """Every CPU of the architecture takes this legacy-hwcap entry."""
    allowed = HWCAP_TLS | (HWCAP_X86_64 if machine == "EM_X86_64" else 0)
    return hwcap & ~allowed == 0


def _excluded(hwcap: int, machine: str | None) -> bool:
    """No CPU takes it: platform bits (x86_64's platform is not among the cache's
    platform names in glibc 2.36), or SSE2 on x86_64."""
    if hwcap & (0xFFFF << 48) & ~HWCAP_TLS:
        return True
    return machine == "EM_X86_64" and bool(hwcap & 1)


def libcmp(a: bytes, b: bytes) -> int:
    """glibc's _dl_cache_libcmp (the sign of it): byte order (C's signed char), except
    that runs of digits compare as numbers and a digit sorts after any other byte."""
    i = j = 0
    while i < len(a):
        ca, cb = a[i], (b[j] if j < len(b) else 0)
        if 48 <= ca <= 57:
            if not 48 <= cb <= 57:
                return 1
            ei, ej = i, j
            while ei < len(a) and 48 <= a[ei] <= 57:
                ei += 1
            while ej < len(b) and 48 <= b[ej] <= 57:
                ej += 1
            va, vb = int(a[i:ei]), int(b[j:ej])
            if va != vb:
                return -1 if va < vb else 1
            i, j = ei, ej
        elif 48 <= cb <= 57:
            return -1
        elif ca != cb:
            return -1 if _signed(ca) < _signed(cb) else 1
        else:
            i += 1
            j += 1
    cb = b[j] if j < len(b) else 0
    return 0 if cb == 0 else (-1 if _signed(cb) > 0 else 1)


def _signed(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def parse(data: bytes) -> LdCache | None:
    """The cache in `data`, or None when the loader would ignore the file."""
    if len(data) > 48 and data.startswith(NEW_MAGIC):
        return _new(data, 0, "new")
    if len(data) > 16 and data.startswith(OLD_MAGIC):
        (nlibs,) = struct.unpack_from("<I", data, 12)
        if (len(data) - 16) // 12 < nlibs or nlibs > MAX_ENTRIES:
            return None
        new_at = (16 + nlibs * 12 + 7) & ~7
        if len(data) >= new_at + 48 and data[new_at : new_at + len(NEW_MAGIC)] == NEW_MAGIC:
            return _new(data, new_at, "compat")
        table = 16 + nlibs * 12
        entries = [
            _entry(data, table, key, value, flags, 0, None)
            for flags, key, value in struct.iter_unpack("<iII", data[16:table])
        ]
        return LdCache("old", tuple(entries))
    return None


def _new(data: bytes, at: int, fmt: str) -> LdCache | None:
    nlibs, _len_strings, flags, ext_offset = struct.unpack_from("<IIB3xI", data, at + 20)
    if (len(data) - at - 48) // 24 < nlibs or nlibs > MAX_ENTRIES:
        return None
    if flags != 0 and (flags & 3) != 2:  # not little-endian: the loader drops the cache
        return None
    hwcaps, generator = _extensions(data, at, ext_offset)
    entries = []
    table = data[at + 48 : at + 48 + nlibs * 24]
    for flags_, key, value, _osv, hwcap in struct.iter_unpack("<iIIIQ", table):
        subdir = None
        if _is_named(hwcap):
            index = hwcap & 0xFFFFFFFF
            subdir = hwcaps[index] if index < len(hwcaps) else ""
        entries.append(_entry(data, at, key, value, flags_, hwcap, subdir))
    return LdCache(fmt, tuple(entries), tuple(hwcaps), generator)


def _extensions(data: bytes, at: int, offset: int) -> tuple[list[str], str | None]:
    """The glibc-hwcaps subdirectory names and the generator string, when present.

    Their offsets count from the start of the file, as glibc reads them (its `cache`):
    ldconfig writes the names' offsets in the new format's numbering, so in a compat
    file (old + new) they point elsewhere and glibc matches no subdirectory name:
    such entries are never used, and their name reads as ""."""
    hwcaps: list[str] = []
    generator = None
    if offset == 0 or offset % 4 or offset + 8 > len(data):
        return hwcaps, generator
    magic, count = struct.unpack_from("<II", data, offset)
    if magic != EXTENSION_MAGIC:
        return hwcaps, generator
    for i in range(min(count, (len(data) - offset - 8) // 16)):
        tag, _flags, sec_off, size = struct.unpack_from("<IIII", data, offset + 8 + i * 16)
        if sec_off + size > len(data):
            continue
        if tag == 0:
            generator = data[sec_off : sec_off + size].decode("utf-8", "replace")
        elif tag == TAG_GLIBC_HWCAPS and sec_off % 4 == 0:
            for k in range(size // 4):
                (name_at,) = struct.unpack_from("<I", data, sec_off + 4 * k)
                name = _string(data, name_at) or ""
                hwcaps.append(name if name.isprintable() else "")
    return hwcaps, generator


def _entry(
    data: bytes, base: int, key: int, value: int, flags: int, hwcap: int, subdir: str | None
) -> CacheEntry:
    return CacheEntry(_string(data, base + key), _string(data, base + value), flags, hwcap, subdir)


def _string(data: bytes, at: int) -> str | None:
    """The NUL-terminated string at `at`; None outside the file."""
    if at >= len(data):
        return None
    end = data.find(b"\0", at)
    return data[at : end if end >= 0 else len(data)].decode("utf-8", "surrogateescape")
