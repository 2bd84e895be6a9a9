"""The layer model: what reading one layer yields, as pure data (no I/O, no imports
of the project but the ELF facts model, auditor/elffacts.py, itself pure data).

A `LayerIndex` holds every tar entry of one layer as an `Entry` tuple, the paths its
whiteouts delete, the directories it makes opaque, the file contents the capture
policy kept, and the ELF link facts of its ELF files. The reader (auditor/layers.py)
produces it, the layer cache (auditor/cache.py, auditor/indexcodec.py) stores it, and
the filesystem model (auditor/fs.py) merges indexes; facts and checks see entries
through `fs`, which offers the entry kinds below.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain, compress, islice, repeat
from operator import le
from typing import Any, NamedTuple, TypeVar, overload

from auditor import elffacts
from auditor.indexformat import INDEX_FORMAT as INDEX_FORMAT  # re-exported
from auditor.kinds import BLOCK as BLOCK  # re-exported, as the other kinds
from auditor.kinds import CHAR as CHAR
from auditor.kinds import DIR as DIR
from auditor.kinds import FIFO as FIFO
from auditor.kinds import FILE as FILE
from auditor.kinds import HARDLINK as HARDLINK
from auditor.kinds import KINDS as KINDS
from auditor.kinds import SYMLINK as SYMLINK


class Entry(NamedTuple):
    """One tar entry (a tuple: compact in memory and as JSON)."""

    path: str
    kind: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    link: str  # symlink target as written, or hard-link target path; "" otherwise


_new = tuple.__new__  # builds a NamedTuple from a tuple in C, skipping its Python __new__


def _index_code(distinct: int) -> str:
    """The smallest array type code that numbers `distinct` values."""
    return "B" if distinct <= 1 << 8 else "H" if distinct <= 1 << 16 else "I"


class IntColumn:
    """A column of ints with few distinct values (modes, owners, mtimes): a table of the
    values and, per row, its place in the table (1-4 bytes). Rows read back as the
    table's own int objects, so equal values share one object."""

    __slots__ = ("at", "table")

    def __init__(self, table: list[int], at: array[int]) -> None:
        self.table = table
        self.at = at

    @classmethod
    def of(cls, values: Iterable[int]) -> IntColumn:
        places: dict[int, int] = {}
        setdefault = places.setdefault
        at = [setdefault(v, len(places)) for v in values]
        return cls(list(places), array(_index_code(len(places)), at))

    @classmethod
    def concat(cls, columns: Sequence[IntColumn]) -> IntColumn:
        """One column of `columns` one after another (their tables merged)."""
        if len(columns) == 1:
            return columns[0]
        first = columns[0].table
        if all(c.table == first for c in columns):  # the common case: same few values
            return cls(first, joined([c.at for c in columns]))
        places: dict[int, int] = {}
        remapped = []
        for c in columns:
            to = [places.setdefault(v, len(places)) for v in c.table]
            remapped.append(map(to.__getitem__, c.at))
        at = array(_index_code(len(places)))
        for part in remapped:
            at.extend(part)
        return cls(list(places), at)

    def __len__(self) -> int:
        return len(self.at)

    def __getitem__(self, row: int) -> int:
        return self.table[self.at[row]]

    def tolist(self) -> list[int]:
        if len(self.table) == 1:
            return self.table * len(self.at)
        return list(map(self.table.__getitem__, self.at))


_UNSIGNED = {1: "B", 2: "H", 4: "I", 8: "Q"}


def narrowest(values: array[int]) -> array[int]:
    """`values` (non-negative ints of any array type) in the narrowest unsigned type
    that holds them all: nearly every file size fits 4 bytes, most table places 1.

    Found from the bytes, not value by value: on a little-endian machine the high bytes
    of every item are one strided slice, zero when the narrower type holds the value.
    Arrays with a negative value keep their type."""
    size = values.itemsize
    if not values or size == 1:
        return values
    if sys.byteorder != "little":  # pragma: no cover - the value-by-value fallback
        top = max(values)
        if min(values) < 0:
            return values
        code = next(c for w, c in _UNSIGNED.items() if top < 1 << (8 * w))
        return values if code == values.typecode else array(code, values)
    raw = memoryview(values).cast("B")
    for width in (1, 2, 4):
        if width >= size:
            break
        units = raw.cast(_UNSIGNED[width])  # type: ignore[call-overload]
        step = size // width
        if all(not units[j::step].tobytes().strip(b"\0") for j in range(1, step)):
            return array(_UNSIGNED[width], units[0::step].tobytes())
    return values  # some value needs the full width (or is negative)


def widest(arrays: Iterable[array[int]]) -> str:
    """The type code of the widest of `arrays` ("B" for none): one that holds them all."""
    return max(arrays, key=lambda a: a.itemsize, default=array("B")).typecode


def joined(arrays: Sequence[array[int]]) -> array[int]:
    """`arrays` one after another, in the widest of their types."""
    code = widest(arrays)
    out = array(code)
    for part in arrays:
        out.extend(part if part.typecode == code else array(code, part))
    return out


def size_array(sizes: Iterable[int]) -> array[int]:
    """File sizes, in the narrowest array type that holds them."""
    return narrowest(sizes if isinstance(sizes, array) else array("q", sizes))


_FILE_BYTES = bytes(int(c == ord(FILE)) for c in range(256))


def is_file(kinds: str) -> bytes:
    """One byte per kind character: 1 for a regular file, else 0 (made in C)."""
    return kinds.encode("ascii").translate(_FILE_BYTES)


class EntryTable(Sequence[Entry]):
    """A layer's entries by column: what the parent keeps of every decoded layer.

    Why: one `Entry` tuple per tar entry costs ~250 bytes with its path and size (a
    million-file image held 290 MB of them before any merge). By column a row costs its
    path string, one kind character, a few bytes of places in the mode/owner/mtime
    tables and its size: ~120 bytes. Reading a row (`table[i]`, iteration) still gives
    an `Entry`, built on access; `fs` reads the columns directly.
    """

    __slots__ = (
        "_file_bytes",
        "gids",
        "kinds",
        "links",
        "modes",
        "mtimes",
        "paths",
        "sizes",
        "uids",
    )

    def __init__(
        self,
        paths: list[str],
        kinds: str,
        modes: IntColumn,
        uids: IntColumn,
        gids: IntColumn,
        sizes: array[int],
        mtimes: IntColumn,
        links: dict[int, str],
    ) -> None:
        self.paths = paths
        self.kinds = kinds  # one character per row (the entry kinds above)
        self.modes = modes
        self.uids = uids
        self.gids = gids
        self.sizes = sizes
        self.mtimes = mtimes
        self.links = links  # row -> link target, for the rows that have one
        self._file_bytes: int | None = None

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> EntryTable:
        """The table of `entries` (a list the reader built, or any Entry iterable)."""
        if isinstance(entries, EntryTable):
            return entries
        rows = entries if isinstance(entries, list) else list(entries)
        return cls(
            [e[0] for e in rows],
            "".join([e[1] for e in rows]),
            IntColumn.of([e[2] for e in rows]),
            IntColumn.of([e[3] for e in rows]),
            IntColumn.of([e[4] for e in rows]),
            size_array([e[5] for e in rows]),
            IntColumn.of([e[6] for e in rows]),
            {i: e[7] for i, e in enumerate(rows) if e[7]},
        )

    @classmethod
    def concat(cls, tables: Sequence[EntryTable]) -> EntryTable:
        """`tables` one after another (the parts of one layer's index)."""
        if len(tables) == 1:
            return tables[0]
        paths: list[str] = []
        links: dict[int, str] = {}
        for t in tables:
            links.update({len(paths) + i: target for i, target in t.links.items()})
            paths.extend(t.paths)
        sizes = joined([t.sizes for t in tables])
        return cls(
            paths,
            "".join(t.kinds for t in tables),
            IntColumn.concat([t.modes for t in tables]),
            IntColumn.concat([t.uids for t in tables]),
            IntColumn.concat([t.gids for t in tables]),
            size_array(sizes),
            IntColumn.concat([t.mtimes for t in tables]),
            links,
        )

    def entry(self, row: int, path: str | None = None) -> Entry:
        """Row `row` as an Entry (`path`: its path, when the caller has it already)."""
        m, u, g, t = self.modes, self.uids, self.gids, self.mtimes
        return _new(
            Entry,
            (
                self.paths[row] if path is None else path,
                self.kinds[row],
                m.table[m.at[row]],
                u.table[u.at[row]],
                g.table[g.at[row]],
                self.sizes[row],
                t.table[t.at[row]],
                self.links.get(row, "") if self.links else "",
            ),
        )

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, row: int) -> Entry: ...
    @overload
    def __getitem__(self, row: slice) -> list[Entry]: ...
    def __getitem__(self, row: int | slice) -> Entry | list[Entry]:
        if isinstance(row, slice):
            return list(self)[row]
        if row < 0:
            row += len(self.paths)
        if not 0 <= row < len(self.paths):
            raise IndexError("entry row out of range")
        return self.entry(row)

    def __iter__(self) -> Iterator[Entry]:
        links = self.links
        targets = [links.get(i, "") for i in range(len(self.paths))] if links else repeat("")
        columns = zip(
            self.paths,
            self.kinds,
            self.modes.tolist(),
            self.uids.tolist(),
            self.gids.tolist(),
            self.sizes,
            self.mtimes.tolist(),
            targets,
        )
        return map(_new, repeat(Entry), columns)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EntryTable | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EntryTable({len(self)} entries)"

    def file_bytes(self) -> int:
        """Bytes of regular-file content in the table (sizes of the FILE rows). Kept once
        found: the merge, the layer facts and the report each ask (a million-file image:
        0.08 CPU s a time). A table's columns do not change once it is made."""
        if self._file_bytes is None:
            self._file_bytes = sum(compress(self.sizes, is_file(self.kinds)))
        return self._file_bytes

    def distinct_mtimes(self) -> set[int]:
        """Every mtime some row has (without a value per row)."""
        table = self.mtimes.table
        return {table[i] for i in set(self.mtimes.at)}

    def paths_not(self, kind: str) -> list[str]:
        """Paths of the rows of any other kind than `kind`, in row order."""
        return list(compress(self.paths, map(kind.__ne__, self.kinds)))

    def count_not(self, kind: str) -> int:
        """Rows of any other kind than `kind` (e.g. the non-directories)."""
        return len(self.kinds) - self.kinds.count(kind)


#: How a `LayerIndex.skipped` note ends when imgaudit kept only the head of a file's
#: content (its capture policy's limit): the file is in the image as written, so the
#: note is a limit of the reader, not a fact about the image.
CAPTURE_LIMIT = "over the capture limit of"


def reader_limit(note: str) -> bool:
    """Whether a skipped-entry note states imgaudit's own limit (the content was cut),
    not something the image holds that cannot be modelled (an unsupported entry type,
    a malformed whiteout, absurd metadata)."""
    return CAPTURE_LIMIT in note


V = TypeVar("V")


class SortedMap(Mapping[str, V]):
    """A read-only mapping kept as its keys, sorted (`paths`), and a column of values
    beside them (`_value(i)`): no hash table, no object per value. A lookup is a
    bisection (~0.65 us at a million keys asked in sorted order, ~2x a dict's); the
    model's frozen path table (`fs.SortedCodes`) and a decoded layer's captured contents
    (`Contents`) are kept so."""

    __slots__ = ("paths",)

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def _value(self, i: int) -> V:
        raise NotImplementedError

    def get(self, path: str, default: Any = None) -> Any:
        paths = self.paths
        i = bisect_left(paths, path)
        return self._value(i) if i < len(paths) and paths[i] == path else default

    def __getitem__(self, path: str) -> V:
        paths = self.paths
        i = bisect_left(paths, path)
        if i < len(paths) and paths[i] == path:
            return self._value(i)
        raise KeyError(path)

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        i = bisect_left(self.paths, path)
        return i < len(self.paths) and self.paths[i] == path

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def items(self) -> Iterator[tuple[str, V]]:  # type: ignore[override]
        return zip(self.paths, self.values())


class Contents(SortedMap[bytes]):
    """A decoded layer's captured contents: the contents joined in one `bytes`, and
    where each ends. Why not the reader's dict: a big image captures the 16-byte head of
    every `.pyc` (200k in a million-file image), and a dict of 200k small `bytes` held
    ~16 MB where this holds ~6 (the paths are the entry table's own strings)."""

    __slots__ = ("_body", "_ends")

    def __init__(self, found: Mapping[str, bytes]) -> None:
        super().__init__(sorted(found))
        values = list(map(found.__getitem__, self.paths))
        self._ends = array("Q", accumulate(map(len, values)))
        self._body = b"".join(values)

    @classmethod
    def from_columns(cls, paths: list[str], sizes: Iterable[int], body: bytes) -> Contents:
        """The contents of `paths` (each once), of `sizes`, joined in that order in `body`:
        kept as they are when the paths come sorted (a layer's tar order nearly always),
        else sorted with their contents."""
        ends = array("Q", accumulate(sizes))
        if len(ends) != len(paths) or (ends[-1] if ends else 0) != len(body):
            raise ValueError("content sizes do not add up")
        if all(map(le, paths, islice(paths, 1, None))):
            held = cls.__new__(cls)
            SortedMap.__init__(held, paths)
            held._ends, held._body = ends, body
            return held
        return cls(dict(zip(paths, map(body.__getitem__, _spans(ends)))))

    def _value(self, i: int) -> bytes:
        return self._body[self._ends[i - 1] if i else 0 : self._ends[i]]

    def columns(self) -> tuple[list[str], array[int], bytes]:
        """(paths, ends, body): content i is body[ends[i - 1] (0 for the first):ends[i]],
        for callers that look up many paths in a loop of their own."""
        return self.paths, self._ends, self._body

    def values(self) -> Iterator[bytes]:  # type: ignore[override]
        return map(self._body.__getitem__, _spans(self._ends))


def _spans(ends: array[int]) -> Iterator[slice]:
    """Where each content is in a joined body, from where each ends."""
    return map(slice, chain((0,), ends), ends)


@dataclass
class LayerIndex:
    """Everything later steps need from one layer, without its bytes."""

    diff_id: str  # the image config's name for the layer's tar (see auditor/cache.py)
    # the reader appends to a list; decoded indexes hold an EntryTable (same rows)
    entries: list[Entry] | EntryTable = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)  # paths deleted from lower layers
    opaque_dirs: list[str] = field(default_factory=list)  # dirs whose lower content is hidden
    # captured file contents: the reader fills a dict; decoded indexes hold Contents
    contents: dict[str, bytes] | Contents = field(default_factory=dict)
    elf: dict[str, elffacts.AnyElf] = field(default_factory=dict)  # path -> ELF link facts
    skipped: list[str] = field(default_factory=list)  # entries not indexed, with the reason
    tar_size: int = 0  # bytes of the uncompressed tar stream
    # the stored blob the index was read from: what the read verified, so what the layer
    # cache files it under ("" for an index built by hand)
    digest: str = ""

    @property
    def size(self) -> int:
        """Bytes of regular-file content the layer writes (what `docker history` shows)."""
        return EntryTable.of(self.entries).file_bytes()

    @property
    def files(self) -> int:
        """Entries that are not directories."""
        return EntryTable.of(self.entries).count_not(DIR)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": INDEX_FORMAT,
            "diff_id": self.diff_id,
            "digest": self.digest,
            "entries": [list(e) for e in self.entries],
            "whiteouts": self.whiteouts,
            "opaque_dirs": self.opaque_dirs,
            "contents": {k: v.decode("latin-1") for k, v in self.contents.items()},
            "elf": {k: elffacts.to_json(v) for k, v in self.elf.items()},
            "skipped": self.skipped,
            "tar_size": self.tar_size,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerIndex:
        if data.get("format") != INDEX_FORMAT:
            raise ValueError("index format changed")
        return cls(
            diff_id=data["diff_id"],
            digest=str(data.get("digest", "")),
            entries=[Entry(*e) for e in data["entries"]],
            whiteouts=list(data["whiteouts"]),
            opaque_dirs=list(data["opaque_dirs"]),
            contents={k: v.encode("latin-1") for k, v in data["contents"].items()},
            elf={k: elffacts.from_json(v) for k, v in data["elf"].items()},
            skipped=list(data["skipped"]),
            tar_size=int(data["tar_size"]),
        )
