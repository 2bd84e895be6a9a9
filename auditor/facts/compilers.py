"""Is there a toolchain in the image? Compilers, assemblers, linkers, build tools and
the dpkg packages that bring them, with the bytes they cost.

A production image needs none of them: they add hundreds of MB and hand an attacker a
way to build exploits in place. Tools are found by name in any `bin`/`sbin` directory
(gcc, cc, c++, g++, clang, gfortran, rustc, cargo, go, as, ld, make, cmake, including
versioned and target-prefixed names such as x86_64-linux-gnu-gcc-12); a symlink counts
only when it resolves to an existing file inside the image (Debian's
/usr/bin/cc -> /etc/alternatives/cc -> gcc chain). Toolchain packages come from the
dpkg file lists: build-essential, gcc-*, g++-*, cpp-*, binutils*, clang*, gfortran*,
rustc, cargo, golang-*, make, cmake, autoconf, automake, libtool, pkg-config, and every
*-dev package (python3-dev included).

Each tool and package belongs to one toolchain family (`family_of_tool`,
`family_of_package`): a C/C++ compiler, binutils, make/autotools, -dev packages, ...
A user removes a toolchain, not a package: CC001 reports one finding per family.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from auditor.facts.owners import Owners
from auditor.fs import FILE, HARDLINK, FileSystem

TOOL_RE = re.compile(
    r"^(?:[a-z0-9_]+-(?:[a-z0-9_]+-)?linux-gnu[a-z0-9_]*-)?"
    r"(gcc|g\+\+|cc|c\+\+|clang|clang\+\+|gfortran|rustc|cargo|go|as|ld|ld\.bfd|ld\.gold|"
    r"make|gmake|cmake)(?:-\d+(?:\.\d+)*)?$"
)
PACKAGE_RE = re.compile(
    r"^(build-essential|gcc(-\d+)?|g\+\+(-\d+)?|cpp(-\d+)?|gfortran(-\d+)?|clang(-\d+)?|"
    r"binutils(-[a-z0-9_-]+)?|rustc|cargo|golang(-[0-9.]+)?(-go)?|make|cmake|"
    r"autoconf|automake|libtool|pkg-?config|pkgconf|"
    r"gcc-\d+-[a-z0-9_-]+|g\+\+-\d+-[a-z0-9_-]+|cpp-\d+-[a-z0-9_-]+|.+-dev)$"
)

#: Toolchain families, in report order. A tool's family comes from its canonical name
#: (TOOL_RE's group), a package's from the family of the tools it owns, else its name.
C_COMPILER = "C/C++ compiler"
FORTRAN = "Fortran compiler"
RUST = "Rust toolchain"
GO = "Go toolchain"
BINUTILS = "binutils (assembler, linker)"
MAKE = "make/autotools"
DEV = "-dev packages (headers, static libraries)"
FAMILIES = (C_COMPILER, FORTRAN, RUST, GO, BINUTILS, MAKE, DEV)
TOOL_FAMILY = {
    **dict.fromkeys(("gcc", "g++", "cc", "c++", "clang", "clang++"), C_COMPILER),
    "gfortran": FORTRAN,
    **dict.fromkeys(("rustc", "cargo"), RUST),
    "go": GO,
    **dict.fromkeys(("as", "ld", "ld.bfd", "ld.gold"), BINUTILS),
    **dict.fromkeys(("make", "gmake", "cmake"), MAKE),
}
PACKAGE_FAMILY = (
    (re.compile(r"^(build-essential|gcc|g\+\+|cpp|clang)(-|$)"), C_COMPILER),
    (re.compile(r"^gfortran(-|$)"), FORTRAN),
    (re.compile(r"^(rustc|cargo)$"), RUST),
    (re.compile(r"^golang(-|$)"), GO),
    (re.compile(r"^binutils(-|$)"), BINUTILS),
    # build tools, whatever their names end in (dpkg-dev, autotools-dev hold no headers)
    (
        re.compile(
            r"^(make|cmake|autoconf|automake|libtool|pkg-?config|pkgconf|dpkg-dev|"
            r"autotools-dev)$"
        ),
        MAKE,
    ),
    (re.compile(r"-dev$"), DEV),
)


def family_of_tool(name: str) -> str:
    """The family of a tool by its canonical name (`Tool.name`)."""
    return TOOL_FAMILY[name]


def family_of_package(name: str) -> str:
    """The family of a toolchain package by its name (one owning no tool: cpp-12,
    libc6-dev, build-essential)."""
    for pattern, family in PACKAGE_FAMILY:
        if pattern.search(name):
            return family
    return DEV  # unreachable for names is_toolchain_package accepts; -dev is the widest


@dataclass(frozen=True)
class Tool:
    name: str  # canonical tool: gcc, make, ld, ...
    path: str  # where it was found (image-relative; may be a symlink)
    real: str  # the file it resolves to
    package: str | None  # dpkg package owning the real file
    size: int


@dataclass
class Compilers:
    tools: list[Tool] = field(default_factory=list)
    packages: dict[str, int] = field(default_factory=dict)  # toolchain package -> bytes

    @property
    def present(self) -> bool:
        """A compiler or build tool is installed (what BL002 asks)."""
        return bool(self.tools or self.packages)

    def to_json(self) -> dict[str, Any]:
        return {
            "tools": [
                {"name": t.name, "path": "/" + t.path, "package": t.package} for t in self.tools
            ],
            "packages": dict(sorted(self.packages.items())),
        }


def is_toolchain_package(name: str) -> bool:
    """gcc-12-base is not a toolchain: it is the runtime base libgcc-s1 depends on."""
    return bool(PACKAGE_RE.match(name)) and not name.endswith("-base")


def detect(fs: FileSystem, owners: Owners) -> Compilers:
    out = Compilers()
    # Only files directly in a `bin` or `sbin` directory count: found below those
    # directories (by bisection), not by testing every file.
    bins = [d + "/" for d in fs.dir_paths() if d.rpartition("/")[2] in ("bin", "sbin")]
    for path in fs.file_paths_under(bins):
        parent = posixpath.basename(posixpath.dirname(path))
        if parent not in ("bin", "sbin"):
            continue
        m = TOOL_RE.match(posixpath.basename(path))
        if m is None:
            continue
        real = fs.resolve(path)
        target = fs.get(real) if real is not None else None
        if real is None or target is None or target.entry.kind not in (FILE, HARDLINK):
            continue
        if not target.entry.mode & 0o111:
            continue
        out.tools.append(
            Tool(
                name=m.group(1),
                path=path,
                real=real,
                package=owners.dpkg(real) or owners.dpkg(path),
                size=target.entry.size,
            )
        )
    db = owners.dpkg_db
    for package in db.lists:
        # Removed but not purged (`apt-get remove`: status `rc`), a package keeps its
        # .list for the conffiles left behind: with a status database, only installed
        # packages count.
        if db.origin is not None and package not in db.packages:
            continue
        if is_toolchain_package(package):
            out.packages[package] = owners.package_bytes(fs, package)
    return out


#: Where headers are installed, and CPython's own header directory under either
#: (`include/python3.11`, `python3.11d`, the old `python3.7m`): what `make install` of
#: CPython and Debian's libpython3.X-dev put there for building C extensions.
INCLUDE_ROOTS = ("usr/include", "usr/local/include")
CPYTHON_HEADERS = re.compile(r"^(usr(?:/local)?/include/python\d+\.\d+[a-z]*)/")


@dataclass
class HeaderDir:
    """Header files under one directory: how many, and their bytes."""

    files: int = 0
    bytes: int = 0


@dataclass
class DevFiles:
    #: include root -> headers under it that are not CPython's own
    includes: dict[str, HeaderDir] = field(default_factory=dict)
    #: CPython's own header directory (usr/local/include/python3.11) -> its headers
    cpython: dict[str, HeaderDir] = field(default_factory=dict)
    python_h: list[str] = field(default_factory=list)  # Python.h outside those directories
    static_libs: list[tuple[str, int]] = field(default_factory=list)


def dev_files(fs: FileSystem) -> DevFiles:
    """Headers under usr/include and usr/local/include (CPython's own apart, so that a
    finding names the directory the headers are in), Python.h anywhere else, static libs."""
    out = DevFiles()
    # Three queries of the sorted file list instead of three tests on every file; each
    # list comes out sorted by path, as one walk over every file gave it.
    for path in fs.file_paths_under(root + "/" for root in INCLUDE_ROOTS):
        node = fs.nodes[path]
        own = CPYTHON_HEADERS.match(path)
        if own:
            where = out.cpython.setdefault(own.group(1), HeaderDir())
        else:
            root = next(r for r in INCLUDE_ROOTS if path.startswith(r + "/"))
            where = out.includes.setdefault(root, HeaderDir())
        where.files += 1
        where.bytes += node.entry.size if node.entry.kind == FILE else 0
    for path in fs.file_paths_ending("Python.h"):
        inside = (m := CPYTHON_HEADERS.match(path)) and path == f"{m.group(1)}/Python.h"
        if posixpath.basename(path) == "Python.h" and not inside:
            out.python_h.append(path)
    for path in fs.file_paths_ending(".a"):
        lib = fs.get(path)
        if lib is not None and lib.entry.kind == FILE:
            out.static_libs.append((path, lib.entry.size))
    return out
