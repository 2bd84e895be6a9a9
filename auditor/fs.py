"""The merged filesystem: layer indexes applied in order, as a container runtime would.

Whiteouts (`.wh.NAME`) delete a path and everything below it from lower layers; an
opaque marker (`.wh..wh..opq`) hides all lower content of its directory. Every
surviving path remembers the layer that last wrote it and the sizes that earlier
layers wrote there; every file version that does not survive is waste.

Waste counts only the copies that do NOT survive (dive also counts the surviving copy,
which overstates what a rebuild can reclaim). Efficiency = 1 - wasted / written.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import compress, filterfalse
from operator import attrgetter, itemgetter, methodcaller, mul, not_
from typing import Any, NamedTuple, cast

from auditor import layerindex  # its EntryTable: the layers' columns the merge reads
from auditor.elffacts import AnyElf, UnreadableElf

# Facts and checks see tar entries through this model: it offers the entry kinds.
from auditor.layerindex import (
    BLOCK,
    CHAR,
    DIR,
    FIFO,
    FILE,
    HARDLINK,
    SYMLINK,
    Contents,
    Entry,
    LayerIndex,
    is_file,
)
from auditor.memory import gc_paused, return_big_blocks

__all__ = [
    "BLOCK",
    "CHAR",
    "DIR",
    "FIFO",
    "FILE",
    "HARDLINK",
    "SYMLINK",
    "Entry",
    "FileSystem",
    "LayerIndex",
    "Node",
    "WastedFile",
]

MAX_SYMLINK_HOPS = 40  # Linux's limit (MAXSYMLINKS)
PATH_MAX = 4096  # Linux's limit for a symlink target, the NUL included

_new = tuple.__new__  # builds a NamedTuple from a tuple in C, skipping its Python __new__


class Node(NamedTuple):
    """A surviving path. A tuple, not a class instance: the merge builds one per path
    (~100k in a big image), and a tuple is built in C and holds no __dict__; the
    index's `Entry` is shared, not copied."""

    entry: Entry
    layer: int  # index of the layer that last wrote this path
    implicit: bool = False  # a directory no layer listed, only implied by its children
    earlier: tuple[tuple[int, int], ...] = ()  # (layer, bytes) overwritten
    # A hard link's content: (layer, path) of the file it was linked to *when the link
    # was written*, and that file's size. A later layer replacing the target path does
    # not change the link (copy-up breaks the link in a real rootfs too).
    origin: tuple[int, str] | None = None
    linked_size: int = 0


@dataclass(frozen=True)
class WastedFile:
    path: str
    wasted_bytes: int
    layers: tuple[int, ...]  # layers whose copy of this path did not survive


RESOLVED_KEPT = 1 << 16  # `resolve` answers a model remembers (a few MB at most)


class FileSystem:
    """The final view of the image's root filesystem, with provenance.

    Stored by code, not by object: each surviving path has an int, either
    `row << shift | layer` (the path is that layer's entry of that row, unchanged: nearly
    every path) or `~k` for `_special[k]`, a whole `Node` (implicit directories, hard
    links, a file that inherited a removed link's content). The merge keeps them in a
    dict (`_merging`); once it is done they become `_codes`, a `SortedCodes`: the sorted
    paths and an array of their codes, looked up by bisection. A `Node` is built when
    asked for (`get`, `nodes`, the walks); the merge and the queries that walk every
    path read the layers' columns (`EntryTable`) and the codes' positions instead. Why:
    a Node and its Entry per path held ~180 bytes more per path than the columns, and
    the dict ~60 bytes more than the sorted columns (a million-file image: decoded
    layers and merged model took 471 MB, then 252 MB, now ~215 MB; bench/PROFILE.md).
    """

    def __init__(self, indexes: list[LayerIndex]) -> None:
        return_big_blocks()
        self._indexes = indexes
        self._tables = [layerindex.EntryTable.of(index.entries) for index in indexes]
        self._shift = max(1, (len(indexes) - 1).bit_length())  # bits that number a layer
        self._mask = (1 << self._shift) - 1
        # path -> code while merging; then `_codes`, the same as two sorted columns
        self._merging: dict[str, int] = {}
        self._lookup: Callable[[str], int | None] = self._merging.get
        self._special: list[Node] = []
        self._special_paths: list[str] = []  # the path each special Node was stored for
        # One byte per table row: 1 while that row is what its path shows. Kept up to
        # date by the merge, so that questions about every surviving row (stat groups,
        # directories, sizes) read masks instead of looking each path up again.
        self._alive_rows = [bytearray(len(t)) for t in self._tables]
        self._earlier: dict[str, tuple[tuple[int, int], ...]] = {}  # of coded paths
        # parent path -> paths of its children, for removals during the merge: for a
        # layer's whiteouts, only the subtrees they delete (`_children_below`); when a
        # layer replaces a directory, the whole map, then kept up to date; dropped after
        # the merge (`listdir` reads the sorted paths). Lists, not sets (a quarter of
        # the memory: a million paths held ~40 MB of sets at the merge's peak), and
        # never pruned: a listed child that is gone since is skipped by `_remove`.
        self._children: dict[str, list[str]] | None = None
        self._waste: dict[str, list[tuple[int, int]]] = {}
        self._gone: dict[str, tuple[tuple[int, int], ...]] = {}  # deleted paths' versions
        self._links: dict[tuple[int, str], set[str]] = {}  # content origin -> hard links
        self._ever_linked: set[str] = set()  # paths given a hard link's node at some point
        self.written_bytes = 0
        self.skipped: list[tuple[int, str]] = []
        self._named: dict[str, list[str]] = {}  # `files_named`'s answers
        self._resolved: dict[tuple[str, bool], str | None] = {}  # `resolve`'s slow answers
        with gc_paused():  # ~100k nodes, no cycles: see gc_paused
            for i, index in enumerate(indexes):
                self._apply(i, index)
        self._children = None
        # The model no longer changes: the dict the merge needed becomes two sorted
        # columns (see SortedCodes), ~50 bytes less per path.
        self._codes = SortedCodes.of(self._merging, self._code_typecode())
        self._lookup = self._codes.get
        del self._merging

    @property
    def nodes(self) -> NodeMap:
        """Every surviving path and its Node (built on access), as a read-only mapping
        iterated in path order. Made on each access, not kept: a kept view would make a
        reference cycle, and the model would wait for the cyclic collector instead of
        going with its image."""
        return NodeMap(self)

    # ---- the stored form -----------------------------------------------------------

    def _node(self, path: str, code: int) -> Node:
        """The Node of `path`, stored as `code`."""
        if code < 0:
            return self._special[~code]
        layer = code & self._mask
        entry = self._tables[layer].entry(code >> self._shift, path)
        earlier = self._earlier.get(path, ()) if self._earlier else ()
        return _new(Node, (entry, layer, False, earlier, None, 0))

    def _kind(self, code: int) -> str:
        """The entry kind stored as `code`, without building its Node."""
        if code < 0:
            return self._special[~code][0][1]
        return self._tables[code & self._mask].kinds[code >> self._shift]

    def _get(self, path: str) -> Node | None:
        code = self._lookup(path)
        return None if code is None else self._node(path, code)

    def _put(self, path: str, node: Node) -> None:
        """Store `node` whole (anything a layer row alone does not describe)."""
        self._earlier.pop(path, None)
        self._retire_row(self._merging.get(path))
        self._merging[path] = ~len(self._special)
        self._special.append(node)
        self._special_paths.append(path)

    def _put_row(
        self, path: str, layer: int, row: int, earlier: tuple[tuple[int, int], ...]
    ) -> None:
        self._retire_row(self._merging.get(path))
        self._merging[path] = row << self._shift | layer
        self._alive_rows[layer][row] = 1
        if earlier:
            self._earlier[path] = earlier
        elif self._earlier:
            self._earlier.pop(path, None)

    def _code_typecode(self) -> str:
        """The narrowest signed array type every code of this model fits (codes of whole
        Nodes are negative: ~k)."""
        top = max((len(t) << self._shift | self._mask for t in self._tables), default=0)
        return "i" if max(top, len(self._special)) < 1 << 31 else "q"

    def _retire_row(self, code: int | None) -> None:
        """The row stored as `code` no longer shows its path (see `_alive_rows`)."""
        if code is not None and code >= 0:
            self._alive_rows[code & self._mask][code >> self._shift] = 0

    # ---- merging -------------------------------------------------------------------

    def _apply(self, layer: int, index: LayerIndex) -> None:
        if index.opaque_dirs or index.whiteouts:
            partial = self._children is None
            if partial:
                self._children = self._children_below([*index.opaque_dirs, *index.whiteouts])
            for d in index.opaque_dirs:
                for child in sorted(set(self._child_map().get(d, ()))):
                    self._remove(child)
            for path in index.whiteouts:
                self._remove(path)
            if partial:
                self._children = None
        self._add_all(layer, self._tables[layer])
        self.skipped.extend((layer, s) for s in index.skipped)

    def _add_all(self, layer: int, table: layerindex.EntryTable) -> None:
        """Apply a layer's entries in order. Most entries write a new path below an
        existing directory: that case is handled inline here (one int, one dict
        insert); anything else (a path written before, a missing or non-directory
        parent, a hard link) goes through `_add`, in the same order."""
        codes, gone, shift = self._merging, self._gone, self._shift
        self.written_bytes += table.file_bytes()
        # every row shows its path unless something below says otherwise (`_retire_row`)
        self._alive_rows[layer][:] = b"\x01" * len(table)
        checked = None  # the last parent found to be a directory (tar lists by directory)
        # each row's code, made in C: row << shift | layer
        numbered = range(layer, (len(table) << shift) + layer, 1 << shift)
        for code, path, kind in zip(numbered, table.paths, table.kinds):
            if kind == HARDLINK or path in codes or (gone and path in gone):
                self._add(layer, code >> shift, path)
                checked = None
                continue
            cut = path.rfind("/")
            if cut > 0:
                parent = path[:cut]
                if parent != checked:
                    above = codes.get(parent)
                    if above is None or self._kind(above) != DIR:
                        self._add(layer, code >> shift, path)
                        checked = None
                        continue
                    checked = parent
            else:
                parent = ""
            codes[path] = code
            children = self._children
            if children is not None:
                children.setdefault(parent, []).append(path)
                if kind == DIR:
                    children.setdefault(path, [])

    def _retire(self, path: str, node: Node) -> None:
        """A version of `path` leaves the view. Its bytes are waste, unless a surviving
        hard link still holds them: that link then simply is the file (as in a real
        rootfs once the first name is gone), and the bytes still count as surviving."""
        if node.entry.kind == HARDLINK:
            if node.origin is not None:
                self._links.get(node.origin, set()).discard(path)
            return
        if node.entry.kind != FILE:
            return
        key = node.origin or (node.layer, path)
        heirs = self._links.get(key)
        if heirs:
            heir_path = min(heirs)
            heirs.discard(heir_path)
            heir = self._get(heir_path)
            assert heir is not None
            entry = heir.entry._replace(kind=FILE, size=node.entry.size)
            self._put(heir_path, heir._replace(entry=entry, origin=key))
            self._ever_linked.add(heir_path)
            return
        if node.entry.size:
            self._waste.setdefault(path, []).append((key[0], node.entry.size))

    @staticmethod
    def _file_bytes(node: Node) -> int:
        return node.entry.size if node.entry.kind == FILE else 0

    def _child_map(self) -> dict[str, list[str]]:
        """parent -> child paths (during the merge), built from the nodes on first use."""
        if self._children is None:
            children: dict[str, list[str]] = {"": []}
            kind = self._kind
            with gc_paused():
                for path, code in self._merging.items():
                    if kind(code) == DIR:
                        children.setdefault(path, [])
                    cut = path.rfind("/")
                    children.setdefault(path[:cut] if cut > 0 else "", []).append(path)
            self._children = children
        return self._children

    def _children_below(self, targets: list[str]) -> dict[str, list[str]]:
        """The child map of `targets`' subtrees only: all that removing them needs, found
        with one prefix test per path instead of a parent per path (a layer that
        deletes a few packages of a million-file image). The whole map when a target
        is the root or there are many targets (the prefix test is per target)."""
        if "" in targets or len(targets) > 64:
            return self._child_map()
        prefixes = tuple(t + "/" for t in targets)
        children: dict[str, list[str]] = {t: [] for t in targets}
        for path in [p for p in self._merging if p.startswith(prefixes)]:
            cut = path.rfind("/")
            children.setdefault(path[:cut], []).append(path)
        return children

    def _remove(self, path: str) -> None:
        code = self._merging.pop(path, None)
        if code is None:
            return
        self._retire_row(code)
        node = self._node(path, code)
        self._earlier.pop(path, None)
        self._retire(path, node)
        if node.entry.kind != DIR:
            # A later layer may write the path again: it still has this history.
            self._gone[path] = (*node.earlier, (node.layer, self._file_bytes(node)))
        else:
            for child in sorted(set(self._child_map().pop(path, ()))):
                self._remove(child)

    def _ensure_parent(self, layer: int, path: str) -> None:
        parent = _parent(path)
        if parent:
            above = self._merging.get(parent)
            if above is None:
                self._ensure_parent(layer, parent)
                implied = Entry(parent, DIR, 0o755, 0, 0, 0, 0, "")
                self._put(parent, Node(implied, layer, True))
                if self._children is not None:
                    self._children.setdefault(parent, [])
            elif self._kind(above) != DIR:
                # A layer writes below what a lower layer had as a file or link: the
                # runtime replaces it with a directory.
                self._remove(parent)
                self._ensure_parent(layer, path)
                return
        if self._children is not None:
            self._children.setdefault(parent, []).append(path)

    def _add(self, layer: int, row: int, path: str) -> None:
        entry = self._tables[layer].entry(row, path)
        old = self._get(path)
        earlier = self._gone.pop(path, ())
        if old is not None:
            if old.entry.kind == DIR and entry.kind == DIR:
                # Directory metadata changes; its content stays.
                self._put_row(path, layer, row, old.earlier)
                return
            if old.entry.kind == DIR:
                self._remove(path)
            else:
                self._retire(path, old)
                earlier = (*earlier, *old.earlier, (old.layer, self._file_bytes(old)))
        self._ensure_parent(layer, path)
        if entry.kind == HARDLINK:
            self._put(path, self._link(Node(entry, layer, False, earlier)))
            self._alive_rows[layer][row] = 0  # stored whole, not as its row
            self._ever_linked.add(path)
        else:
            self._put_row(path, layer, row, earlier)
        if entry.kind == DIR and self._children is not None:
            self._children.setdefault(path, [])

    def _link(self, node: Node) -> Node:
        """A hard link shares its target's inode: same mode, owner and content; it adds
        no bytes (its entry size stays 0 so content is not counted twice)."""
        entry = node.entry
        target = self._get(entry.link)
        if target is None or target.entry.kind not in (FILE, HARDLINK):
            return node
        t = target.entry
        linked = Entry(entry.path, HARDLINK, t.mode, t.uid, t.gid, 0, t.mtime, entry.link)
        origin: tuple[int, str] | None
        if t.kind == FILE:
            origin, size = target.origin or (target.layer, entry.link), t.size
        else:
            origin, size = target.origin, target.linked_size
        if origin is not None:
            self._links.setdefault(origin, set()).add(entry.path)
        return node._replace(entry=linked, origin=origin, linked_size=size)

    # ---- queries -------------------------------------------------------------------

    def __contains__(self, path: str) -> bool:
        return _norm(path) in self._codes

    def get(self, path: str) -> Node | None:
        return self._get(_norm(path))

    def listdir(self, path: str) -> list[str]:
        """Names in directory `path`, in the order of their paths (sorted). Found in the
        sorted path list, jumping over each child's subtree with one bisect: no
        directory -> children map is kept (a million-path image: ~15 MB)."""
        d = _norm(path)
        if d and (code := self._codes.get(d)) is not None and self._kind(code) != DIR:
            return []
        paths = self._paths
        start = len(d) + 1 if d else 0
        i, hi = _prefix_range(paths, d + "/") if d else (0, len(paths))
        names = []
        while i < hi:
            child = paths[i]
            slash = child.find("/", start)
            if slash < 0:
                names.append(child[start:])
                i += 1
            else:  # a deeper path whose ancestor below `d` sorts before it: skip its tree
                i = bisect_left(paths, child[:slash] + "0", i, hi)  # "0" follows "/"
        return names

    def walk_files(self) -> Iterator[tuple[str, Node]]:
        """Every non-directory path, sorted (each Node built as the walk reaches it)."""
        return self._with_nodes(self._files, self._file_codes)

    def _with_nodes(
        self, paths: list[str], codes: Iterable[int] | None = None
    ) -> Iterator[tuple[str, Node]]:
        """Each of the sorted, stored `paths` with its Node (`codes`: theirs, when known)."""
        if codes is None:
            codes = cast(Iterator[int], self._codes.sorted_lookup(paths))
        return zip(paths, map(self._node, paths, codes))

    @cached_property
    def _files(self) -> list[str]:
        """Non-directory paths, sorted: several facts and checks walk them."""
        return list(compress(self._paths, self._not_dir))

    @cached_property
    def _file_codes(self) -> array[int]:
        """The code of each `_files` path, in the same order."""
        return array(self._codes.codes.typecode, compress(self._codes.codes, self._not_dir))

    @cached_property
    def _not_dir(self) -> bytes:
        """One byte per `_paths` path: 1 unless it is a directory (made in C)."""
        dirs = self._dirs
        return bytes(map(not_, map(dirs.__contains__, self._paths)))

    @cached_property
    def _dirs(self) -> set[str]:
        """Every surviving directory: found by the tables' kind columns (a directory
        is one entry in ~25), each kept if its row is the one that survived."""
        dirs = set()
        for layer, table in enumerate(self._tables):
            kinds, paths, alive = table.kinds, table.paths, self._alive_rows[layer]
            row = kinds.find(DIR)
            while row >= 0:
                if alive[row]:
                    dirs.add(paths[row])
                row = kinds.find(DIR, row + 1)
        dirs.update(path for path, node in self._alive_special() if node.entry.kind == DIR)
        return dirs

    def file_paths(self) -> list[str]:
        """Every non-directory path, sorted (the cached list itself: do not change it):
        for walks that look at paths only, without building a Node per path."""
        return self._files

    def paths(self) -> list[str]:
        """Every surviving path, sorted (the cached list itself: do not change it)."""
        return self._paths

    def files_under(self, prefixes: Iterable[str]) -> Iterator[tuple[str, Node]]:
        """The `walk_files()` items whose path starts with one of `prefixes` (plain string
        prefixes: "usr/share/doc/"), sorted, each once. Exactly the same as filtering
        `walk_files()` with `path.startswith(prefixes)`, but found by bisecting the sorted
        file list: checks that only look at a few directories skip the other ~90k files."""
        paths, codes = self._files, self._file_codes
        ranges = []
        for prefix in prefixes:
            if not prefix:
                return self.walk_files()
            lo, hi = _prefix_range(paths, prefix)
            if lo < hi:
                ranges.append((lo, hi))
        ranges.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in ranges:
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        picked, picked_codes = [], array(codes.typecode)
        for lo, hi in merged:
            picked += paths[lo:hi]
            picked_codes += codes[lo:hi]
        return self._with_nodes(picked, picked_codes)

    def paths_under(self, prefix: str) -> list[str]:
        """Every surviving path (directories too) that starts with `prefix`, sorted."""
        lo, hi = _prefix_range(self._paths, prefix)
        return self._paths[lo:hi]

    def files_ending(self, suffix: str) -> Iterator[tuple[str, Node]]:
        """The `walk_files()` items whose path ends with `suffix` (".pyc", ".a"), sorted;
        found once per suffix: several facts and checks ask for the same one. Kept as two
        lists, as `_files` is, not as (path, node) pairs: tens of thousands of kept tuples
        would wake the cyclic garbage collector for nothing."""
        found = self._ending.get(suffix)
        if found is None:
            found = self._ending[suffix] = [p for p in self._files if p.endswith(suffix)]
        return self._with_nodes(found)

    @cached_property
    def _ending(self) -> dict[str, list[str]]:
        return {}

    def resolve(self, path: str, follow_last: bool = True) -> str | None:
        """The real path of `path` inside the image, following symlinks as the kernel
        does but never leaving the image root; None when it does not exist or loops."""
        codes = self._codes
        stored = codes.get(_norm(path))
        if stored is not None and (not follow_last or self._kind(stored) != SYMLINK):
            # Every ancestor of a stored path is a directory (the merge replaces a file
            # or link that a later layer writes below), so a stored path is already real.
            return _norm(path)
        # The walk below, remembered: the model no longer changes, and the same paths
        # come back (the loader's search dirs for each library name of each ELF object:
        # 6,664 walks for 2,150 paths on the bench image; elf_graph 0.107 -> 0.086 s).
        # Bounded: a hostile image's answers do not grow without end.
        key = (path, follow_last)
        if key in self._resolved:
            return self._resolved[key]
        real = self._walk(path, follow_last)
        if len(self._resolved) < RESOLVED_KEPT:
            self._resolved[key] = real
        return real

    def _walk(self, path: str, follow_last: bool) -> str | None:
        """`resolve` component by component (a link's target spliced in)."""
        codes = self._codes
        # `parts` is a stack (next name last): popping the front of a list is quadratic
        # in a hostile link target of 200k "./" parts.
        parts = [p for p in reversed(_norm(path).split("/")) if p]
        resolved: list[str] = []
        hops = 0
        while parts:
            name = parts.pop()
            if name == ".":
                continue
            if name == "..":
                if resolved:
                    resolved.pop()
                continue
            current = "/".join([*resolved, name])
            code = codes.get(current)
            if code is None:
                return None
            if (parts or follow_last) and self._kind(code) == SYMLINK:
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    return None
                target = self._node(current, code).entry.link
                if len(target) >= PATH_MAX:
                    return None  # the kernel refuses such a link (ENAMETOOLONG)
                if target.startswith("/"):
                    resolved = []
                parts.extend(p for p in reversed(target.split("/")) if p)
                continue
            resolved.append(name)
        return "/".join(resolved)

    def read(self, path: str) -> bytes | None:
        """Captured content of `path` (after following links), if the capture policy kept it."""
        code = self._codes.get(path)
        if code is None or self._kind(code) == SYMLINK:
            # Not a stored path as given (a leading slash, a link on the way) or a link:
            # the full walk. Otherwise `resolve` would give `path` itself back.
            real = self.resolve(path)
            if real is None:
                return None
            return self._content_of(real)
        where = self._where(path, code)
        return None if where is None else self._indexes[where[0]].contents.get(where[1])

    def _where(self, path: str, code: int) -> tuple[int, str] | None:
        """(layer, path) whose recorded content is the content of `path` (stored as
        `code`): a hard link's, or a file that was one, is its origin's."""
        if code >= 0:
            layer = code & self._mask
            if self._tables[layer].kinds[code >> self._shift] == HARDLINK:
                return None  # a link whose target was not there: no content
            return layer, path
        node = self._special[~code]
        if node.origin is not None or node.entry.kind == HARDLINK:
            return node.origin
        return node.layer, path

    def _content_of(self, path: str) -> bytes | None:
        where = self._data_location(path)
        return None if where is None else self._indexes[where[0]].contents.get(where[1])

    def _data_location(self, path: str) -> tuple[int, str] | None:
        """(layer, path) whose recorded content is the content of `path`."""
        code = self._codes.get(path)
        return None if code is None else self._where(path, code)

    def file_size(self, path: str) -> int | None:
        """Content size of a regular file or hard link (after following symlinks)."""
        real = self.resolve(path)
        node = self._get(real) if real is not None else None
        if node is None or node.entry.kind not in (FILE, HARDLINK):
            return None
        return node.linked_size if node.entry.kind == HARDLINK else node.entry.size

    def hard_linked(self, path: str) -> bool:
        """Whether the regular file `path` shares its content with a surviving hard link
        (removing this name then frees no byte: the link still holds them). Not followed."""
        node = self._get(_norm(path))
        if node is None or node.entry.kind != FILE:
            return False
        return bool(self._links.get(node.origin or (node.layer, _norm(path))))

    def regular_file_size(self, path: str) -> int | None:
        """The size of `path` if it is a regular file (not followed, not a hard link), else
        None; read from the columns without building the Node."""
        code = self._lookup(_norm(path))
        if code is None:
            return None
        if code < 0:
            entry = self._special[~code].entry
            return entry.size if entry.kind == FILE else None
        table = self._tables[code & self._mask]
        row = code >> self._shift
        return table.sizes[row] if table.kinds[row] == FILE else None

    def elf(self, path: str) -> AnyElf | None:
        """ELF link facts of `path` (after following links), if it is an ELF file."""
        real = self.resolve(path)
        if real is None:
            return None
        where = self._data_location(real)
        return None if where is None else self._indexes[where[0]].elf.get(where[1])

    @property
    def _paths(self) -> list[str]:
        """Every surviving path, sorted (the model's own column: do not change it)."""
        return self._codes.paths

    @cached_property
    def _linked(self) -> list[str]:
        """Surviving paths whose content lives under another path: hard links, and files
        that were one (their content is their origin's)."""
        found = []
        for p in self._ever_linked:
            node = self._get(p)
            if node is not None and (node.origin is not None or node.entry.kind == HARDLINK):
                found.append(p)
        return found

    def _holders(self, keys: Any) -> list[str]:
        """Sorted surviving paths that may hold data recorded under one of `keys` (per
        layer): those paths themselves, and every linked path. A superset: callers
        still look the data up, through `_data_location`."""
        found: set[str] = set(self._linked)
        for layer_keys in keys:
            found.update(layer_keys)
        # sorted first: the model's lookups are bisections, cheap in sorted order
        candidates = sorted(found)
        return list(compress(candidates, map(_is_some, self._codes.sorted_lookup(candidates))))

    @cached_property
    def _elf_list(self) -> list[tuple[str, AnyElf]]:
        out = []
        codes, indexes = self._codes, self._indexes
        for path in self._holders(index.elf for index in self._indexes):
            code = codes[path]
            if self._kind(code) in (FILE, HARDLINK):
                # Stored paths are already real: no symlink walk needed to find the data.
                where = self._where(path, code)
                facts = None if where is None else indexes[where[0]].elf.get(where[1])
                if facts is not None:
                    out.append((path, facts))
        return out

    def elf_files(self) -> Iterator[tuple[str, AnyElf]]:
        """Every surviving ELF file, sorted by path (listed once per scan, then reused)."""
        return iter(self._elf_list)

    def unreadable_elf_files(self) -> Iterator[tuple[str, UnreadableElf, bool]]:
        """Every surviving ELF file whose link facts were not read, with whether only
        the reader's own bounds stopped it (`UnreadableElf.reader_limited` for the file's
        size): those load as usual and are no fact about the image; the others are."""
        for path, facts in self._elf_list:
            if isinstance(facts, UnreadableElf):
                node = self.get(path)
                size = node.entry.size if node is not None else 0
                yield path, facts, facts.reader_limited(size)

    @cached_property
    def _captured_paths(self) -> list[str]:
        return self._holders(index.contents for index in self._indexes)

    def captured(self, predicate: Any = None) -> Iterator[tuple[str, bytes]]:
        """Every surviving path with captured content, sorted."""
        paths = self._captured_paths
        return self._with_content(paths if predicate is None else filter(predicate, paths))

    def _with_content(
        self, paths: Iterable[str], codes: Iterable[int] | None = None
    ) -> Iterator[tuple[str, bytes]]:
        """Each of `paths` that has captured content, with it (`_content_of` inlined:
        SEC008 and the pyc fact go through ~200k pyc headers in a big image); `codes`:
        the paths' codes, when the caller has them (else looked up, in sorted order)."""
        shift, mask, tables = self._shift, self._mask, self._tables
        contents = [index.contents for index in self._indexes]
        # A decoded layer's contents as columns, looked up here: `paths` come sorted
        # (any order is still answered right), so each layer's next content is at or
        # after the last one found (`after`), and nearly always the very next one (the
        # heads of every pyc in a layer); a bisection per path cost ~0.9 us (long
        # shared prefixes, cache misses).
        columns = [c.columns() if isinstance(c, Contents) else None for c in contents]
        after = [0] * len(contents)
        if codes is None:
            paths = list(paths)
            found: Iterable[int | None] = self._codes.sorted_lookup(paths)
        else:
            found = codes
        for path, code in zip(paths, found):
            if code is None:
                continue
            if code >= 0:
                layer = code & mask
                if tables[layer].kinds[code >> shift] == HARDLINK:
                    continue  # a link whose target was not there: no content
                held = columns[layer]
                if held is None:
                    data = contents[layer].get(path)
                else:
                    stored, ends, body = held
                    i = after[layer]
                    if i >= len(stored) or stored[i] != path:
                        i = bisect_left(stored, path, i)
                        if i == len(stored) or stored[i] != path:
                            i = bisect_left(stored, path, 0, i)  # `paths` out of order
                            if i == len(stored) or stored[i] != path:
                                continue
                    after[layer] = i + 1
                    data = body[ends[i - 1] if i else 0 : ends[i]]
            else:
                where = self._where(path, code)
                if where is None:
                    continue
                data = contents[where[0]].get(where[1])
            if data is not None:
                yield path, data

    # ---- sizes and waste -----------------------------------------------------------

    @cached_property
    def _sizes(self) -> array[int]:
        """Content bytes of each `_files` path that is a regular file (0 for the rest),
        as an array: a million sizes as ints would be ~30 MB of objects.

        Made in C: every table's file sizes go into one scratch array at their codes
        (`row << shift | layer`), each file's code picks its size out of it; the few
        paths stored as whole Nodes are then set one by one."""
        tables, shift, files = self._tables, self._shift, self._files
        step = 1 << shift
        # in the tables' widest size type (most hold 2-byte sizes: a few MB of scratch),
        # long enough that a whole Node's code (negative: ~k) also picks some place
        places = max(step * max(map(len, tables), default=0), len(self._special) + 1)
        scratch = array(layerindex.widest(t.sizes for t in tables))
        scratch.frombytes(bytes(scratch.itemsize * places))
        for layer, t in enumerate(tables):
            sized = array(scratch.typecode, map(mul, t.sizes, is_file(t.kinds)))
            scratch[layer : layer + len(t) * step : step] = sized
        out = array(scratch.typecode, map(scratch.__getitem__, self._file_codes))
        del scratch
        for path, node in self._alive_special():
            entry = node.entry
            if entry.kind == DIR:
                continue
            at = bisect_left(files, path)
            out[at] = entry.size if entry.kind == FILE else 0
        return out

    @property
    def total_bytes(self) -> int:
        """Bytes of regular-file content in the final view."""
        return sum(self._sizes)

    def waste(self) -> list[WastedFile]:
        """Files whose bytes were written and did not survive, largest first (a new
        list of the same frozen values on each call)."""
        return list(self._waste_list)

    @cached_property
    def _waste_list(self) -> list[WastedFile]:
        """`waste()`, made once: SZ002 and the report both ask (~22k paths at a million
        files), and the model no longer changes after the merge."""
        out = [
            WastedFile(
                path,
                sum(map(itemgetter(1), versions)),
                tuple(sorted(set(map(itemgetter(0), versions)))),
            )
            for path, versions in self._waste.items()
        ]
        out.sort(key=lambda w: (-w.wasted_bytes, w.path))
        return out

    @cached_property
    def wasted_bytes(self) -> int:
        return sum(map(attrgetter("wasted_bytes"), self._waste_list))

    @property
    def efficiency(self) -> float:
        if self.written_bytes == 0:
            return 1.0
        return 1.0 - self.wasted_bytes / self.written_bytes

    def directory_sizes(self, max_depth: int = 3) -> dict[str, int]:
        """Recursive content size of every directory down to `max_depth` components."""
        # A directory's size is the sum over the files below it: one contiguous range
        # of the sorted file list, summed in C.
        files, file_sizes = self._files, self._sizes
        sizes: dict[str, int] = {}
        for d in sorted(d for d in self._dirs if d.count("/") < max_depth):
            lo, hi = _prefix_range(files, d + "/")
            total = sum(file_sizes[lo:hi])
            if total:
                sizes[d] = total
        return sizes

    # ---- queries added for issue 20 walks ------------------------------------------
    # Facts, checks and the report's sizes each walked every path and looked at its
    # node: ~5 CPU us per entry on a 1M-file image. These queries answer them from one
    # pass each, shared, or a filter run in C, and return paths, so that a caller looks
    # nodes up only for the paths it keeps. Each docstring states the contract, which
    # tests/test_fs_walks.py checks against the brute-force walk, so the model
    # underneath may change without changing the answers. On the columnar model they
    # read the tables' columns and the survival masks, in the tables' own order, and
    # sort afterwards: on a 1M-path model, looking paths up in sorted order misses the
    # CPU caches and costs 5-10x more.

    #: Suffixes facts and checks ask `file_paths_ending` for (bytecode, venv configs, C
    #: headers, static libraries): the paths ending with any of them are found in one pass.
    COMMON_SUFFIXES = (".pyc", "pyvenv.cfg", ".h", ".a")

    def file_paths_under(self, prefixes: Iterable[str]) -> list[str]:
        """`[p for p, _ in files_under(prefixes)]`: the non-directory paths that start with
        one of `prefixes` (plain string prefixes), sorted, each once; by bisection."""
        paths = self.file_paths()
        ranges = sorted(_prefix_range(paths, prefix) for prefix in prefixes)
        out: list[str] = []
        end = 0
        for lo, hi in ranges:
            lo = max(lo, end)
            if lo < hi:
                out += paths[lo:hi]
                end = hi
        return out

    def file_sizes_under(self, prefixes: Iterable[str]) -> tuple[list[str], array[int]]:
        """`file_paths_under(prefixes)` and, beside each, the bytes of its content if it is
        a regular file, 0 for anything else (`regular_file_size` tells an empty file from
        a link): slices of the sizes column, no Node built (SZ004 sums ~100k doc files
        of a big image)."""
        paths, sizes = self.file_paths(), self._sizes
        ranges = sorted(_prefix_range(paths, prefix) for prefix in prefixes)
        out: list[str] = []
        out_sizes = array(sizes.typecode)
        end = 0
        for lo, hi in ranges:
            lo = max(lo, end)
            if lo < hi:
                out += paths[lo:hi]
                out_sizes += sizes[lo:hi]
                end = hi
        return out, out_sizes

    def file_paths_ending(self, suffix: str | tuple[str, ...]) -> list[str]:
        """`[p for p in file_paths() if p.endswith(suffix)]`, sorted; the test runs in C.
        A suffix that ends with one of COMMON_SUFFIXES is looked for among the paths
        ending with those, found in one shared pass (several facts and checks ask)."""
        paths, _ = self._ending_among(suffix)
        return list(filter(methodcaller("endswith", suffix), paths))

    def files_named(self, names: Iterable[str]) -> dict[str, list[str]]:
        """Per name, the sorted non-directory paths whose last component it is (a name
        with a slash: the paths ending with it). Names not asked before are found in one
        pass over the paths and remembered (the model no longer changes): EL001, PY002
        (once per failing stdlib module) and PK002 ask about the libraries the loader
        missed, a pass of ~8 ms each on the 85k-file bench image."""
        memo = self._named
        asked = set(names)
        wanted = sorted(asked - memo.keys())
        plain = [n for n in wanted if "/" not in n]
        for name in wanted:
            memo[name] = self.file_paths_ending("/" + name) if "/" in name else []
        if plain:
            for path in self.file_paths_ending(tuple("/" + n for n in plain)):
                memo[path.rpartition("/")[2]].append(path)
        return {name: memo[name] for name in asked}

    def _ending_among(self, suffix: str | tuple[str, ...]) -> tuple[list[str], array[int]]:
        """Where the files ending with `suffix` are (with their codes): among those of the
        shared pass when every suffix ends with one of COMMON_SUFFIXES, else every file."""
        suffixes = (suffix,) if isinstance(suffix, str) else suffix
        if all(s.endswith(self.COMMON_SUFFIXES) for s in suffixes):
            return self._common_endings, self._common_codes
        return self._files, self._file_codes

    @cached_property
    def _common_endings(self) -> list[str]:
        return list(compress(self._files, self._common_mask))

    @cached_property
    def _common_mask(self) -> bytes:
        """One byte per `_files` path: 1 where it ends with one of COMMON_SUFFIXES."""
        return bytes(map(methodcaller("endswith", self.COMMON_SUFFIXES), self._files))

    @cached_property
    def _common_codes(self) -> array[int]:
        return array(self._file_codes.typecode, compress(self._file_codes, self._common_mask))

    def _ending_with_codes(self, suffix: str) -> tuple[list[str], array[int]]:
        """`file_paths_ending(suffix)` and the code of each (positions kept: no lookup)."""
        paths, codes = self._ending_among(suffix)
        wanted = bytes(map(methodcaller("endswith", suffix), paths))
        return list(compress(paths, wanted)), array(codes.typecode, compress(codes, wanted))

    def captured_where(
        self, test: Any, skip_ending: str | tuple[str, ...] = ()
    ) -> list[tuple[str, bytes]]:
        """`[(p, d) for p, d in captured() if test(p, d)]`, sorted by path, for a `test`
        that rejects nearly everything cheaply: it is run first on every content each
        layer recorded, in the layers' own order, and only the paths it accepts (and
        the linked paths, whose content is recorded under another path) are looked up
        as `captured` would. `test` must be pure. Paths ending with `skip_ending` are
        neither tested nor returned: they are left out in C, before any content is
        sliced (a million-file image records the 16-byte head of 200k pycs, which a
        secret test calling Python per content spent ~0.4 s on)."""
        maybe = set(self._linked)
        for accepted in self._accepted(test, skip_ending):
            maybe.update(accepted)
        if skip_ending:
            maybe = set(filterfalse(methodcaller("endswith", skip_ending), maybe))
        return [(p, d) for p, d in self._with_content(sorted(maybe)) if test(p, d)]

    def captured_lost_where(
        self, test: Any, skip_ending: str | tuple[str, ...] = ()
    ) -> list[tuple[int, str, bytes]]:
        """(layer, path, content) of each content a layer recorded that `test` accepts and
        whose version does not show in the final view: a later layer deleted or replaced
        it, and its bytes are still in that layer's tar (`docker save` hands them to
        anyone). Paths ending with `skip_ending` are left out, as in `captured_where`."""
        out = []
        for layer, accepted in enumerate(self._accepted(test, skip_ending)):
            for path in accepted:
                code = self._lookup(path)
                if code is not None:
                    shown = self._special[~code].layer if code < 0 else code & self._mask
                    if shown == layer:
                        continue  # this layer's version is the one the image shows
                out.append((layer, path, self._indexes[layer].contents[path]))
        return out

    def _accepted(self, test: Any, skip_ending: str | tuple[str, ...]) -> list[list[str]]:
        """Per layer, the paths whose recorded content `test` (pure) accepts, those ending
        with `skip_ending` left out in C. Remembered per (test, skip_ending): SEC008 asks
        `captured_where` and `captured_lost_where` with the same test, which would
        otherwise run twice over every recorded content."""
        key = (test, skip_ending)
        found = self._accepted_memo.get(key)
        if found is None:
            found = []
            for index in self._indexes:
                contents = index.contents
                if not skip_ending:
                    found.append([p for p, d in contents.items() if test(p, d)])
                    continue
                kept = filterfalse(methodcaller("endswith", skip_ending), contents)
                found.append([p for p in kept if test(p, contents[p])])
            self._accepted_memo[key] = found
        return found

    @cached_property
    def _accepted_memo(self) -> dict[Any, list[list[str]]]:
        return {}

    def captured_ending(self, suffix: str) -> Iterator[tuple[str, bytes]]:
        """`captured(lambda p: p.endswith(suffix))` restricted to non-directory paths:
        each with the content recorded for it (a hard link's from its origin; links are
        not followed), sorted by path; looked for among the paths with that suffix only."""
        return self._with_content(*self._ending_with_codes(suffix))

    def stat_groups(self) -> dict[tuple[str, int, int, int], list[str]]:
        """Every surviving path (directories, implied ones, links, devices too) grouped by
        its entry's (kind, mode, uid, gid); each group's paths sorted. Built once per
        scan (the cached dict itself: do not change it): an image has a few dozen such
        groups, so a check of modes or owners judges each group once, not each path."""
        return self._stat_groups

    @cached_property
    def _stat_groups(self) -> dict[tuple[str, int, int, int], list[str]]:
        groups: dict[tuple[str, int, int, int], list[str]] = {}
        with gc_paused():
            for layer, table in enumerate(self._tables):
                m, u, g = table.modes, table.uids, table.gids
                # grouped by the places in the columns' tables (small ints: no object
                # per row), named by the values once per group
                by_place = self._grouped_rows(table, self._alive(layer))
                for (kind, mi, ui, gi), paths in by_place.items():
                    key = (kind, m.table[mi], u.table[ui], g.table[gi])
                    if key in groups:
                        groups[key] += paths
                    else:
                        groups[key] = paths
            for path, node in self._alive_special():
                e = node.entry
                groups.setdefault((e.kind, e.mode, e.uid, e.gid), []).append(path)
            for group in groups.values():
                group.sort()
        return groups

    @staticmethod
    def _grouped_rows(
        table: layerindex.EntryTable, alive: bytearray
    ) -> dict[tuple[str, int, int, int], list[str]]:
        """The surviving rows' paths of `table` by (kind, mode place, uid place, gid
        place). A layer has a handful of such keys: each key's rows are then picked in
        C, by a byte mask per column (kind, mode, owner places of one byte each); a
        path at a time only when a column needs wider places or there are many keys."""
        m, u, g = table.modes, table.uids, table.gids
        keys = Counter(compress(zip(table.kinds, m.at, u.at, g.at), alive))
        out: dict[tuple[str, int, int, int], list[str]] = {}
        if len(keys) <= _MASKED_KEYS and all(c.at.typecode == "B" for c in (m, u, g)):
            width = len(alive)
            columns = (table.kinds.encode("ascii"), m.at.tobytes(), u.at.tobytes(), g.at.tobytes())
            every = int.from_bytes(alive, "little")
            for key in keys:
                mask = every
                for column, value in zip(columns, (ord(key[0]), *key[1:])):
                    mask &= int.from_bytes(column.translate(_ONE_AT[value]), "little")
                out[key] = list(compress(table.paths, mask.to_bytes(width, "little")))
            return out
        for path, key in compress(zip(table.paths, zip(table.kinds, m.at, u.at, g.at)), alive):
            group = out.get(key)
            if group is None:
                out[key] = [path]
            else:
                group.append(path)
        return out

    def dir_paths(self) -> list[str]:
        """Every surviving directory path (implied ones too), sorted: a few percent of the
        paths. Every ancestor of a stored path is one, so "the files below a directory
        named X" is `file_paths_under` of these, not a test of every file path."""
        return self._dir_paths

    @cached_property
    def _dir_paths(self) -> list[str]:
        return sorted(self._dirs)

    def stat_groups_under(
        self, prefix: str
    ) -> Iterator[tuple[tuple[str, int, int, int], list[str]]]:
        """`stat_groups()` cut to the paths that start with `prefix` (a plain string
        prefix: "srv/app/"), groups left empty left out; each list sorted."""
        for key, paths in self.stat_groups().items():
            lo, hi = _prefix_range(paths, prefix)
            if lo < hi:
                yield key, paths if hi - lo == len(paths) else paths[lo:hi]

    # ---- survival, by row ----------------------------------------------------------

    def _alive(self, layer: int) -> bytearray:
        """One byte per row of layer `layer`'s table: 1 where that row is what the path
        shows (it survived the merge), else 0 (the merge keeps it: do not change it)."""
        return self._alive_rows[layer]

    def _alive_special(self) -> Iterator[tuple[str, Node]]:
        """The surviving paths stored as whole Nodes, with them."""
        codes = self._codes
        for k, path in enumerate(self._special_paths):
            if codes.get(path) == ~k:
                yield path, self._special[k]


class SortedCodes(layerindex.SortedMap[int]):
    """The merged model's path -> code table, frozen: the sorted paths and, beside them,
    each one's code in an array. Why not the dict the merge builds: at a million paths
    the dict (~29 MB) and its int values (every code a distinct int object, ~32 MB) were
    a fifth of a scan's peak memory, and the sorted path list is needed anyway (listings,
    prefix queries); the codes add 4 bytes a path. The queries that look up many paths
    ask in sorted order or take codes by position (bench/PROFILE.md)."""

    __slots__ = ("codes",)

    def __init__(self, paths: list[str], codes: array[int]) -> None:
        super().__init__(paths)
        self.codes = codes

    @classmethod
    def of(cls, table: dict[str, int], typecode: str) -> SortedCodes:
        """The frozen form of `table` (which this empties), codes in arrays of `typecode`.
        Sorting is cheap (the merge inserts in nearly sorted order); looking each path up
        in sorted order is most of the cost (~0.4 s at 1M paths: the dict's slots are
        scattered), the lookups `_sizes` made before."""
        paths = sorted(table)
        # popped, not looked up: each int is freed as its code goes into the array
        return cls(paths, array(typecode, map(table.pop, paths)))

    def _value(self, i: int) -> int:
        return self.codes[i]

    def values(self) -> Iterator[int]:  # type: ignore[override]
        return iter(self.codes)

    def sorted_lookup(self, paths: Iterable[str]) -> Iterator[int | None]:
        """The code of each of `paths` (None where not stored); fastest for paths in
        sorted order (the bisections' probes stay in the CPU caches)."""
        return map(self.get, paths)


def _is_some(value: object) -> bool:
    return value is not None


class NodeMap(Mapping[str, Node]):
    """`FileSystem.nodes`: every surviving path and its Node, as a read-only mapping.
    Each Node is built when asked for: the model stores paths by code (see FileSystem)."""

    __slots__ = ("_fs",)

    def __init__(self, fs: FileSystem) -> None:
        self._fs = fs

    def __getitem__(self, path: str) -> Node:
        code = self._fs._codes[path]
        return self._fs._node(path, code)

    def get(self, path: str, default: Any = None) -> Any:
        code = self._fs._codes.get(path)
        return default if code is None else self._fs._node(path, code)

    def __contains__(self, path: object) -> bool:
        return path in self._fs._codes

    def __iter__(self) -> Iterator[str]:
        return iter(self._fs._codes)

    def __len__(self) -> int:
        return len(self._fs._codes)

    def items(self) -> Iterator[tuple[str, Node]]:  # type: ignore[override]
        codes = self._fs._codes
        return zip(codes, map(self._fs._node, codes, codes.values()))

    def values(self) -> Iterator[Node]:  # type: ignore[override]
        codes = self._fs._codes
        return map(self._fs._node, codes, codes.values())


# byte translation tables: `_ONE_AT[v]` maps byte v to 1 and every other byte to 0
_ONE_AT = [bytes(v) + b"\x01" + bytes(255 - v) for v in range(256)]  # ~0.2 ms at import, not 9
_MASKED_KEYS = 16  # keys of a layer picked by masks (each a pass over the layer, in C)


def _prefix_range(paths: list[str], prefix: str) -> tuple[int, int]:
    """[lo, hi): where the strings starting with `prefix` are in sorted `paths`."""
    lo = bisect_left(paths, prefix)
    if not prefix:
        return lo, len(paths)
    if ord(prefix[-1]) < 0x10FFFF:
        # Strings starting with `prefix` sort in [prefix, prefix with its last character
        # incremented).
        return lo, bisect_left(paths, prefix[:-1] + chr(ord(prefix[-1]) + 1), lo)
    hi = lo
    while hi < len(paths) and paths[hi].startswith(prefix):
        hi += 1
    return lo, hi


def _norm(path: str) -> str:
    return path.strip("/")


def _parent(path: str) -> str:
    cut = path.rfind("/")
    return path[:cut] if cut > 0 else ""
