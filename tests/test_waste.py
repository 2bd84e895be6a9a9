"""Waste: bytes written by a layer that do not survive, computed by hand per layout.

Only the copies that do NOT survive count (what a rebuild can reclaim); efficiency is
1 - wasted / written, where written is every regular-file byte every layer wrote.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from auditor.fs import WastedFile
from tests import factory
from tests.factory import File, Layer, Opaque, Whiteout
from tests.images import load


def waste_of(tmp_path: Path, *layers: list[factory.Item]) -> tuple[int, int, list[WastedFile]]:
    fs = load(factory.ImageSpec(layers=[Layer(items) for items in layers]), tmp_path).fs
    return fs.wasted_bytes, fs.written_bytes, fs.waste()


def test_overwrite_counts_only_the_lost_copies(tmp_path: Path) -> None:
    wasted, written, files = waste_of(
        tmp_path,
        [File("data", b"a" * 1000), File("keep", b"k" * 50)],
        [File("data", b"b" * 400)],
        [File("data", b"c" * 30)],
    )
    # Copies of 1000 (layer 0) and 400 (layer 1) are lost; 30 survive.
    assert (wasted, written) == (1400, 1480)
    assert files == [WastedFile("data", 1400, (0, 1))]


def test_delete_via_whiteout(tmp_path: Path) -> None:
    wasted, written, files = waste_of(
        tmp_path,
        [File("tmp/build/a.o", b"x" * 300), File("tmp/build/b.o", b"y" * 200), File("app", b"z")],
        [Whiteout("tmp/build")],
    )
    assert (wasted, written) == (500, 501)
    assert files == [WastedFile("tmp/build/a.o", 300, (0,)), WastedFile("tmp/build/b.o", 200, (0,))]


def test_opaque_dir(tmp_path: Path) -> None:
    wasted, written, files = waste_of(
        tmp_path,
        [File("var/cache/apt/pkg1", b"1" * 700), File("var/cache/apt/pkg2", b"2" * 70)],
        [Opaque("var/cache/apt"), File("var/cache/apt/new", b"n" * 7)],
    )
    assert (wasted, written) == (770, 777)
    assert [(w.path, w.wasted_bytes) for w in files] == [
        ("var/cache/apt/pkg1", 700),
        ("var/cache/apt/pkg2", 70),
    ]


def test_file_replaced_by_directory(tmp_path: Path) -> None:
    wasted, written, files = waste_of(
        tmp_path,
        [File("srv/app", b"x" * 64)],
        [factory.Dir("srv/app"), File("srv/app/main.py", b"m" * 8)],
    )
    assert (wasted, written) == (64, 72)
    assert files == [WastedFile("srv/app", 64, (0,))]


def test_directory_replaced_by_file(tmp_path: Path) -> None:
    wasted, _, files = waste_of(
        tmp_path,
        [File("srv/app/a", b"x" * 10), File("srv/app/b", b"y" * 20)],
        [Whiteout("srv/app"), File("srv/app", b"f")],
    )
    assert wasted == 30
    assert {w.path for w in files} == {"srv/app/a", "srv/app/b"}


def test_duplicate_entry_in_one_layer(tmp_path: Path) -> None:
    wasted, written, files = waste_of(
        tmp_path, [File("etc/x", b"1" * 100), File("etc/x", b"2" * 10)]
    )
    assert (wasted, written) == (100, 110)
    assert files == [WastedFile("etc/x", 100, (0,))]


def test_whiteout_of_a_file_added_in_the_same_layer_below_is_not_double_counted(
    tmp_path: Path,
) -> None:
    wasted, written, _ = waste_of(
        tmp_path,
        [File("a", b"1" * 10)],
        [File("a", b"2" * 20)],
        [Whiteout("a")],
    )
    assert (wasted, written) == (30, 30)


def test_no_waste(tmp_path: Path) -> None:
    loaded = load(factory.ImageSpec(layers=[Layer([File("a", b"1")]), Layer([])]), tmp_path)
    assert (loaded.fs.wasted_bytes, loaded.fs.efficiency) == (0, 1.0)


def test_efficiency_in_the_report(tmp_path: Path) -> None:
    from auditor.report.sections import waste_section

    spec = factory.ImageSpec(
        layers=[
            Layer([File("big", b"x" * 300), File("small", b"s" * 100)]),
            Layer([Whiteout("big")]),
        ]
    )
    section = waste_section(load(spec, tmp_path))
    assert section["wasted_bytes"] == 300
    assert section["efficiency"] == pytest.approx(1 - 300 / 400)
    assert section["files"] == [{"path": "/big", "wasted_bytes": 300, "layers": [0]}]


def test_hard_links_add_no_bytes(tmp_path: Path) -> None:
    wasted, written, _ = waste_of(
        tmp_path,
        [File("bin/a", b"x" * 40), factory.Hardlink("bin/b", "bin/a")],
        [Whiteout("bin/b")],
    )
    assert (wasted, written) == (0, 40)


def test_gnu_long_name_waste(tmp_path: Path) -> None:
    name = "opt/" + "n" * 200
    spec = factory.ImageSpec(
        layers=[
            Layer([File(name, b"q" * 11)], tar_format=tarfile.GNU_FORMAT),
            Layer([File(name, b"r")], tar_format=tarfile.GNU_FORMAT),
        ]
    )
    assert load(spec, tmp_path).fs.waste() == [WastedFile(name, 11, (0,))]


def test_deleting_a_name_that_a_hard_link_keeps_is_not_waste(tmp_path: Path) -> None:
    """`rm /usr/bin/git` while /usr/lib/git (same inode) stays: no bytes are
    reclaimable; the surviving link simply is the file now."""
    fs = load(
        factory.ImageSpec(
            layers=[
                Layer(
                    [
                        File("usr/bin/git", b"g" * 100),
                        factory.Hardlink("usr/lib/git", "usr/bin/git"),
                        factory.Hardlink("usr/lib/git2", "usr/bin/git"),
                    ]
                ),
                Layer([Whiteout("usr/bin/git")]),
                Layer([File("usr/lib/git", b"new")]),
            ]
        ),
        tmp_path,
    ).fs
    assert fs.file_size("usr/lib/git2") == 100
    # Layer 2 replaced one surviving name; git2 still holds the bytes: still no waste.
    assert (fs.wasted_bytes, fs.written_bytes, fs.total_bytes) == (0, 103, 103)
    node = fs.get("usr/lib/git2")
    assert node is not None and node.entry.kind == "f" and node.entry.size == 100


def test_all_names_of_a_hard_linked_file_deleted(tmp_path: Path) -> None:
    fs = load(
        factory.ImageSpec(
            layers=[
                Layer([File("opt/x/a", b"a" * 70), factory.Hardlink("opt/x/b", "opt/x/a")]),
                Layer([Whiteout("opt/x")]),
            ]
        ),
        tmp_path,
    ).fs
    assert fs.waste() == [WastedFile("opt/x/b", 70, (0,))]
    assert fs.total_bytes + fs.wasted_bytes == fs.written_bytes
