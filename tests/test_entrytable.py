"""EntryTable and its columns: the same entries back, in less memory."""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import indexcodec
from auditor.layerindex import Contents, Entry, EntryTable, IntColumn, LayerIndex, narrowest

entries = st.builds(
    Entry,
    st.text(min_size=1, max_size=12),
    st.sampled_from("fdlhcbp"),
    st.integers(0, 0o7777),
    st.integers(0, 2**40),
    st.integers(0, 70000),
    st.integers(0, 2**63 - 1),
    st.integers(-(2**63) + 1, 2**63 - 1),
    st.text(max_size=5),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(entries, max_size=20), min_size=1, max_size=4))
def test_tables_give_back_their_entries(parts: list[list[Entry]]) -> None:
    tables = [EntryTable.of(p) for p in parts]
    whole = [e for p in parts for e in p]
    joined = EntryTable.concat(tables)
    assert list(joined) == whole
    assert [joined[i] for i in range(len(whole))] == whole
    assert joined == whole and len(joined) == len(whole)
    assert joined.file_bytes() == sum(e.size for e in whole if e.kind == "f")
    assert joined.count_not("d") == sum(1 for e in whole if e.kind != "d")
    assert joined.paths_not("d") == [e.path for e in whole if e.kind != "d"]
    assert joined.distinct_mtimes() == {e.mtime for e in whole}


@settings(max_examples=100, deadline=None)
@given(st.lists(entries, max_size=40), st.integers(1, 3))
def test_decoded_parts_are_one_table(rows: list[Entry], parts: int) -> None:
    """A worker's index in several parts decodes to the table of all its rows."""
    step = max(1, len(rows) // parts)
    codec = indexcodec.Parts()
    for start in range(0, max(len(rows) - step, 0), step):
        codec.add(LayerIndex("sha256:x", rows[start : start + step]))
    rest = rows[len(codec.frames) * step :]
    decoded = indexcodec.decode(codec.finish(LayerIndex("sha256:x", rest)))
    assert isinstance(decoded.entries, EntryTable)
    assert list(decoded.entries) == rows


@given(st.lists(st.integers(0, 2**63 - 1)), st.sampled_from("BHIQq"))
def test_narrowest_keeps_every_value(values: list[int], code: str) -> None:
    limit = 1 << (8 * array(code).itemsize - (1 if code == "q" else 0))
    kept = [v for v in values if v < limit]
    narrow = narrowest(array(code, kept))
    assert list(narrow) == kept
    if kept:
        assert narrow.itemsize == min(w for w in (1, 2, 4, 8) if max(kept) < 1 << (8 * w))


def test_a_negative_value_keeps_the_type() -> None:
    assert narrowest(array("q", [5, -1])).typecode == "q"


def test_columns_share_their_values() -> None:
    column = IntColumn.of([0o644, 0o755, 0o644] * 1000)
    assert column.table == [0o644, 0o755] and column.at.typecode == "B"
    assert column.tolist()[:3] == [0o644, 0o755, 0o644]
    merged = IntColumn.concat([column, IntColumn.of([0o600, 0o644])])
    assert merged.tolist() == [*column.tolist(), 0o600, 0o644]


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=8), st.binary(max_size=20), max_size=30),
    st.lists(st.text(max_size=8), max_size=10),
)
def test_contents_answer_as_the_dict_they_were_made_from(
    found: dict[str, bytes], others: list[str]
) -> None:
    contents = Contents(found)
    assert dict(contents) == found and len(contents) == len(found)
    assert list(contents) == sorted(found)  # iterated in path order
    assert list(contents.items()) == sorted(found.items())
    assert list(contents.values()) == [found[k] for k in sorted(found)]
    for key in [*found, *others]:
        assert contents.get(key) == found.get(key)
        assert (key in contents) == (key in found)
    assert 1 not in contents


def test_decoded_contents_are_compact_and_the_same() -> None:
    """An index decoded from the cache holds Contents (no dict of small bytes) with the
    contents the reader captured."""
    index = LayerIndex("sha256:x", [Entry(f"p{i}", "f", 0o644, 0, 0, 16, 0, "") for i in range(5)])
    index.contents = {f"p{i}": bytes([i]) * 16 for i in (3, 1, 4)}
    decoded = indexcodec.decode(indexcodec.encode(index))
    assert isinstance(decoded.contents, Contents)
    assert dict(decoded.contents) == index.contents
