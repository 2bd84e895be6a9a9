"""`writable_paths` reads the paths grouped by mode and owner instead of walking the tree
down (`_walk`, the definition): both must find the same paths, the same directories
among them, and count the same checked entries, with and without skipped subtrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.facts.permissions import _walk, writable_paths
from auditor.facts.users import RuntimeUser
from auditor.fs import FileSystem
from tests import factory
from tests.factory import Dir, File, Hardlink, Layer, Symlink
from tests.images import load

USER = RuntimeUser("app", 1000, 1000, "app", "/home/app", frozenset({1000, 50}))
NOBODY = RuntimeUser("", None, None, None, None)


def _fs(tmp_path: Path) -> FileSystem:
    items: list[factory.Item] = [
        Dir("venv", 0o755, 1000, 1000),
        Dir("venv/lib", 0o775, 0, 50),
        File("venv/lib/a.py", b"a", 0o664, 0, 50),
        File("venv/lib/b.py", b"b", 0o644, 0, 0),
        File("venv/lib/c.py", b"c", 0o666, 0, 0),
        Hardlink("venv/lib/d.py", "venv/lib/c.py"),
        Symlink("venv/lib/link", "/etc"),
        Symlink("venv/bin", "lib"),
        Dir("venv/lib/sub", 0o755, 0, 0),
        File("venv/lib/sub/x", b"x", 0o600, 1000, 0),
        File("venv-other/y", b"y", 0o666),  # shares the name's start: not below venv/
        File("venv.txt", b"z", 0o666),
        File("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644),
        Dir("etc/app", 0o777),
    ]
    return load(factory.ImageSpec(layers=[Layer(items)]), tmp_path).fs


SKIPS = [(), ("venv/lib/sub",), ("venv/lib",), ("venv",), ("venv/lib/sub", "venv/lib/a.py")]


@pytest.mark.parametrize(
    "root", ["venv", "venv/lib", "venv/lib/sub", "venv/lib/a.py", "venv/bin", "missing", "etc"]
)
@pytest.mark.parametrize("user", [USER, NOBODY])
@pytest.mark.parametrize("skip", SKIPS)
def test_the_grouped_scan_agrees_with_the_tree_walk(
    tmp_path: Path, root: str, user: RuntimeUser, skip: tuple[str, ...]
) -> None:
    fs = _fs(tmp_path)
    scan = writable_paths(fs, root, user, skip)
    if user.uid is None:
        assert (scan.writable, scan.checked) == ((), 0)  # no user known: nothing judged
        return
    walked = _walk(fs, root, user, skip)
    assert scan == walked
    assert scan.writable_dirs == walked.writable_dirs


def test_skipped_subtrees_leave_out_only_themselves(tmp_path: Path) -> None:
    scan = writable_paths(_fs(tmp_path), "venv", USER, ("venv/lib/sub", "venv/lib/a.py"))
    assert scan.writable == ("venv", "venv/lib", "venv/lib/c.py", "venv/lib/d.py")
    assert scan.writable_dirs == {"venv", "venv/lib"}
    assert scan.checked == 5  # venv, lib, b, c, d


def test_what_the_app_user_can_write(tmp_path: Path) -> None:
    scan = writable_paths(_fs(tmp_path), "venv", USER)
    assert scan.writable == (
        "venv",
        "venv/lib",
        "venv/lib/a.py",
        "venv/lib/c.py",
        "venv/lib/d.py",
        "venv/lib/sub/x",
    )
    assert scan.checked == 8  # venv, lib, a, b, c, d (a hard link), sub, x; no links
