"""The merged filesystem: whiteouts, opaque dirs, links and provenance, as a runtime sees it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.fs import FileSystem
from tests import factory
from tests.factory import Dir, File, Hardlink, Layer, Opaque, Symlink, Whiteout
from tests.images import load


def fs_of(tmp_path: Path, *layers: list[factory.Item]) -> FileSystem:
    spec = factory.ImageSpec(layers=[Layer(items) for items in layers])
    return load(spec, tmp_path).fs


def files(fs: FileSystem) -> list[str]:
    return [p for p, _ in fs.walk_files()]


def test_provenance_keeps_the_last_writer_and_earlier_versions(tmp_path: Path) -> None:
    fs = fs_of(
        tmp_path,
        [File("etc/conf", b"a" * 10), File("etc/keep", b"k")],
        [File("etc/other", b"o")],
        [File("etc/conf", b"b" * 3)],
    )
    node = fs.get("/etc/conf")
    assert node is not None
    assert (node.layer, node.entry.size, node.earlier) == (2, 3, ((0, 10),))
    assert fs.get("etc/keep").layer == 0  # type: ignore[union-attr]
    assert fs.listdir("etc") == ["conf", "keep", "other"]


def test_whiteout_of_a_directory_removes_its_subtree(tmp_path: Path) -> None:
    fs = fs_of(
        tmp_path,
        [File("app/a/1", b"1"), File("app/a/b/2", b"22"), File("app/c", b"c")],
        [Whiteout("app/a")],
    )
    assert files(fs) == ["app/c"]
    assert "app/a" not in fs
    assert fs.listdir("app") == ["c"]


def test_whiteout_then_recreate_in_a_later_layer(tmp_path: Path) -> None:
    fs = fs_of(
        tmp_path,
        [File("app/a/old", b"o")],
        [Whiteout("app/a")],
        [File("app/a/new", b"n")],
    )
    assert files(fs) == ["app/a/new"]
    assert fs.get("app/a/new").layer == 2  # type: ignore[union-attr]
    assert fs.get("app/a").layer == 2  # type: ignore[union-attr]


def test_deleted_then_rewritten_file_keeps_its_history(tmp_path: Path) -> None:
    fs = fs_of(tmp_path, [File("f", b"12345")], [Whiteout("f")], [File("f", b"1")])
    assert fs.get("f").earlier == ((0, 5),)  # type: ignore[union-attr]


def test_opaque_dir_hides_lower_content_but_keeps_its_own_layer(tmp_path: Path) -> None:
    fs = fs_of(
        tmp_path,
        [File("opt/lower/1", b"1"), File("opt/lower2", b"2"), File("other/x", b"x")],
        # Tar order puts the new entry before the marker: the marker still only hides
        # what lower layers wrote.
        [File("opt/new", b"n"), Opaque("opt")],
    )
    assert files(fs) == ["opt/new", "other/x"]
    assert fs.listdir("opt") == ["new"]


def test_opaque_dir_keeps_the_directory_itself(tmp_path: Path) -> None:
    fs = fs_of(tmp_path, [Dir("opt", mode=0o700), File("opt/x", b"x")], [Opaque("opt")])
    node = fs.get("opt")
    assert node is not None and node.entry.kind == "d"
    assert fs.listdir("opt") == []


def test_file_replaced_by_directory_and_back(tmp_path: Path) -> None:
    fs = fs_of(
        tmp_path,
        [File("a", b"file")],
        [File("a/inner", b"i")],  # writing below a file makes it a directory
        [File("a", b"again")],
    )
    assert files(fs) == ["a"]
    assert fs.get("a").entry.size == 5  # type: ignore[union-attr]


def test_implicit_directories(tmp_path: Path) -> None:
    spec = factory.ImageSpec(
        layers=[
            Layer([File("x/y/z/f", b"1")], auto_parents=False),
            Layer([Dir("x/y", mode=0o700)], auto_parents=False),
        ]
    )
    fs = load(spec, tmp_path).fs
    x, y = fs.get("x"), fs.get("x/y")
    assert x is not None and x.implicit and x.entry.kind == "d"
    assert y is not None and not y.implicit and y.entry.mode == 0o700 and y.layer == 1
    assert fs.listdir("x/y/z") == ["f"]


def test_hard_links_share_the_target(tmp_path: Path) -> None:
    fs = fs_of(
        tmp_path,
        [File("etc/os-release", b"ID=debian\n", mode=0o640)],
        [
            File("usr/lib/os-release", b"ID=alpine\n"),
            Hardlink("etc/os-release", "usr/lib/os-release"),  # same-layer target
        ],
    )
    node = fs.get("etc/os-release")
    assert node is not None
    assert (node.entry.kind, node.entry.mode, node.entry.size) == ("h", 0o644, 0)
    assert fs.read("etc/os-release") == b"ID=alpine\n"
    assert fs.total_bytes == len(b"ID=alpine\n")


def test_hard_link_to_a_lower_layer_file(tmp_path: Path) -> None:
    fs = fs_of(
        tmp_path,
        [File("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")],
        [Hardlink("etc/passwd-", "etc/passwd")],
    )
    assert fs.read("etc/passwd-") == b"root:x:0:0::/root:/bin/sh\n"


def test_symlink_resolution_stays_inside_the_image(tmp_path: Path) -> None:
    fs = fs_of(
        tmp_path,
        [
            File("usr/lib/os-release", b"ID=debian\n"),
            Symlink("etc/os-release", "../usr/lib/os-release"),
            Symlink("lib", "usr/lib"),
            Symlink("abs", "/usr/lib"),
            Symlink("escape", "../../../../usr/lib"),
            Symlink("loop1", "loop2"),
            Symlink("loop2", "loop1"),
            Symlink("self", "./self"),
            Symlink("dangling", "/nowhere"),
        ],
    )
    assert fs.resolve("/etc/os-release") == "usr/lib/os-release"
    assert fs.resolve("lib/os-release") == "usr/lib/os-release"
    assert fs.resolve("abs/os-release") == "usr/lib/os-release"
    assert fs.resolve("escape/os-release") == "usr/lib/os-release"
    assert fs.resolve("usr/../../../usr/lib") == "usr/lib"
    assert fs.resolve("loop1") is None
    assert fs.resolve("self") is None
    assert fs.resolve("dangling") is None
    assert fs.resolve("lib", follow_last=False) == "lib"
    assert fs.read("etc/os-release") == b"ID=debian\n"
    assert fs.read("abs/os-release") == b"ID=debian\n"


def test_resolve_answers_the_same_when_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`resolve` remembers its walks (the model no longer changes), and at most
    RESOLVED_KEPT of them: asked again, before and past the bound, the same answers."""
    import auditor.fs

    fs = fs_of(
        tmp_path,
        [
            File("usr/lib/libz.so.1", b"z"),
            Symlink("lib", "usr/lib"),
            Symlink("loop1", "loop2"),
            Symlink("loop2", "loop1"),
            Symlink("usr/lib/libz.so", "libz.so.1"),
        ],
    )
    asked = [
        ("lib/libz.so.1", True, "usr/lib/libz.so.1"),
        ("lib/libz.so", True, "usr/lib/libz.so.1"),
        ("lib/libz.so", False, "usr/lib/libz.so"),
        ("lib/missing.so", True, None),
        ("loop1/x", True, None),
        ("lib", False, "lib"),
    ]
    monkeypatch.setattr(auditor.fs, "RESOLVED_KEPT", 3)
    for _ in range(2):
        assert [fs.resolve(path, follow) for path, follow, _ in asked] == [
            want for *_, want in asked
        ]
    assert len(fs._resolved) == 3


def test_long_names_merge(tmp_path: Path) -> None:
    import tarfile

    long = "srv/" + "d" * 120 + "/" + "f" * 110
    spec = factory.ImageSpec(
        layers=[
            Layer([File(long, b"12345")], tar_format=tarfile.GNU_FORMAT),
            Layer([Whiteout(long)]),
        ]
    )
    loaded = load(spec, tmp_path)
    assert loaded.fs.wasted_bytes == 5
    assert [w.path for w in loaded.fs.waste()] == [long]


def test_directory_sizes(tmp_path: Path) -> None:
    fs = fs_of(tmp_path, [File("usr/lib/a", b"x" * 100), File("usr/bin/b", b"y" * 10)])
    sizes = fs.directory_sizes()
    assert (sizes["usr"], sizes["usr/lib"], sizes["usr/bin"]) == (110, 100, 10)


def test_hard_link_keeps_its_content_when_the_target_is_replaced(tmp_path: Path) -> None:
    """Copy-up breaks the link: the link keeps the bytes it was linked to (the engine's
    merged rootfs shows the same, see tests/integration/test_engine_archives.py)."""
    fs = fs_of(
        tmp_path,
        [File("etc/passwd", b"old\n"), Hardlink("etc/passwd-", "etc/passwd")],
        [File("etc/passwd", b"new-longer\n")],
        [Hardlink("etc/passwd.bak", "etc/passwd-")],  # a link to a link
    )
    assert fs.read("etc/passwd") == b"new-longer\n"
    assert fs.read("etc/passwd-") == b"old\n"
    assert fs.read("etc/passwd.bak") == b"old\n"
    assert (fs.file_size("etc/passwd-"), fs.file_size("etc/passwd")) == (4, 11)
    assert fs.file_size("etc") is None


def test_elf_facts_through_a_hard_link_to_a_lower_layer(tmp_path: Path) -> None:
    import sys

    fs = fs_of(
        tmp_path,
        [factory.host_file(sys.executable, "usr/bin/python3.11")],
        [Hardlink("usr/bin/python3", "usr/bin/python3.11")],
    )
    assert fs.elf("usr/bin/python3") == fs.elf("usr/bin/python3.11") is not None
    assert [p for p, _ in fs.elf_files()] == ["usr/bin/python3", "usr/bin/python3.11"]


_QUERY_FILES = [
    "usr/share/doc/a/copyright",
    "usr/share/doc/a/README",
    "usr/share/doc-base/b",
    "usr/share/docs/c",
    "usr/share/doc0",
    "usr/share/man/man1/ls.1.gz",
    "usr/sharex",
    "usr/include/Python.h",
    "usr/include/python3.11/Python.h",
    "usr/lib/libx.a",
    "usr/lib/a",
    "opt/app/NotPython.h",
    "Python.h",
    "tmp/\u00e9t\u00e9",
    "var/log/dpkg.log",
]


def _query_fs(tmp_path: Path) -> FileSystem:
    return fs_of(
        tmp_path,
        [File(p, b"x" * n) for n, p in enumerate(_QUERY_FILES)],
        [Symlink("usr/share/doc/link", "a"), Dir("usr/share/doc/empty")],
    )


def test_files_under_is_a_prefix_filter_of_walk_files(tmp_path: Path) -> None:
    """Bisection over the sorted files must give exactly what testing every path gives:
    overlapping, nested, missing and empty prefixes, and prefixes that are not whole
    directory names."""
    fs = _query_fs(tmp_path)
    cases: list[tuple[str, ...]] = [
        (),
        ("",),
        ("usr/share/doc/",),
        ("usr/share/doc",),
        ("usr/share/doc/", "usr/share/man/", "usr/share/doc/a/"),
        ("usr/", "usr/share/"),
        ("zzz/", "a"),
        ("tmp/\u00e9",),
        ("usr/share/doc/\U0010ffff",),
        ("var/log/", "usr/include/"),
    ]
    for prefixes in cases:
        expected = [(p, n) for p, n in fs.walk_files() if p.startswith(prefixes)]
        assert list(fs.files_under(prefixes)) == expected, prefixes
    assert "usr/share/doc/link" in [p for p, _ in fs.files_under(("usr/share/doc/",))]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="usr/shaedoc-.0x\u00e9", max_size=16), max_size=4))
def test_files_under_agrees_with_startswith(prefixes: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fs = _query_fs(Path(tmp))
    expected = [(p, n) for p, n in fs.walk_files() if p.startswith(tuple(prefixes))]
    assert list(fs.files_under(prefixes)) == expected


def test_files_ending_is_a_suffix_filter_of_walk_files(tmp_path: Path) -> None:
    fs = _query_fs(tmp_path)
    for suffix in ("Python.h", ".a", "a", ".gz", "nothing", ""):
        expected = [(p, n) for p, n in fs.walk_files() if p.endswith(suffix)]
        assert list(fs.files_ending(suffix)) == expected
        assert list(fs.files_ending(suffix)) == expected  # cached: the same answer again
    assert fs.paths() == sorted(fs.nodes)


def test_files_named_answers_every_name_once_and_remembers(tmp_path: Path) -> None:
    """EL001, PY002 and PK002 ask which files carry the names the loader missed: one
    pass for the names not asked before, answers kept (the model no longer changes).
    A directory of that name is no file; a later layer's deletion is seen; a name with a
    slash (DT_NEEDED may hold one) is matched as a path ending."""
    fs = fs_of(
        tmp_path,
        [
            File("usr/lib/libz.so.1"),
            File("opt/a/libz.so.1"),
            Dir("opt/libssl.so.3"),
            File("opt/b/libssl.so.3"),
            File("opt/sub/libx.so"),
            Symlink("usr/lib/libffi.so.8", "libffi.so.8.1.2"),
        ],
        [Whiteout("opt/b/libssl.so.3")],
    )
    asked = fs.files_named(iter(["libz.so.1", "libssl.so.3", "libffi.so.8", "sub/libx.so"]))
    assert asked == {
        "libz.so.1": ["opt/a/libz.so.1", "usr/lib/libz.so.1"],
        "libssl.so.3": [],
        "libffi.so.8": ["usr/lib/libffi.so.8"],  # a link is a file of that name
        "sub/libx.so": ["opt/sub/libx.so"],
    }
    passes = []
    ending = fs.file_paths_ending

    def counted(suffix: str | tuple[str, ...]) -> list[str]:
        passes.append(suffix)
        return ending(suffix)

    fs.file_paths_ending = counted  # type: ignore[method-assign]
    assert fs.files_named(["libz.so.1"]) == {"libz.so.1": asked["libz.so.1"]}
    assert passes == []  # remembered
    assert fs.files_named(["libz.so.1", "libnew.so", "libnew2.so"]) == {
        "libz.so.1": asked["libz.so.1"],
        "libnew.so": [],
        "libnew2.so": [],
    }
    assert passes == [("/libnew.so", "/libnew2.so")]  # one pass for the new names
