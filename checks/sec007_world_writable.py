"""SEC007 world-writable: files or directories anyone in the container may change.

Why it matters: a world-writable file (or a directory without the sticky bit) lets
any process, whatever its user, replace code, configuration or libraries that
another process trusts. Only shared scratch directories with the sticky bit
(/tmp, /var/tmp, /run/lock, /var/lock, /dev/shm) are expected to be writable by all.

Example: `RUN chmod -R 777 /app` (the classic "fix" for a permission error).

How to fix: give the runtime user ownership of what it must write
(`COPY --chown=app:app`, a dedicated data directory) and keep modes at 755/644.

References: CIS Docker Benchmark 4.x, https://wiki.debian.org/Permissions
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity
from auditor.fs import BLOCK, CHAR, DIR, SYMLINK

INFO = CheckInfo(
    id="SEC007",
    name="world-writable",
    title="World-writable paths outside the sticky scratch directories",
    severity=Severity.WARNING,
    criterion="no world-writable paths outside /tmp, /var/tmp (sticky)",
    dimension=Dimension.SECURE,
)
OFFLOAD = True  # walks the tree on its own: may run beside the others (auditor/runner.py)
SCRATCH = frozenset({"tmp", "var/tmp", "run/lock", "var/lock", "dev/shm"})
MAX_LISTED = 50


def run(ctx: CheckContext) -> Iterator[Finding]:
    fs = ctx.facts.fs
    found: list[tuple[str, int, str]] = []
    nodes = fs.nodes
    for path in fs.paths():  # sorted
        node = nodes[path]
        e = node.entry
        if not e.mode & 0o002 or node.implicit:
            continue  # first: almost no path is world-writable (the tests are pure)
        if e.kind in (SYMLINK, CHAR, BLOCK) or path == "dev" or path.startswith("dev/"):
            continue  # link modes mean nothing; device nodes are the runtime's
        if e.kind == DIR and e.mode & 0o1000 and path in SCRATCH:
            continue
        if ctx.allowed(path):
            continue
        found.append((path, e.mode, e.kind))
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
