"""Compiled Python extension modules: `.so` files under site-packages / dist-packages.

Their presence says the image needed native code; together with a compiler toolchain
it says the image was built single-stage (BL002).
"""

from __future__ import annotations

from operator import methodcaller

from auditor.fs import FileSystem

_DIRS = ("/site-packages/", "/dist-packages/")
_NAMES = ("site-packages", "dist-packages")


def find(fs: FileSystem) -> list[str]:
    """Image paths (no leading slash) of extension modules, sorted."""
    out = []
    # A path with one of _DIRS has that directory as an ancestor: only the files below
    # such directories are looked at (found among the directories, by bisection).
    roots = [d + "/" for d in fs.dir_paths() if d.rpartition("/")[2] in _NAMES]
    for path in filter(methodcaller("__contains__", ".so"), fs.file_paths_under(roots)):
        name = path.rsplit("/", 1)[-1]
        if (name.endswith(".so") or ".so." in name) and any(d in "/" + path for d in _DIRS):
            out.append(path)
    return out
