"""The compact binary index (cache files, worker results): exact round trips, and a
damaged file is a ValueError (a cache miss), whatever the damage."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import indexcodec
from auditor.elffacts import ElfFacts
from auditor.layerindex import KINDS, Entry, LayerIndex
from tests import factory
from tests.test_layers import ITEMS, index_of


def sample() -> LayerIndex:
    return LayerIndex(
        diff_id="sha256:" + "ab" * 32,
        entries=[
            Entry("etc", "d", 0o755, 0, 0, 0, 1_700_000_000, ""),
            Entry("etc/caf\udcc3", "f", 0o644, 1000, 1000, 12, -5, ""),  # not UTF-8
            Entry("etc/link", "l", 0o777, 0, 0, 0, 2**62, "caf\udcc3/../x"),
            Entry("etc/hard", "h", 0o644, 2**63 - 1, 0, 0, 0, "etc/caf\udcc3"),
            Entry("bin/weird", "l", 0o777, 0, 0, 0, 0, "a\x00b"),  # NUL: a hostile PAX target
            Entry("lone", "f", 0o600, 0, 0, 0, 0, "\ud83d\ude00"[0]),
        ],
        whiteouts=["var/old", "x\udcff"],
        opaque_dirs=["", "opt"],
        contents={"etc/caf\udcc3": b"\x00\xffcontent", "empty": b""},
        elf={"usr/bin/x": ElfFacts(ei_class=2, machine="EM_X86_64", needed=("libc.so.6",))},
        skipped=["app/volume: unsupported tar entry type b'V'"],
        tar_size=123456,
    )


def test_round_trip_is_exact() -> None:
    index = sample()
    assert indexcodec.decode(indexcodec.encode(index)) == index


def test_surrogate_pairs_stay_two_code_points() -> None:
    """JSON would merge a high and a low surrogate into one character."""
    index = LayerIndex("sha256:1", [Entry("p\ud83d\ude00", "f", 0, 0, 0, 0, 0, "\ud83d\ude00")])
    back = indexcodec.decode(indexcodec.encode(index))
    assert back.entries[0].path == "p\ud83d\ude00" and len(back.entries[0].path) == 3


def test_empty_index() -> None:
    index = LayerIndex("sha256:" + "0" * 64)
    assert indexcodec.decode(indexcodec.encode(index)) == index


def test_real_layer_round_trips(tmp_path: Path) -> None:
    index = index_of(tmp_path, factory.Layer(ITEMS))
    index.contents["etc/os-release"] = b"ID=debian\n"
    assert indexcodec.decode(indexcodec.encode(index)) == index


def test_equal_values_share_one_object() -> None:
    entries = [
        Entry(f"f{i}", "f", 0o644, 1000, 1000, 70000 + i, 1_700_000_001, "") for i in range(50)
    ]
    back = indexcodec.decode(indexcodec.encode(LayerIndex("sha256:1", entries))).entries
    assert len({id(e.mode) for e in back}) == len({id(e.mtime) for e in back}) == 1
    assert len({id(e.uid) for e in back}) == 1


def test_values_out_of_range_do_not_encode() -> None:
    index = LayerIndex("sha256:1", [Entry("big", "f", 0, 0, 0, 2**64, 0, "")])
    with pytest.raises(OverflowError):
        indexcodec.encode(index)


def test_every_truncation_is_a_value_error() -> None:
    data = indexcodec.encode(sample())
    for cut in range(len(data)):
        with pytest.raises(ValueError):
            indexcodec.decode(data[:cut])


def test_flipped_bits_are_value_errors_or_harmless() -> None:
    """A flipped bit fails the frame checksum, or lands where zstd ignores it (padding,
    reserved header bits): then the content is exactly what was written."""
    data = indexcodec.encode(sample())
    failed = 0
    for at in range(len(data)):
        for bit in range(8):
            damaged = bytearray(data)
            damaged[at] ^= 1 << bit
            try:
                assert indexcodec.decode(bytes(damaged)) == sample()
            except ValueError:
                failed += 1
    assert failed > 0.9 * 8 * len(data)


def _frame(payload: bytes) -> bytes:
    """`payload` as the one frame of an index file."""
    frame = zstandard.ZstdCompressor(write_checksum=True).compress(payload)
    return indexcodec._CONTAINER + struct.pack("<Q", len(frame)) + frame


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"imgaudit-index\x00",
        b"imgaudit-index\x00\x02\x00\x00\x00{}",
        b"imgaudit-index\x00\x04\x00\x00\x00null",
        b"imgaudit-index\x00\xff\xff\xff\x00{}",
        b"not an index at all",
    ],
)
def test_well_framed_garbage_is_a_value_error(payload: bytes) -> None:
    with pytest.raises(ValueError):
        indexcodec.decode(_frame(payload))


def _reencoded(mutate: object) -> bytes:
    """A valid file whose JSON header was changed by `mutate` (a checksummed lie)."""
    import json

    data = indexcodec.encode(sample())
    raw = zstandard.ZstdDecompressor().decompress(data[len(indexcodec._CONTAINER) + 8 :])
    start = len(b"imgaudit-index\0") + 4
    (size,) = struct.unpack_from("<I", raw, start - 4)
    header = json.loads(raw[start : start + size])
    mutate(header)  # type: ignore[operator]
    head = json.dumps(header).encode()
    return _frame(raw[: start - 4] + struct.pack("<I", len(head)) + head + raw[start + size :])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: h.update(format=2),
        lambda h: h.update(count=h["count"] + 1),
        lambda h: h.update(count="6"),
        lambda h: h.update(diff_id=None),
        lambda h: h.update(elf=[1]),
        lambda h: h.update(elf={}),
        lambda h: h["sections"].pop(),
        lambda h: h["sections"][0].__setitem__(2, h["sections"][0][2] + 1),
        lambda h: h["sections"][0].__setitem__(1, "q"),
        lambda h: h["sections"][2].__setitem__(4, 0),
        lambda h: h["sections"][2].__setitem__(4, 10**6),
        lambda h: h["sections"][3].__setitem__(4, 1),
        lambda h: h["sections"].append(["extra", "b", 5, 0]),
        lambda h: h.update(sections={}),
        lambda h: h.pop("tar_size"),
        lambda h: h.update(part=1),
        lambda h: h.update(last=False),
        lambda h: h.update(last=1),
    ],
)
def test_a_header_that_does_not_match_the_data_is_a_value_error(mutate: object) -> None:
    with pytest.raises(ValueError):
        indexcodec.decode(_reencoded(mutate))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=20).filter(lambda s: "\0" not in s),
            st.sampled_from(sorted(KINDS)),
            st.integers(0, 0o7777),
            st.integers(0, 2**63 - 1),
            st.integers(-(2**63) + 1, 2**63 - 1),
            st.text(max_size=10),
        ),
        max_size=30,
    ),
    st.dictionaries(st.text(max_size=10), st.binary(max_size=20), max_size=5),
)
def test_any_index_round_trips(
    rows: list[tuple[str, str, int, int, int, str]], contents: dict[str, bytes]
) -> None:
    entries = [Entry(p, k, m, u, u % 7, u, t, link) for p, k, m, u, t, link in rows]
    index = LayerIndex("sha256:x", entries, whiteouts=[r[0] for r in rows[:2]], contents=contents)
    assert indexcodec.decode(indexcodec.encode(index)) == index


def test_captured_paths_are_the_entries_own_strings(tmp_path: Path) -> None:
    index = index_of(tmp_path, factory.Layer(ITEMS))
    index.contents["etc/os-release"] = b"ID=debian\n"
    index.elf["usr/bin/tool"] = ElfFacts(ei_class=2)
    back = indexcodec.decode(indexcodec.encode(index))
    paths = {id(e.path) for e in back.entries}
    assert {id(p) for p in [*back.contents, *back.elf]} <= paths


def test_parts_join_into_the_index_of_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker hands its index over in batches; the file joins them back."""
    from auditor import layers
    from tests.test_layers import source_layer

    items: list[factory.Item] = [factory.File(f"usr/lib/python3/m{i}.py", b"x") for i in range(9)]
    items += [factory.File("etc/os-release", b"ID=debian\n"), factory.Whiteout("var/x")]
    items += [factory.File("a/b.dist-info/METADATA", b"Name: b\n"), *ITEMS]
    diff = factory.layer_tar(factory.Layer(items, compression="none"))
    layer = source_layer(tmp_path, diff)
    whole = layers.index_layer(layer)
    monkeypatch.setattr(layers, "BATCH_ENTRIES", 4)
    parts = indexcodec.Parts()
    rest = layers.index_layer(layer, handoff=parts.add)
    assert len(parts.frames) >= 3 and len(rest.entries) < 4
    assert indexcodec.decode(parts.finish(rest)) == whole


def test_a_later_part_drops_content_its_elf_file_replaces() -> None:
    """As in one pass: a path captured, then written again as an ELF file, keeps only
    its ELF facts; captured again after that, it has both."""
    first = LayerIndex(
        "sha256:1", [Entry("bin/x", "f", 0, 0, 0, 3, 0, "")], contents={"bin/x": b"#!/"}
    )
    second = LayerIndex(
        "sha256:1", [Entry("bin/x", "f", 0, 0, 0, 9, 0, "")], elf={"bin/x": ElfFacts(ei_class=2)}
    )
    third = LayerIndex(
        "sha256:1", [Entry("bin/x", "f", 0, 0, 0, 2, 0, "")], contents={"bin/x": b"#!"}
    )
    parts = indexcodec.Parts()
    parts.add(first)
    parts.add(second)
    joined = indexcodec.decode(parts.finish(LayerIndex("sha256:1", tar_size=7)))
    assert (joined.contents, joined.elf, joined.tar_size) == (
        {},
        {"bin/x": ElfFacts(ei_class=2)},
        7,
    )
    assert len(joined.entries) == 2
    parts.add(first)
    parts.add(second)
    joined = indexcodec.decode(parts.finish(third))
    assert (joined.contents, joined.elf) == ({"bin/x": b"#!"}, {"bin/x": ElfFacts(ei_class=2)})


def test_parts_contents_join_as_one_pass_would_capture_them() -> None:
    """Contents of several parts: kept in path order whatever order the tar gave, and a
    path captured again in a later part holds the later content (as the reader's dict
    would), on the joined fast path and on the dict one alike."""

    def part(*captured: tuple[str, bytes]) -> LayerIndex:
        entries = [Entry(p, "f", 0, 0, 0, len(d), 0, "") for p, d in captured]
        return LayerIndex("sha256:1", entries, contents=dict(captured))

    unsorted = [part(("b", b"1"), ("a/x", b"22")), part(("a-b", b"333"))]
    again = [part(("a", b"old"), ("b", b"b")), part(("c", b"c")), part(("c", b"new!"))]
    cases = [
        (unsorted, {"a-b": b"333", "a/x": b"22", "b": b"1"}),
        (again, {"a": b"old", "b": b"b", "c": b"new!"}),
    ]
    for pieces, expected in cases:
        parts = indexcodec.Parts()
        for piece in pieces[:-1]:
            parts.add(piece)
        joined = indexcodec.decode(parts.finish(pieces[-1]))
        assert list(joined.contents.items()) == sorted(expected.items())
        assert list(joined.contents.paths) == sorted(expected)


def test_parts_must_all_be_there_in_order() -> None:
    parts = indexcodec.Parts()
    parts.add(LayerIndex("sha256:1", [Entry("a", "f", 0, 0, 0, 0, 0, "")]))
    parts.add(LayerIndex("sha256:1", [Entry("b", "f", 0, 0, 0, 0, 0, "")]))
    first, second = parts.frames
    last = indexcodec._frame(LayerIndex("sha256:1"), 2, last=True)
    other = indexcodec._frame(LayerIndex("sha256:2"), 1, last=False)
    assert len(indexcodec.decode(indexcodec._container([first, second, last])).entries) == 2
    for frames in ([first, last], [second, first, last], [first, second], [first, other, last]):
        with pytest.raises(ValueError):
            indexcodec.decode(indexcodec._container(frames))
    with pytest.raises(ValueError):
        indexcodec.decode(indexcodec._container([first, second, last]) + b"\0")
