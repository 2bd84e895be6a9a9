"""The columnar FileSystem (paths stored as layer-row codes, Nodes built on access)
against the per-path Node model it replaced (tests/support/node_fs.py): the same answer
to every query, on random stacks of hostile layers (rewrites in one layer, symlink
loops, hard links to anything, whiteouts and opaque directories over any of it)."""

from __future__ import annotations

import tempfile
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.fs import FileSystem, SortedCodes
from auditor.layerindex import EntryTable
from tests import factory
from tests.support import node_fs

NAMES = ["a", "a/b", "a/b/c", "a/d", "a.b", "a/b.c", "a/b/c/g", "e", "e/f", "loop", "x", "x/y"]
TARGETS = ["a", "a/b/c", "e/f", "/a/d", "../../a/b", "loop", "x/y", "missing"]


#: How each kind of item is drawn for a path: a table, so that every kind stays in step.
ITEMS: dict[str, Any] = {
    "file": lambda draw, path: factory.File(
        path, b"x" * draw(st.integers(0, 30)), mode=draw(st.sampled_from([0o644, 0o755, 0o4755]))
    ),
    "dir": lambda draw, path: factory.Dir(path, mode=draw(st.sampled_from([0o755, 0o1777]))),
    "sym": lambda draw, path: factory.Symlink(path, draw(st.sampled_from(TARGETS))),
    "hard": lambda draw, path: factory.Hardlink(path, draw(st.sampled_from(NAMES))),
    "wh": lambda _draw, path: factory.Whiteout(path),
    "opq": lambda _draw, path: factory.Opaque(path),
    "fifo": lambda _draw, path: factory.Special(path, "fifo"),
}


@st.composite
def layer(draw: st.DrawFn) -> list[factory.Item]:
    kinds = st.sampled_from(["file", "file", *ITEMS])
    pairs = draw(st.lists(st.tuples(kinds, st.sampled_from(NAMES)), max_size=10))
    return [ITEMS[kind](draw, path) for kind, path in pairs]


@settings(max_examples=300, deadline=None)
@given(st.lists(layer(), min_size=1, max_size=4), st.booleans())
def test_columns_answer_as_the_node_model(layers: list[list[factory.Item]], table: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        indexes = factory.read_stack(layers, Path(tmp))
    if table:  # as decoded indexes come: columns (the reader's own come as lists)
        for index in indexes:
            index.entries = EntryTable.of(index.entries)  # type: ignore[attr-defined]
    new = FileSystem(indexes)  # type: ignore[arg-type]
    old = node_fs.FileSystem(indexes)
    assert dict(new.nodes.items()) == old.nodes
    assert list(new.walk_files()) == list(old.walk_files())
    assert new.paths() == old.paths()
    assert [astuple(w) for w in new.waste()] == [astuple(w) for w in old.waste()]
    assert (new.written_bytes, new.wasted_bytes, new.total_bytes) == (
        old.written_bytes,
        old.wasted_bytes,
        old.total_bytes,
    )
    assert new.directory_sizes() == old.directory_sizes()
    assert list(new.captured()) == list(old.captured())
    assert list(new.elf_files()) == list(old.elf_files())
    assert new.skipped == old.skipped
    for path in [*old.nodes, "", "loop/z", "x/y/z", "a/b/c/d", "/a/b", "missing"]:
        assert new.resolve(path) == old.resolve(path), path
        assert new.resolve(path, follow_last=False) == old.resolve(path, follow_last=False)
        assert new.read(path) == old.read(path), path
        assert new.file_size(path) == old.file_size(path), path
        assert new.get(path) == old.get(path), path
        assert (path in new) == (path in old)
        assert new.listdir(path) == old.listdir(path), path
    for prefix in ["", "a/", "a/b", "e/", "zz"]:
        assert list(new.files_under([prefix])) == list(old.files_under([prefix]))
        assert new.paths_under(prefix) == old.paths_under(prefix)
    for layer, table in enumerate(new._tables):  # the merge's survival masks are exact
        numbered = range(layer, (len(table) << new._shift) + layer, 1 << new._shift)
        shown = [int(new._codes.get(p) == c) for p, c in zip(table.paths, numbered)]
        assert list(new._alive(layer)) == shown
    for suffix in ["b", "/c", "y"]:
        assert list(new.files_ending(suffix)) == list(old.files_ending(suffix))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=6), st.integers(-(2**31), 2**31 - 1), max_size=40),
    st.lists(st.text(max_size=6), max_size=20),
)
def test_sorted_codes_answer_as_the_merge_dict(table: dict[str, int], asked: list[str]) -> None:
    """The frozen path -> code table gives what the merge's dict gave, for lookups in any
    order (sorted ones take the fast path), and is iterated in path order."""
    frozen = SortedCodes.of(dict(table), "i")
    assert list(frozen) == sorted(table) and len(frozen) == len(table)
    assert dict(frozen.items()) == table and list(frozen.values()) == [
        table[k] for k in sorted(table)
    ]
    for order in (asked + list(table), sorted(asked + list(table))):
        assert list(frozen.sorted_lookup(order)) == [table.get(k) for k in order]
    for key in asked:
        assert frozen.get(key) == table.get(key) and (key in frozen) == (key in table)
        if key not in table:
            with pytest.raises(KeyError):
                frozen[key]


def test_contents_are_found_for_paths_in_any_order() -> None:
    """`_with_content` walks each layer's contents forward for sorted paths; paths in
    another order are still each given their content."""
    pycs = [f"pkg{i}/__pycache__/m{j}.cpython-311.pyc" for i in range(3) for j in range(4)]
    layers: list[list[factory.Item]] = [
        [factory.File(p, b"\x00" * 16 + p.encode()) for p in pycs[:8]],
        [factory.File(p, b"\x01" * 16 + p.encode()) for p in pycs[6:]],
    ]
    with tempfile.TemporaryDirectory() as tmp:
        indexes = factory.read_stack(layers, Path(tmp))
    from auditor import indexcodec  # decoded, as a scan holds them: contents as columns

    fs = FileSystem([indexcodec.decode(indexcodec.encode(i)) for i in indexes])
    captured = dict(fs.captured())
    assert sorted(captured) == sorted(pycs) and captured[pycs[7]].startswith(b"\x01")
    for order in (pycs[::-1], pycs[1::2] + pycs[::2]):
        assert dict(fs._with_content(order)) == captured
