"""SEC007 world-writable: files or directories anyone in the container may change.

Why it matters: a world-writable file (or a directory without the sticky bit) lets
any process, whatever its user, replace code, configuration or libraries that
another process trusts. Only shared scratch directories with the sticky bit
(/tmp, /var/tmp, /run/lock, /var/lock, /dev/shm) are expected to be writable by all.

Not reported: what lies inside those sticky scratch directories (anyone may write
there anyway: /tmp/uv-<hash>.lock), and empty lock files (`.lock`, `*.lock`, no
content to change) such as the 0666 ones uv makes on purpose so that any user may
lock a venv or its cache: writing one changes nothing a program reads.

Example: `RUN chmod -R 777 /app` (the classic "fix" for a permission error).

How to fix: give the runtime user ownership of what it must write
(`COPY --chown=app:app`, a dedicated data directory) and keep modes at 755/644.

References: CIS Docker Benchmark 4.x, https://wiki.debian.org/Permissions
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity
from auditor.kinds import BLOCK, CHAR, DIR, FILE, HARDLINK, SYMLINK

INFO = CheckInfo(
    id="SEC007",
    name="world-writable",
    title="World-writable paths outside the sticky scratch directories",
    severity=Severity.WARNING,
    criterion="no world-writable paths outside /tmp, /var/tmp (sticky)",
    dimension=Dimension.SECURE,
)
if TYPE_CHECKING:
    from auditor.fs import FileSystem

OFFLOAD = True  # walks the tree on its own: may run beside the others (auditor/runner.py)
SCRATCH = frozenset({"tmp", "var/tmp", "run/lock", "var/lock", "dev/shm"})
MAX_LISTED = 50


def run(ctx: CheckContext) -> Iterator[Finding]:
    fs = ctx.facts.fs
    found: list[tuple[str, int, str]] = []
    # Modes come grouped (`stat_groups`): almost no group is world-writable, so the
    # paths of the others are never looked at one by one.
    for (kind, mode, _uid, _gid), paths in fs.stat_groups().items():
        if not mode & 0o002 or kind in (SYMLINK, CHAR, BLOCK):
            continue  # link modes mean nothing; device nodes are the runtime's
        scratch = kind == DIR and mode & 0o1000
        for path in paths:
            if path == "dev" or path.startswith("dev/") or (scratch and path in SCRATCH):
                continue
            if kind in (FILE, HARDLINK) and (_in_scratch(fs, path) or _empty_lock(fs, path)):
                continue
            node = fs.get(path)
            if node is None or node.implicit or ctx.allowed(path):
                continue
            found.append((path, mode, kind))
    found.sort()  # by path (paths are unique): an ancestor before its children
    # One finding per top-most world-writable path: `chmod -R 777 /app` is one mistake.
    tops: dict[str, tuple[int, str]] = {}
    below: dict[str, list[str]] = {}
    for path, mode, kind in found:  # sorted: an ancestor always comes before its children
        parts = path.split("/")
        top = next(
            (a for a in ("/".join(parts[:i]) for i in range(1, len(parts))) if a in tops), None
        )
        if top is None:
            tops[path] = (mode, kind)
            below[path] = []
        else:
            below[top].append(path)
    for path, (mode, kind) in tops.items():
        under = below[path]
        what = "directory" if kind == DIR else "file"
        sticky = " (sticky)" if mode & 0o1000 else ""
        yield INFO.finding(
            f"world-writable {what}{sticky} /{path} (mode {mode & 0o7777:04o})"
            + (f" and {len(under)} world-writable path(s) below it" if under else ""),
            "chown what the runtime user must write and chmod 755/644 the rest",
            path=path,
            paths=under[:MAX_LISTED],
            evidence={"mode": f"{mode & 0o7777:04o}", "below": len(under)},
        )


def _in_scratch(fs: FileSystem, path: str) -> bool:
    """Below a sticky, world-writable scratch directory (/tmp, /var/tmp, ...)."""
    for d in SCRATCH:
        if path.startswith(d + "/"):
            node = fs.get(d)
            e = node.entry if node is not None else None
            return e is not None and e.kind == DIR and e.mode & 0o1002 == 0o1002
    return False


def _empty_lock(fs: FileSystem, path: str) -> bool:
    """An empty lock file: `.lock` or `NAME.lock`, no content."""
    name = path.rpartition("/")[2]
    return name.endswith(".lock") and fs.file_size(path) == 0
