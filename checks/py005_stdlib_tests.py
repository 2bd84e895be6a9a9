"""PY005 stdlib-tests: the standard library's own test suites are in the image.

Why it matters: CPython's `make install` copies its test suite: lib/pythonX.Y/test
alone is 100+ MB in 3.11, plus idlelib/idle_test, tkinter/test, lib2to3/tests and the
test packages of unittest, ctypes, sqlite3 and distutils. None of it is used at run
time; it is pure size. The _test* extension modules in lib-dynload (~1 MB) are left
alone: the official images keep them and test helpers import them.

Flagged per interpreter with the bytes at stake. Files owned by a dpkg package, and
the pycs compiled from them at install time, are skipped (the distro ships its test
suite in a separate package) unless `--strict`.

Example: `./configure && make install` into /usr/local, copied whole to the final stage.

How to fix: delete them after installing:
`rm -rf $PREFIX/lib/python3.X/test $PREFIX/lib/python3.X/idlelib/idle_test ...`
(the official python images do exactly this).

References: https://github.com/docker-library/python (Dockerfile clean-up step)
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip
from auditor.kinds import DIR, FILE
from auditor.units import human_bytes

INFO = CheckInfo(
    id="PY005",
    name="stdlib-tests",
    title="The standard library's test suites are installed",
    severity=Severity.WARNING,
    criterion="stdlib test suites removed",
    dimension=Dimension.SMALL,
)

TEST_DIRS = (
    "test",
    "idlelib/idle_test",
    "tkinter/test",
    "lib2to3/tests",
    "unittest/test",
    "ctypes/test",
    "sqlite3/test",
    "distutils/tests",
)
MIN_BYTES = 64 << 10


def run(ctx: CheckContext) -> Iterable[Finding]:
    facts = ctx.facts
    interps = [i for i in facts.pythons if i.stdlib]
    if not interps:
        raise Skip("no Python standard library in the image")
    fs = facts.fs
    for interp in interps:
        stdlib = interp.stdlib or ""
        roots = [f"{stdlib}/{d}" for d in TEST_DIRS if fs.get(f"{stdlib}/{d}") is not None]
        total = 0
        found = []
        for root in roots:
            size = _size(ctx, root)
            if size:
                total += size
                found.append(root)
        if not found or total < MIN_BYTES:
            continue
        yield INFO.finding(
            f"Python {interp.version}'s test suites take {human_bytes(total)} in /{stdlib}",
            "Delete lib/pythonX.Y/test, idlelib/idle_test, tkinter/test and lib2to3/tests "
            "after installing CPython",
            path=found[0],
            paths=found[1:],
            bytes=total,
            evidence={"interpreter": "/" + interp.path, "paths": ["/" + p for p in found]},
        )


def source_of(path: str) -> str:
    """The .py a `__pycache__/NAME.TAG.pyc` was compiled from (Debian's py3compile writes
    pycs at install time: the package owns the source, not the pyc); else `path`."""
    d, _, name = path.rpartition("/")
    if d.endswith("/__pycache__") and name.endswith(".pyc"):
        return f"{d[: -len('/__pycache__')]}/{name.split('.', 1)[0]}.py"
    return path


def _size(ctx: CheckContext, root: str) -> int:
    fs = ctx.facts.fs
    dpkg = ctx.facts.dpkg
    total = 0
    stack = [root]
    while stack:
        path = stack.pop()
        node = fs.get(path)
        if node is None:
            continue
        if node.entry.kind == DIR:
            stack.extend(f"{path}/{c}" for c in fs.listdir(path))
        elif node.entry.kind == FILE:
            if not ctx.strict and dpkg.files.get(source_of(path)) is not None:
                continue
            total += node.entry.size
    return total
