"""Compiled Python extension modules: `.so` files under site-packages / dist-packages.

Their presence says the image needed native code; together with a compiler toolchain
it says the image was built single-stage (BL002).
"""

from __future__ import annotations

from auditor.fs import FileSystem

_DIRS = ("/site-packages/", "/dist-packages/")


def find(fs: FileSystem) -> list[str]:
    """Image paths (no leading slash) of extension modules, sorted."""
    out = []
    for path in fs.file_paths_containing(".so"):  # in C: ~1 path in 100 has it
        if "-packages/" not in path:  # a cheap test, needed by both below
            continue
        name = path.rsplit("/", 1)[-1]
        if (name.endswith(".so") or ".so." in name) and any(d in "/" + path for d in _DIRS):
            out.append(path)
    return out
