"""The compact binary form of a `LayerIndex`: cache files, and worker -> parent transport.

Why not JSON: loading the six indexes of a 100k-entry image from gzip'd JSON took
~0.3 s of CPU (json builds a list per entry, then `Entry(*e)` a tuple per entry), a
tenth of a warm scan. Here the index is stored by column, so loading is a handful of
C-level operations over whole columns:

- strings (paths, link targets, whiteouts, ...): one UTF-8 blob per column, the items
  separated by NUL, split in one call. Encoded with `surrogatepass`, so any `str`
  comes back exactly, including the surrogate escapes tar names that are not UTF-8
  carry. A column with a NUL inside an item (possible only in a hostile PAX link
  target) is stored with explicit lengths instead;
- integers: little-endian int64 arrays; columns with few distinct values (mode,
  owner, mtime) as a table of values plus uint32 indexes into it, so equal values
  share one int object in memory;
- captured contents: one blob plus lengths; ELF facts: JSON (small, irregular).

The whole payload is one zstd frame with its content checksum: a truncated or damaged
file fails to decompress, and whatever decompresses is then checked for shape (types,
lengths, counts) before anything is built, so a bad file is a `ValueError`, never a
crash or a wrong index. Nothing here evaluates or unpickles anything: the file is
plain data whoever wrote it.
"""

from __future__ import annotations

import array
import json
import struct
import sys
from collections.abc import Iterator, Sequence
from itertools import accumulate, chain
from typing import Any, NamedTuple

import zstandard

from auditor import elffacts
from auditor.layerindex import (
    INDEX_FORMAT,
    KINDS,
    Contents,
    EntryTable,
    IntColumn,
    LayerIndex,
    narrowest,
    size_array,
)
from auditor.memory import gc_paused, return_big_blocks

_CONTAINER = b"imgaudit-layer\0" + bytes([INDEX_FORMAT])  # then (u64 size, zstd frame)*
_MAGIC = b"imgaudit-index\0"  # the start of every frame's content
_LEVEL = 3  # zstd level: ~4x smaller than level-free storage, ~20 ms per 100k entries
_MAX_RATIO = 1000  # a frame claiming more than this over its stored size is damage
_TABLE_COLUMNS = ("mode", "uid", "gid", "mtime")  # few distinct values each
_LITTLE = sys.byteorder == "little"


class _Writer:
    """Byte sections and the layout that names them (the JSON header)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []  # the sections' bytes, in order
        self.layout: list[list[Any]] = []  # [name, form, bytes, items, ...]

    def add(self, name: str, form: str, data: bytes, items: int) -> None:
        self.parts.append(data)
        self.layout.append([name, form, len(data), items])

    def add_pieces(self, name: str, form: str, pieces: Sequence[bytes]) -> None:
        """A section made of existing byte strings, stored as they are (no joined copy)."""
        self.parts.extend(pieces)
        self.layout.append([name, form, sum(map(len, pieces)), len(pieces)])

    def strings(self, name: str, items: Sequence[str]) -> None:
        blob = "\0".join(items)
        if blob.count("\0") == max(len(items) - 1, 0):
            self.add(name, "z", blob.encode("utf-8", "surrogatepass"), len(items))
            return
        encoded = [s.encode("utf-8", "surrogatepass") for s in items]
        lengths = _pack("q", [len(b) for b in encoded])
        self.add(name, "l", lengths + b"".join(encoded), len(items))

    def path_refs(self, name: str, paths: list[str], keys: list[str]) -> None:
        """Paths that are entry paths (captured contents, ELF facts) as entry numbers:
        decoded, they are the entries' own str objects, not equal copies (~3 MB for the
        27k captured files of a big image). Any other path: the keys as strings."""
        at: list[int] = []
        i = 0
        for key in keys:  # keys come in entry order (captured as the layer streams)
            while i < len(paths) and paths[i] != key:
                i += 1
            if i == len(paths):
                self.strings(name, keys)
                return
            at.append(i)
        self.add(name, "I", _pack("I", at), len(at))

    def ints(self, name: str, values: Sequence[int]) -> None:
        self.add(name, "q", _pack("q", values), len(values))

    def table_ints(self, name: str, values: Sequence[int]) -> None:
        """Few distinct values: a table of them, and each item's place in it."""
        table: dict[int, int] = {}
        for v in values:
            if v not in table:
                table[v] = len(table)
        at = table.__getitem__
        data = _pack("q", list(table)) + _pack("I", list(map(at, values)))
        self.add(name, "t", data, len(values))
        self.layout[-1].append(len(table))

    def compress(self, head: bytes) -> bytes:
        """One zstd frame of magic, header and sections, fed in pieces of ~1 MiB: the
        whole payload is never joined in memory (a worker's peak is its index plus
        this, for the biggest layer ~20 MB less than joining)."""
        total = len(_MAGIC) + 4 + len(head) + sum(map(len, self.parts))
        zc = zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True, write_content_size=True)
        cobj = zc.compressobj(size=total)
        out = [cobj.compress(_MAGIC + struct.pack("<I", len(head)) + head)]
        batch: list[bytes] = []
        batched = 0
        for part in self.parts:
            batch.append(part)
            batched += len(part)
            if batched >= 1 << 20:
                out.append(cobj.compress(b"".join(batch)))
                batch, batched = [], 0
        out.append(cobj.compress(b"".join(batch)))
        out.append(cobj.flush())
        return b"".join(out)


def encode(index: LayerIndex) -> bytes:
    """The index as one file in the compact form (see the module docstring)."""
    return _container([_frame(index, 0, last=True)])


class Parts:
    """An index encoded in parts as the layer streams (worker processes): each part is
    a frame of its own, so the worker holds a batch of entries, not the whole index.
    `decode` joins the parts back into the very index a single part would give."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def add(self, index: LayerIndex) -> None:
        self.frames.append(_frame(index, len(self.frames), last=False))

    def finish(self, index: LayerIndex) -> bytes:
        """The file: the parts so far, and `index` (the rest) as the last one."""
        frames, self.frames = self.frames, []
        return _container([*frames, _frame(index, len(frames), last=True)])


def _container(frames: list[bytes]) -> bytes:
    return b"".join([_CONTAINER, *(struct.pack("<Q", len(f)) + f for f in frames)])


def _frame(index: LayerIndex, part: int, last: bool) -> bytes:
    entries = index.entries if isinstance(index.entries, list) else list(index.entries)
    w = _Writer()
    paths = [e[0] for e in entries]
    w.strings("path", paths)
    kinds = "".join([e[1] for e in entries])
    w.add("kind", "a", kinds.encode("ascii"), len(entries))
    w.table_ints("mode", [e.mode for e in entries])
    w.table_ints("uid", [e.uid for e in entries])
    w.table_ints("gid", [e.gid for e in entries])
    w.table_ints("mtime", [e.mtime for e in entries])
    w.ints("size", [e[5] for e in entries])
    linked = [i for i, e in enumerate(entries) if e[7]]
    w.add("link_at", "I", _pack("I", linked), len(linked))
    w.strings("link", [entries[i][7] for i in linked])
    w.strings("whiteouts", index.whiteouts)
    w.strings("opaque_dirs", index.opaque_dirs)
    w.strings("skipped", index.skipped)
    w.path_refs("content_path", paths, list(index.contents))
    w.ints("content_size", [len(v) for v in index.contents.values()])
    w.add_pieces("content", "b", list(index.contents.values()))
    w.path_refs("elf_path", paths, list(index.elf))
    header = {
        "format": INDEX_FORMAT,
        "diff_id": index.diff_id,
        "digest": index.digest,
        "part": part,
        "last": last,
        "tar_size": index.tar_size,
        "count": len(entries),
        "elf": [elffacts.to_json(f) for f in index.elf.values()],
        "sections": w.layout,
    }
    return w.compress(json.dumps(header, separators=(",", ":")).encode("ascii"))


def decode(data: bytes) -> LayerIndex:
    """The index `encode` (or `Parts`) wrote; ValueError when `data` is not one,
    whatever is wrong with it."""
    return_big_blocks()  # a decoded index is part of the model being built
    try:
        with gc_paused():
            return _decode(data)
    except ValueError:
        raise
    except (zstandard.ZstdError, TypeError, KeyError, IndexError, OverflowError, struct.error,
            AttributeError, MemoryError) as exc:  # fmt: skip
        raise ValueError(f"damaged index ({type(exc).__name__}: {exc})") from None


def _decode(data: bytes) -> LayerIndex:
    if not data.startswith(_CONTAINER):
        raise ValueError("not an index file")
    view = memoryview(data)
    pos = len(_CONTAINER)
    whole: LayerIndex | None = None
    tables: list[EntryTable] = []
    captures: list[_Captured] = []
    elf_paths: list[list[str]] = []
    whole_parts = 0
    while pos < len(data):
        (size,) = struct.unpack_from("<Q", data, pos)
        frame = view[pos + 8 : pos + 8 + size]
        if len(frame) != size:
            raise ValueError("truncated index file")
        pos += 8 + size
        part, header, captured = _decode_frame(frame)
        if header["part"] != whole_parts:
            raise ValueError("index parts out of order")
        assert isinstance(part.entries, EntryTable)
        tables.append(part.entries)
        captures.append(captured)
        elf_paths.append(list(part.elf))
        if whole is None:
            whole = part
        elif (part.diff_id, part.digest) != (whole.diff_id, whole.digest):
            raise ValueError("index parts of different layers")
        else:
            _join(whole, part)
        whole_parts += 1
        if header["last"] is True:
            if pos != len(data):
                raise ValueError("data after the last index part")
            whole.entries = EntryTable.concat(tables)
            whole.contents = _contents(captures, elf_paths)
            return whole
    raise ValueError("truncated index file (no last part)")


class _Captured(NamedTuple):
    """A part's captured contents as stored: paths, sizes, and the contents joined."""

    paths: list[str]
    sizes: list[int]
    body: bytes


def _contents(captures: list[_Captured], elf_paths: list[list[str]]) -> Contents:
    """The parts' captured contents as the reader's dict would hold them after every
    part: a later part's content of a path replaces an earlier one, and a later part's
    ELF file drops what an earlier part captured at its path. When no path is captured
    twice and no ELF file is at a captured path (every layer seen so far), the parts'
    bodies are joined as they are: no `bytes` object per content (a million-file image
    captures 200k pyc heads; ~0.1 CPU s of a layer's decoding)."""
    paths = list(chain.from_iterable(c.paths for c in captures))
    listed = set(paths)
    later_elf = chain.from_iterable(elf_paths[1:])
    if len(listed) == len(paths) and listed.isdisjoint(later_elf):
        sizes = chain.from_iterable(c.sizes for c in captures)
        return Contents.from_columns(paths, sizes, b"".join(c.body for c in captures))
    found: dict[str, bytes] = {}
    for captured, elf in zip(captures, elf_paths, strict=True):
        for path in elf:  # an ELF file drops what an earlier entry of its path captured
            found.pop(path, None)
        ends = accumulate(captured.sizes)
        found.update(
            (p, captured.body[e - n : e]) for p, n, e in zip(captured.paths, captured.sizes, ends)
        )
    return Contents(found)


def _join(whole: LayerIndex, part: LayerIndex) -> None:
    """Append a later part, as if its entries had been indexed in the same pass (the
    entries: `EntryTable.concat` of every part, once all are read; the contents by
    `_contents`, likewise)."""
    whole.whiteouts.extend(part.whiteouts)
    whole.opaque_dirs.extend(part.opaque_dirs)
    whole.skipped.extend(part.skipped)
    whole.elf.update(part.elf)
    whole.tar_size = part.tar_size


def _decode_frame(data: memoryview) -> tuple[LayerIndex, dict[str, Any], _Captured]:
    size = zstandard.frame_content_size(data)
    if size < 0 or size > _MAX_RATIO * len(data):
        raise ValueError("not an index frame")
    raw = zstandard.ZstdDecompressor().decompress(data)
    if not raw.startswith(_MAGIC):
        raise ValueError("not an index")
    (head_len,) = struct.unpack_from("<I", raw, len(_MAGIC))
    start = len(_MAGIC) + 4
    header = json.loads(raw[start : start + head_len])
    if not isinstance(header, dict) or header.get("format") != INDEX_FORMAT:
        raise ValueError("index format changed")
    if not _is_int(header["part"]) or not isinstance(header["last"], bool):
        raise ValueError("bad index header")
    n = header["count"]
    diff_id, tar_size, elf_facts = header["diff_id"], header["tar_size"], header["elf"]
    digest = header["digest"]
    if not (_is_int(n) and _is_int(tar_size) and isinstance(diff_id, str)):
        raise ValueError("bad index header")
    if not isinstance(digest, str):
        raise ValueError("bad index header")
    if not isinstance(elf_facts, list) or not all(isinstance(f, dict) for f in elf_facts):
        raise ValueError("bad ELF facts")
    sections = dict(_sections(raw, start + head_len, header["sections"]))

    paths = _strings(sections["path"], n)
    kinds = _ascii(sections["kind"], n)
    if not set(kinds) <= KINDS:
        raise ValueError("unknown entry kind")
    modes, uids, gids, mtimes = (_table_column(sections[c], n) for c in _TABLE_COLUMNS)
    sizes = size_array(_int_array(sections["size"], n, "q"))
    link_at = _ints(sections["link_at"], -1, "I")
    links: dict[int, str] = {}
    for i, target in zip(link_at, _strings(sections["link"], len(link_at)), strict=True):
        if not (0 <= i < n) or not target:
            raise ValueError("bad link section")
        links[i] = target
    entries = EntryTable(paths, kinds, modes, uids, gids, sizes, mtimes, links)

    content_paths = _path_refs(sections["content_path"], paths)
    content_sizes = _ints(sections["content_size"], len(content_paths), "q")
    _, _, blob = _check(sections["content"], "b", len(content_paths))
    if min(content_sizes, default=0) < 0 or sum(content_sizes) != len(blob):
        raise ValueError("content sizes do not add up")
    captured = _Captured(content_paths, content_sizes, bytes(blob))
    elf_paths = _path_refs(sections["elf_path"], paths)
    if len(elf_paths) != len(elf_facts):
        raise ValueError("ELF facts do not match their paths")
    index = LayerIndex(
        diff_id=diff_id,
        digest=digest,
        entries=entries,
        whiteouts=_strings(sections["whiteouts"], -1),
        opaque_dirs=_strings(sections["opaque_dirs"], -1),
        elf=dict(zip(elf_paths, map(elffacts.from_json, elf_facts))),
        skipped=_strings(sections["skipped"], -1),
        tar_size=tar_size,
    )
    return index, header, captured


# ---- sections ------------------------------------------------------------------------

_Section = tuple[list[Any], memoryview]  # (layout row, bytes)


def _sections(raw: bytes, pos: int, layout: Any) -> Iterator[tuple[str, _Section]]:
    view = memoryview(raw)
    if not isinstance(layout, list):
        raise ValueError("bad section layout")
    for row in layout:
        if not (isinstance(row, list) and len(row) >= 4 and isinstance(row[0], str)):
            raise ValueError("bad section layout")
        nbytes = row[2]
        if not (_is_int(nbytes) and _is_int(row[3]) and nbytes >= 0):
            raise ValueError("bad section layout")
        yield row[0], (row, view[pos : pos + nbytes])
        pos += nbytes
    if pos != len(raw):
        raise ValueError("index length does not match its layout")


def _check(section: _Section, forms: str, count: int) -> tuple[str, int, memoryview]:
    row, data = section
    form, items = row[1], row[3]
    if form not in forms or (count >= 0 and items != count) or len(data) != row[2]:
        raise ValueError(f"bad section {row[0]!r}")
    return form, items, data


def _strings(section: _Section, count: int) -> list[str]:
    form, items, data = _check(section, "zl", count)
    if form == "z":
        if not items:
            if len(data):
                raise ValueError("bad string section")
            return []
        out = str(data, "utf-8", "surrogatepass").split("\0")
    else:
        lengths = _unpack("q", data[: 8 * items])
        if min(lengths, default=0) < 0:
            raise ValueError("bad string section")
        body = bytes(data[8 * items :])
        ends = list(accumulate(lengths))
        out = [str(body[e - n : e], "utf-8", "surrogatepass") for n, e in zip(lengths, ends)]
        if (ends[-1] if ends else 0) != len(body):
            raise ValueError("bad string section")
    if len(out) != items:
        raise ValueError("string count does not match")
    return out


def _path_refs(section: _Section, paths: list[str]) -> list[str]:
    if section[0][1] == "I":
        return list(map(paths.__getitem__, _ints(section, -1, "I")))  # IndexError on damage
    return _strings(section, -1)


def _ascii(section: _Section, count: int) -> str:
    _, _, data = _check(section, "a", count)
    text = str(data, "ascii")
    if len(text) != count:
        raise ValueError("bad text section")
    return text


def _ints(section: _Section, count: int, code: str) -> list[int]:
    _, items, data = _check(section, code, count)
    values = _unpack(code, data)
    if len(values) != items:
        raise ValueError("integer count does not match")
    return values


def _table_column(section: _Section, count: int) -> IntColumn:
    """A table section as a column: its values, and each row's place in the smallest
    array type that numbers them."""
    row = section[0]
    _, items, data = _check(section, "t", count)
    distinct = row[4] if len(row) > 4 else -1
    if not _is_int(distinct) or distinct < 0 or 8 * distinct > len(data):
        raise ValueError("bad table section")
    table = _unpack("q", data[: 8 * distinct])
    if 8 * distinct + 4 * items != len(data):
        raise ValueError("integer count does not match")
    at = narrowest(_int_array(section, -1, "I", 8 * distinct, form="t"))
    if _any_at_least(at, distinct):
        raise ValueError("bad table section")
    return IntColumn(table, at)


_BYTES = bytes(range(256))


def _any_at_least(places: array.array[int], bound: int) -> bool:
    """Whether a place is `bound` or more: for a byte array (nearly every table's
    places), by deleting the bytes below `bound` in C; `max` made an int object per row
    (~0.1 CPU s over a million-file image's columns)."""
    if not places:
        return False
    if places.itemsize != 1:
        return max(places) >= bound
    return bound < 256 and bool(places.tobytes().translate(None, _BYTES[:bound]))


def _int_array(
    section: _Section, count: int, code: str, skip: int = 0, form: str = ""
) -> array.array[int]:
    """Integers of `code` from a section (after `skip` bytes), as an array."""
    _, items, data = _check(section, form or code, count)
    arr = array.array(code)
    body = data[skip:]
    if len(body) % arr.itemsize or len(body) // arr.itemsize != items:
        raise ValueError("integer count does not match")
    arr.frombytes(body)
    if not _LITTLE:
        arr.byteswap()
    return arr


def _pack(code: str, values: Sequence[int]) -> bytes:
    arr = array.array(code, values)  # OverflowError: a value out of range (not cacheable)
    if not _LITTLE:
        arr.byteswap()
    return arr.tobytes()


def _unpack(code: str, data: memoryview | bytes) -> list[int]:
    arr = array.array(code)
    if len(data) % arr.itemsize:
        raise ValueError("truncated integer section")
    arr.frombytes(data)
    if not _LITTLE:
        arr.byteswap()
    return arr.tolist()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
