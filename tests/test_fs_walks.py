"""The path queries added for issue 20 (auditor/fs.py, "queries added for issue 20
walks") against the brute-force walks they replace, on random layer stacks: files of
several modes and owners, directories, symbolic and hard links, devices, whiteouts and
opaque directories, files replaced by directories and back, captured content."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import sizes
from auditor.facts import extensions
from auditor.fs import DIR, FILE, SYMLINK, FileSystem
from tests import factory

PATHS = [
    "a",
    "a/b",
    "a/b/c.py",
    "a/__pycache__/c.cpython-311.pyc",
    "a/x.pyc",
    "__pycache__/m.cpython-311.pyc",
    "pyvenv.cfg",
    "a/pyvenv.cfg",
    "a/notpyvenv.cfg",
    "a/b-x",
    "a/b/d/e.so",
    "lib/site-packages/m.so.1",
    "x/dist-packages/y/z.so",
    "site-packages/q.so",
    "a/.cache/pip/w",
    "usr/sbin/cc",
    "usr/bin/gcc",
    "usr/include/z.h",
    "var/log/dpkg.log",
    "é/ü.pyc",
]
MODES = [0o644, 0o755, 0o777, 0o4755, 0o1777, 0o600]
PYC = b"\x61\x0d\x0d\x0a\x01\x00\x00\x00" + b"\x00" * 8  # a pyc header, checked-hash


@st.composite
def layer_items(draw: st.DrawFn) -> list[factory.Item]:
    items: list[factory.Item] = []
    for _ in range(draw(st.integers(0, 8))):
        path = draw(st.sampled_from(PATHS))
        what = draw(st.sampled_from(["file", "file", "dir", "symlink", "hardlink", "wh", "opq"]))
        mode, uid = draw(st.sampled_from(MODES)), draw(st.sampled_from([0, 1000]))
        if what == "file":
            data = PYC if path.endswith(".pyc") else b"home = /usr/bin\n" * draw(st.integers(0, 3))
            items.append(factory.File(path, data, mode, uid, draw(st.sampled_from([0, 50]))))
        elif what == "dir":
            items.append(factory.Dir(path, mode, uid))
        elif what == "symlink":
            items.append(factory.Symlink(path, draw(st.sampled_from(PATHS))))
        elif what == "hardlink":
            items.append(factory.Hardlink(path, draw(st.sampled_from(PATHS))))
        elif what == "wh":
            items.append(factory.Whiteout(path))
        else:
            items.append(factory.Opaque(path))
    return items


def merged(layers: list[list[factory.Item]], tmp: Path) -> FileSystem:
    return FileSystem(factory.read_stack(layers, tmp))


def _stat(fs: FileSystem, path: str) -> tuple[str, int, int, int]:
    node = fs.nodes[path]
    return node.entry.kind, node.entry.mode, node.entry.uid, node.entry.gid


@settings(max_examples=150, deadline=None)
@given(st.lists(layer_items(), min_size=1, max_size=4))
def test_each_query_agrees_with_the_walk(layers: list[list[factory.Item]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fs = merged(layers, Path(tmp))
        walked = list(fs.walk_files())
        files = [p for p, _ in walked]
        assert fs.file_paths() == files
        # Suffixes ending with COMMON_SUFFIXES (one shared pass) and others (their own)
        for suffix in (".pyc", "x.pyc", ".so", "pyvenv.cfg", "z.h", ("c.py", ".h"), (".pyc", ".a")):
            assert fs.file_paths_ending(suffix) == [p for p in files if p.endswith(suffix)]
            assert fs.file_paths_ending(suffix) == [p for p, _ in fs.files_ending(suffix)]
        for prefixes in (["a/"], ["a/b", "a/"], ["usr/include/", "var/log/"], [""], []):
            assert fs.file_paths_under(prefixes) == [p for p, _ in fs.files_under(prefixes)]
            under, their_sizes = fs.file_sizes_under(prefixes)
            assert list(zip(under, their_sizes)) == [
                (p, n.entry.size if n.entry.kind == FILE else 0)
                for p, n in fs.files_under(prefixes)
            ]
        for suffix in (".pyc", "pyvenv.cfg"):
            expected = [(p, d) for p, d in fs.captured(lambda p, s=suffix: p.endswith(s))]
            expected = [(p, d) for p, d in expected if fs.nodes[p].entry.kind != DIR]
            assert list(fs.captured_ending(suffix)) == expected

        def odd(path: str, data: bytes) -> bool:  # any pure test that rejects most
            return len(data) % 3 == 1 or path.endswith("c")

        assert fs.captured_where(odd) == [(p, d) for p, d in fs.captured() if odd(p, d)]
        lost = [
            (layer, p, d)
            for layer, index in enumerate(fs._indexes)
            for p, d in index.contents.items()
            if odd(p, d) and (fs.nodes.get(p) is None or fs.nodes[p].layer != layer)
        ]
        assert fs.captured_lost_where(odd) == lost
        for skip in (".pyc", ("c", "g")):
            kept = [(p, d) for p, d in fs.captured() if odd(p, d) and not p.endswith(skip)]
            assert fs.captured_where(odd, skip) == kept

        dirs = [p for p in fs.paths() if fs.nodes[p].entry.kind == DIR]
        assert fs.dir_paths() == dirs
        # Files below a directory named so == files whose path names it (what the
        # extension modules fact, the compilers fact and SZ003 rely on)
        for name in ("site-packages", "bin", "sbin"):
            roots = [d + "/" for d in dirs if d.rpartition("/")[2] == name]
            named = [p for p in files if f"/{name}/" in "/" + p]
            assert fs.file_paths_under(roots) == named
        roots = [d + "/" for d in dirs if d.endswith(".cache")]
        assert fs.file_paths_under(roots) == [p for p in files if ".cache/" in p]
        assert extensions.find(fs) == [
            p
            for p in files
            if (p.rsplit("/", 1)[-1].endswith(".so") or ".so." in p.rsplit("/", 1)[-1])
            and any(d in "/" + p for d in ("/site-packages/", "/dist-packages/"))
        ]

        groups = fs.stat_groups()
        assert sorted(p for paths in groups.values() for p in paths) == fs.paths()
        for key, paths in groups.items():
            assert paths == sorted(paths)
            assert all(_stat(fs, p) == key for p in paths)
        for prefix in ("a/", "a/b", "usr/", "zzz/"):
            under = dict(fs.stat_groups_under(prefix))
            assert all(under[k] == [p for p in v if p.startswith(prefix)] for k, v in under.items())
            assert sum(map(len, under.values())) == sum(p.startswith(prefix) for p in fs.paths())

        by_dir: dict[str, int] = {}  # recursive, down to DIRECTORY_DEPTH
        for path, node in walked:
            if node.entry.kind == FILE and node.entry.size:
                parts = path.split("/")[:-1]
                for depth in range(1, min(len(parts), sizes.DIRECTORY_DEPTH) + 1):
                    d = "/" + "/".join(parts[:depth])
                    by_dir[d] = by_dir.get(d, 0) + node.entry.size
        assert sizes.directory_sizes(fs) == by_dir
        assert sum(n.entry.size for _, n in walked if n.entry.kind == FILE) == fs.total_bytes


def test_a_link_named_like_a_pyc_is_not_followed(tmp_path: Path) -> None:
    real = "a/__pycache__/real.cpython-311.pyc"
    layer = [
        factory.File(real, PYC),
        factory.Symlink("a/__pycache__/link.cpython-311.pyc", "real.cpython-311.pyc"),
        factory.Hardlink("a/__pycache__/hard.cpython-311.pyc", real),
    ]
    fs = merged([layer], tmp_path)
    assert [p for p, _ in fs.captured_ending(".pyc")] == [
        "a/__pycache__/hard.cpython-311.pyc",
        "a/__pycache__/real.cpython-311.pyc",
    ]
    assert fs.stat_groups()[(SYMLINK, 0o777, 0, 0)] == ["a/__pycache__/link.cpython-311.pyc"]
