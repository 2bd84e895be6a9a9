"""Compiler toolchain executables present in the image (kept simple on purpose).

A build toolchain in a runtime image costs size and hands an attacker a compiler.
This fact only answers "which well-known toolchain programs are on the usual bin
directories", by name, so checks (BL002 here, CC001/CC002 in the compilers area)
share one definition. Versioned names (`gcc-12`, `x86_64-linux-gnu-gcc-12`,
`clang-16`) count too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.fs import FileSystem
from auditor.layers import DIR

BIN_DIRS = ("usr/bin", "usr/local/bin", "bin", "usr/local/go/bin", "root/.cargo/bin")
TOOLS = (
    "gcc", "cc", "c++", "g++", "clang", "clang++", "gfortran", "rustc", "cargo", "go",
    "as", "ld", "make", "cmake",
)  # fmt: skip
_NAME = re.compile(
    r"^(?:[a-z0-9_]+-linux-gnu[a-z]*-)?(?P<tool>"
    + "|".join(re.escape(t) for t in TOOLS)
    + r")(?:-\d+(?:\.\d+)*)?$"
)


@dataclass(frozen=True)
class Tool:
    path: str  # image path without leading slash
    tool: str  # the canonical tool name: gcc, make, ...


def find(fs: FileSystem) -> list[Tool]:
    out: dict[str, Tool] = {}
    for d in BIN_DIRS:
        real = fs.resolve(d)
        if real is None:
            continue
        for name in fs.listdir(real):
            m = _NAME.match(name)
            if not m:
                continue
            path = f"{real}/{name}"
            node = fs.get(path)
            if node is None or node.entry.kind == DIR:
                continue
            if fs.resolve(path) is None:  # dangling alternative link
                continue
            out.setdefault(path, Tool(path, m.group("tool")))
    return sorted(out.values(), key=lambda t: t.path)
