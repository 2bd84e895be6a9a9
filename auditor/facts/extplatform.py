"""Extension modules no interpreter of the image imports: built for another platform.

Why it matters: `pip install --platform manylinux2014_aarch64 --only-binary=:all:
--target ...` (a Lambda layer built on the wrong machine) or a musllinux wheel forced
into a glibc image puts extension modules into an import location that CPython here
never loads. CPython imports `NAME` from `NAME.cpython-311-x86_64-linux-gnu.so`,
`NAME.abi3.so` or `NAME.so` (importlib.machinery.EXTENSION_SUFFIXES: its own SOABI);
`_speedups.cpython-311-aarch64-linux-gnu.so` or `...-x86_64-linux-musl.so` is no
module to it: `import markupsafe._speedups` raises ModuleNotFoundError, as the running
image showed, before the loader ever looks at the file's libraries. So what such a file
needs from the system (EL001, PK002) is no matter; that it is never imported is.

Found per extension module (an ELF load tree of kind extension, placed where an import
finds it): built for another CPU (its ELF machine), or its file name's `cpython-XY-
PLATFORM` tag names a PLATFORM that none of the image's interpreters use (read from
the tags of their own lib-dynload modules; without any, from the image's architecture
and C library).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.facts.elfgraph import LoadTree
    from auditor.fs import FileSystem

#: `_speedups.cpython-311-x86_64-linux-gnu.so` -> `x86_64-linux-gnu` (also `311d`, `313t`)
_TAG = re.compile(r"\.cpython-\d+[a-z]*-(?P<platform>\w+-\w+-\w+)\.so$")
#: the Docker architecture names -> the first word of CPython's platform triplet
_ARCH = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "386": "i386",
    "ppc64le": "powerpc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def tag_platform(path: str) -> str | None:
    """The platform an extension module's file name is tagged for, if it is tagged."""
    m = _TAG.search(path)
    return m.group("platform") if m else None


def image_platforms(fs: FileSystem, architecture: str, libc: str | None) -> frozenset[str]:
    """The platforms the image's interpreters import extension modules for."""
    found = {
        p
        for d in fs.dir_paths()
        if d.rpartition("/")[2] == "lib-dynload"
        for name in fs.listdir(d)
        if (p := tag_platform(name)) is not None
    }
    if found:
        return frozenset(found)
    arch = _ARCH.get(architecture)
    if arch is None or libc not in ("glibc", "musl"):
        return frozenset()
    return frozenset({f"{arch}-linux-{'gnu' if libc == 'glibc' else 'musl'}"})


def find(
    trees: Iterable[LoadTree],
    fs: FileSystem,
    platforms: frozenset[str],
    importable: Callable[[str], str | None],
) -> dict[str, str]:
    """Extension module path -> what it was built for ("aarch64", "x86_64-linux-musl"),
    for those no interpreter here imports. `importable(path)`: its import name, None
    when the file is not where an import finds it."""
    out: dict[str, str] = {}
    for tree in trees:
        if tree.kind != "extension" or not importable(tree.root):
            continue
        platform = tag_platform(tree.root)
        if tree.foreign:
            elf = fs.elf(tree.root)
            machine = getattr(elf, "machine", None) or "another CPU"
            out[tree.root] = platform or str(machine).removeprefix("EM_").lower()
        elif platform is not None and platforms and platform not in platforms:
            out[tree.root] = platform
    return out
