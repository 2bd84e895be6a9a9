"""The merged filesystem: layer indexes applied in order, as a container runtime would.

Whiteouts (`.wh.NAME`) delete a path and everything below it from lower layers; an
opaque marker (`.wh..wh..opq`) hides all lower content of its directory. Every
surviving path remembers the layer that last wrote it and the sizes that earlier
layers wrote there; every file version that does not survive is waste.

Waste counts only the copies that do NOT survive (dive also counts the surviving copy,
which overstates what a rebuild can reclaim). Efficiency = 1 - wasted / written.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from operator import attrgetter, methodcaller
from typing import Any, NamedTuple

from auditor.elffacts import AnyElf, UnreadableElf

# Facts and checks see tar entries through this model: it offers the entry kinds.
from auditor.layerindex import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SYMLINK, Entry, LayerIndex
from auditor.memory import gc_paused

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


class FileSystem:
    """The final view of the image's root filesystem, with provenance."""

    def __init__(self, indexes: list[LayerIndex]) -> None:
        self.nodes: dict[str, Node] = {}
        # parent path -> paths of its children, for removals during the merge: built
        # when a layer first removes a directory, then kept up to date; dropped after
        # the merge (`listdir` has its own, more compact `_listing`).
        self._children: dict[str, set[str]] | None = None
        self._indexes = indexes
        self._waste: dict[str, list[tuple[int, int]]] = {}
        self._gone: dict[str, tuple[tuple[int, int], ...]] = {}  # deleted paths' versions
        self._links: dict[tuple[int, str], set[str]] = {}  # content origin -> hard links
        self._ever_linked: set[str] = set()  # paths given a hard link's node at some point
        self.written_bytes = 0
        self.skipped: list[tuple[int, str]] = []
        with gc_paused():  # ~100k nodes, no cycles: see gc_paused
            for i, index in enumerate(indexes):
                self._apply(i, index)
        self._children = None

    # ---- merging -------------------------------------------------------------------

    def _apply(self, layer: int, index: LayerIndex) -> None:
        for d in index.opaque_dirs:
            for child in sorted(self._child_map().get(d, ())):
                self._remove(child)
        for path in index.whiteouts:
            self._remove(path)
        self._add_all(layer, index.entries)
        self.skipped.extend((layer, s) for s in index.skipped)

    def _add_all(self, layer: int, entries: list[Entry]) -> None:
        """Apply a layer's entries in order. Most entries write a new path below an
        existing directory: that case is handled inline here (one tuple, one dict
        insert); anything else (a path written before, a missing or non-directory
        parent, a hard link) goes through `_add`, in the same order."""
        nodes, gone = self.nodes, self._gone
        written = 0
        for entry in entries:
            path, kind = entry[0], entry[1]
            if kind == FILE:
                written += entry[5]
            if kind == HARDLINK or path in nodes or (gone and path in gone):
                self._add(layer, entry)
                continue
            cut = path.rfind("/")
            parent = path[:cut] if cut > 0 else ""
            if parent:
                above = nodes.get(parent)
                if above is None or above[0][1] != DIR:
                    self._add(layer, entry)
                    continue
            nodes[path] = _new(Node, (entry, layer, False, (), None, 0))
            children = self._children
            if children is not None:
                children.setdefault(parent, set()).add(path)
                if kind == DIR:
                    children.setdefault(path, set())
        self.written_bytes += written

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
            heir = self.nodes[heir_path]
            entry = heir.entry._replace(kind=FILE, size=node.entry.size)
            self.nodes[heir_path] = heir._replace(entry=entry, origin=key)
            self._ever_linked.add(heir_path)
            return
        if node.entry.size:
            self._waste.setdefault(path, []).append((key[0], node.entry.size))

    @staticmethod
    def _file_bytes(node: Node) -> int:
        return node.entry.size if node.entry.kind == FILE else 0

    def _child_map(self) -> dict[str, set[str]]:
        """parent -> child paths (during the merge), built from the nodes on first use."""
        if self._children is None:
            children: dict[str, set[str]] = {"": set()}
            with gc_paused():
                for path, node in self.nodes.items():
                    if node.entry.kind == DIR:
                        children.setdefault(path, set())
                    cut = path.rfind("/")
                    children.setdefault(path[:cut] if cut > 0 else "", set()).add(path)
            self._children = children
        return self._children

    def _remove(self, path: str) -> None:
        node = self.nodes.pop(path, None)
        if node is None:
            return
        self._retire(path, node)
        if node.entry.kind != DIR:
            # A later layer may write the path again: it still has this history.
            self._gone[path] = (*node.earlier, (node.layer, self._file_bytes(node)))
        else:
            for child in sorted(self._child_map().pop(path, ())):
                self._remove(child)
        if self._children is not None:
            self._children.get(_parent(path), set()).discard(path)

    def _ensure_parent(self, layer: int, path: str) -> None:
        parent = _parent(path)
        if parent:
            above = self.nodes.get(parent)
            if above is None:
                self._ensure_parent(layer, parent)
                self.nodes[parent] = Node(Entry(parent, DIR, 0o755, 0, 0, 0, 0, ""), layer, True)
                if self._children is not None:
                    self._children.setdefault(parent, set())
            elif above.entry.kind != DIR:
                # A layer writes below what a lower layer had as a file or link: the
                # runtime replaces it with a directory.
                self._remove(parent)
                self._ensure_parent(layer, path)
                return
        if self._children is not None:
            self._children.setdefault(parent, set()).add(path)

    def _add(self, layer: int, entry: Entry) -> None:
        path = entry.path
        old = self.nodes.get(path)
        earlier = self._gone.pop(path, ())
        if old is not None:
            if old.entry.kind == DIR and entry.kind == DIR:
                # Directory metadata changes; its content stays.
                self.nodes[path] = Node(entry, layer, False, old.earlier)
                return
            if old.entry.kind == DIR:
                self._remove(path)
            else:
                self._retire(path, old)
                earlier = (*earlier, *old.earlier, (old.layer, self._file_bytes(old)))
        self._ensure_parent(layer, path)
        node = Node(entry, layer, False, earlier)
        if entry.kind == HARDLINK:
            node = self._link(node)
            self._ever_linked.add(path)
        self.nodes[path] = node
        if entry.kind == DIR and self._children is not None:
            self._children.setdefault(path, set())

    def _link(self, node: Node) -> Node:
        """A hard link shares its target's inode: same mode, owner and content; it adds
        no bytes (its entry size stays 0 so content is not counted twice)."""
        entry = node.entry
        target = self.nodes.get(entry.link)
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
        return _norm(path) in self.nodes

    def get(self, path: str) -> Node | None:
        return self.nodes.get(_norm(path))

    def listdir(self, path: str) -> list[str]:
        d = _norm(path)
        skip = len(d) + 1 if d else 0
        return [child[skip:] for child in self._listing.get(d, ())]

    @cached_property
    def _listing(self) -> dict[str, list[str]]:
        """Directory -> child paths, sorted (built from the sorted paths, so each list
        comes out in name order): lists, a quarter of the memory of sets."""
        listing: dict[str, list[str]] = {"": []}
        with gc_paused():
            for path in self._paths:
                cut = path.rfind("/")
                parent = path[:cut] if cut > 0 else ""
                children = listing.get(parent)
                if children is None:
                    listing[parent] = [path]
                else:
                    children.append(path)
        return listing

    def walk_files(self) -> Iterator[tuple[str, Node]]:
        """Every non-directory path, sorted."""
        return zip(*self._files)

    @cached_property
    def _files(self) -> tuple[list[str], list[Node]]:
        """Non-directory paths and their nodes, sorted: several facts and checks walk
        them, and a zip over two lists costs nothing per item."""
        nodes = self.nodes
        paths = [p for p in self._paths if nodes[p][0][1] != DIR]
        return paths, [nodes[p] for p in paths]

    def paths(self) -> list[str]:
        """Every surviving path, sorted (the cached list itself: do not change it)."""
        return self._paths

    def files_under(self, prefixes: Iterable[str]) -> Iterator[tuple[str, Node]]:
        """The `walk_files()` items whose path starts with one of `prefixes` (plain string
        prefixes: "usr/share/doc/"), sorted, each once. Exactly the same as filtering
        `walk_files()` with `path.startswith(prefixes)`, but found by bisecting the sorted
        file list: checks that only look at a few directories skip the other ~90k files."""
        paths, nodes = self._files
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
        return ((paths[i], nodes[i]) for lo, hi in merged for i in range(lo, hi))

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
            paths, nodes = self._files
            hits = [i for i, p in enumerate(paths) if p.endswith(suffix)]
            found = self._ending[suffix] = ([paths[i] for i in hits], [nodes[i] for i in hits])
        return zip(*found)

    @cached_property
    def _ending(self) -> dict[str, tuple[list[str], list[Node]]]:
        return {}

    def resolve(self, path: str, follow_last: bool = True) -> str | None:
        """The real path of `path` inside the image, following symlinks as the kernel
        does but never leaving the image root; None when it does not exist or loops."""
        stored = self.nodes.get(_norm(path))
        if stored is not None and (stored.entry.kind != SYMLINK or not follow_last):
            # Every ancestor of a stored path is a directory (the merge replaces a file
            # or link that a later layer writes below), so a stored path is already real.
            return _norm(path)
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
            node = self.nodes.get(current)
            if node is None:
                return None
            if node.entry.kind == SYMLINK and (parts or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    return None
                target = node.entry.link
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
        node = self.nodes.get(path)
        if node is None or node[0][1] == SYMLINK:
            # Not a stored path as given (a leading slash, a link on the way) or a link:
            # the full walk. Otherwise `resolve` would give `path` itself back.
            real = self.resolve(path)
            if real is None:
                return None
            return self._content_of(real)
        origin = node[4]  # `_content_of`, inlined: PY006 reads ~20k pyc headers
        if origin is not None or node[0][1] == HARDLINK:
            return None if origin is None else self._indexes[origin[0]].contents.get(origin[1])
        return self._indexes[node[1]].contents.get(path)

    def _content_of(self, path: str) -> bytes | None:
        where = self._data_location(path)
        return None if where is None else self._indexes[where[0]].contents.get(where[1])

    def _data_location(self, path: str) -> tuple[int, str] | None:
        """(layer, path) whose recorded content is the content of `path`."""
        node = self.nodes.get(path)
        if node is None:
            return None
        if node.origin is not None or node.entry.kind == HARDLINK:
            return node.origin  # a hard link, or a file that was one
        return node.layer, path

    def file_size(self, path: str) -> int | None:
        """Content size of a regular file or hard link (after following symlinks)."""
        real = self.resolve(path)
        node = self.nodes.get(real) if real is not None else None
        if node is None or node.entry.kind not in (FILE, HARDLINK):
            return None
        return node.linked_size if node.entry.kind == HARDLINK else node.entry.size

    def elf(self, path: str) -> AnyElf | None:
        """ELF link facts of `path` (after following links), if it is an ELF file."""
        real = self.resolve(path)
        if real is None:
            return None
        where = self._data_location(real)
        return None if where is None else self._indexes[where[0]].elf.get(where[1])

    @cached_property
    def _paths(self) -> list[str]:
        """Every surviving path, sorted, computed once: the model no longer changes after
        the merge, and several facts walk it."""
        return sorted(self.nodes)

    @cached_property
    def _linked(self) -> list[str]:
        """Surviving paths whose content lives under another path: hard links, and files
        that were one (their content is their origin's)."""
        nodes = self.nodes
        return [
            p
            for p in self._ever_linked
            if p in nodes and (nodes[p][4] is not None or nodes[p][0][1] == HARDLINK)
        ]

    def _holders(self, keys: Any) -> list[str]:
        """Sorted surviving paths that may hold data recorded under one of `keys` (per
        layer): those paths themselves, and every linked path. A superset: callers
        still look the data up, through `_data_location`."""
        nodes = self.nodes
        found = {p for layer_keys in keys for p in layer_keys if p in nodes}
        found.update(self._linked)
        return sorted(found)

    @cached_property
    def _elf_list(self) -> list[tuple[str, AnyElf]]:
        out = []
        for path in self._holders(index.elf for index in self._indexes):
            if self.nodes[path].entry.kind in (FILE, HARDLINK):
                # Stored paths are already real: no symlink walk needed to find the data.
                where = self._data_location(path)
                facts = None if where is None else self._indexes[where[0]].elf.get(where[1])
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
        # `_content_of` inlined: SEC008 and the pyc fact walk tens of thousands of paths.
        nodes, indexes = self.nodes, self._indexes
        for path in self._captured_paths:
            if predicate is not None and not predicate(path):
                continue
            node = nodes.get(path)
            if node is None:
                continue
            origin = node[4]
            if origin is not None or node[0][1] == HARDLINK:
                if origin is None:
                    continue
                data = indexes[origin[0]].contents.get(origin[1])
            else:
                data = indexes[node[1]].contents.get(path)
            if data is not None:
                yield path, data

    # ---- sizes and waste -----------------------------------------------------------

    @property
    def total_bytes(self) -> int:
        """Bytes of regular-file content in the final view."""
        return sum(n.entry.size for n in self.nodes.values() if n.entry.kind == FILE)

    def waste(self) -> list[WastedFile]:
        """Files whose bytes were written and did not survive, largest first."""
        out = [
            WastedFile(path, sum(s for _, s in versions), tuple(sorted({ly for ly, _ in versions})))
            for path, versions in self._waste.items()
        ]
        out.sort(key=lambda w: (-w.wasted_bytes, w.path))
        return out

    @property
    def wasted_bytes(self) -> int:
        return sum(s for versions in self._waste.values() for _, s in versions)

    @property
    def efficiency(self) -> float:
        if self.written_bytes == 0:
            return 1.0
        return 1.0 - self.wasted_bytes / self.written_bytes

    def directory_sizes(self, max_depth: int = 3) -> dict[str, int]:
        """Recursive content size of every directory down to `max_depth` components."""
        by_parent: dict[str, int] = {}  # bytes of the files directly in each directory
        for path, node in self.nodes.items():
            entry = node[0]
            if entry[1] != FILE or not entry[5]:
                continue
            cut = path.rfind("/")
            if cut > 0:
                parent = path[:cut]
                by_parent[parent] = by_parent.get(parent, 0) + entry[5]
        sizes: dict[str, int] = {}  # keys in the order their first file comes in the nodes
        for parent, size in by_parent.items():
            parts = parent.split("/")
            for depth in range(1, min(len(parts), max_depth) + 1):
                d = "/".join(parts[:depth])
                sizes[d] = sizes.get(d, 0) + size
        return sizes

    # ---- queries added for issue 20 walks ------------------------------------------
    # Facts, checks and the report's sizes each walked every path and looked at its
    # node: ~5 CPU us per entry on a 1M-file image. These queries answer them from one
    # pass each, shared, or a filter run in C, and return paths, so that a caller looks
    # nodes up only for the paths it keeps. Each docstring states the contract, which
    # tests/test_fs_walks.py checks against the brute-force walk, so the model
    # underneath may change without changing the answers. Passes over every node go in
    # the model's own order (`nodes.items()`) and sort afterwards: on a 1M-path model,
    # looking nodes up in path order misses the CPU caches and costs 5-10x more.

    #: Suffixes facts and checks ask `file_paths_ending` for (bytecode, venv configs, C
    #: headers, static libraries): the paths ending with any of them are found in one pass.
    COMMON_SUFFIXES = (".pyc", "pyvenv.cfg", ".h", ".a")

    def file_paths(self) -> list[str]:
        """Every non-directory path, sorted: `[p for p, _ in walk_files()]` without the
        nodes (the cached list itself: do not change it)."""
        return self._file_paths

    @cached_property
    def _file_paths(self) -> list[str]:
        with gc_paused():
            out = [p for p, n in self.nodes.items() if n.entry.kind != DIR]
            out.sort()  # the model's order is the layers' tar order: mostly sorted already
        return out

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

    def file_paths_ending(self, suffix: str | tuple[str, ...]) -> list[str]:
        """`[p for p in file_paths() if p.endswith(suffix)]`, sorted; the test runs in C.
        A suffix that ends with one of COMMON_SUFFIXES is looked for among the paths
        ending with those, found in one shared pass (several facts and checks ask)."""
        suffixes = (suffix,) if isinstance(suffix, str) else suffix
        if all(s.endswith(self.COMMON_SUFFIXES) for s in suffixes):
            return list(filter(methodcaller("endswith", suffix), self._common_endings))
        return list(filter(methodcaller("endswith", suffix), self.file_paths()))

    @cached_property
    def _common_endings(self) -> list[str]:
        return list(filter(methodcaller("endswith", self.COMMON_SUFFIXES), self.file_paths()))

    def captured_ending(self, suffix: str) -> Iterator[tuple[str, bytes]]:
        """`captured(lambda p: p.endswith(suffix))` restricted to non-directory paths:
        each with the content recorded for it (a hard link's from its origin; links are
        not followed), sorted by path; looked for among the paths with that suffix only."""
        content_of = self._content_of  # what `captured` yields for a path, links unfollowed
        for path in self.file_paths_ending(suffix):
            data = content_of(path)
            if data is not None:
                yield path, data

    def stat_groups(self) -> dict[tuple[str, int, int, int], list[str]]:
        """Every surviving path (directories, implied ones, links, devices too) grouped by
        its entry's (kind, mode, uid, gid); each group's paths sorted. Built once per
        scan (the cached dict itself: do not change it): an image has a few dozen such
        groups, so a check of modes or owners judges each group once, not each path."""
        return self._stat_groups

    @cached_property
    def _stat_groups(self) -> dict[tuple[str, int, int, int], list[str]]:
        groups: dict[tuple[str, int, int, int], list[str]] = {}
        stat = attrgetter("kind", "mode", "uid", "gid")
        nodes = self.nodes
        with gc_paused():
            keys = map(stat, map(attrgetter("entry"), nodes.values()))
            for path, key in zip(nodes, keys):
                group = groups.get(key)
                if group is None:
                    groups[key] = [path]
                else:
                    group.append(path)
            for group in groups.values():
                group.sort()
        return groups

    def dir_paths(self) -> list[str]:
        """Every surviving directory path (implied ones too), sorted: a few percent of the
        paths. Every ancestor of a stored path is one, so "the files below a directory
        named X" is `file_paths_under` of these, not a test of every file path."""
        return self._dir_paths

    @cached_property
    def _dir_paths(self) -> list[str]:
        return sorted(
            p for (kind, *_), paths in self.stat_groups().items() if kind == DIR for p in paths
        )

    def stat_groups_under(
        self, prefix: str
    ) -> Iterator[tuple[tuple[str, int, int, int], list[str]]]:
        """`stat_groups()` cut to the paths that start with `prefix` (a plain string
        prefix: "srv/app/"), groups left empty left out; each list sorted."""
        for key, paths in self.stat_groups().items():
            lo, hi = _prefix_range(paths, prefix)
            if lo < hi:
                yield key, paths if hi - lo == len(paths) else paths[lo:hi]

    def file_bytes_by_directory(self) -> dict[str, int]:
        """Directory ("" for the root) -> bytes of the regular files (kind FILE: not hard
        links) directly in it, for every directory that holds at least one regular file
        (empty files too): entry sizes summed by parent path, so the values sum to
        `total_bytes`. The order of the keys is not part of the contract; the dict is
        cached (the report's sizes and final size both ask): do not change it."""
        return self._file_bytes_by_directory

    @cached_property
    def _file_bytes_by_directory(self) -> dict[str, int]:
        out: dict[str, int] = {}
        get = out.get
        # Files of one directory mostly come one after the other (tar order): summed in
        # a run, the dict updated once per run. `slash`: the run's directory and a slash
        # ("" for the root), `cut` its length.
        slash, cut, total, started = "", 0, 0, False
        for path, node in self.nodes.items():
            e = node.entry
            if e.kind != FILE:
                continue
            if started and path.startswith(slash) and path.find("/", cut) < 0:
                total += e.size
                continue
            if started:
                out[slash[:-1]] = get(slash[:-1], 0) + total
            cut = path.rfind("/") + 1
            slash, total, started = path[:cut], e.size, True
        if started:
            out[slash[:-1]] = get(slash[:-1], 0) + total
        return out


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
