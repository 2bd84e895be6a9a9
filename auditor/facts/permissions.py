"""Can the runtime user write a path (or read, or run it)? Judged from the tar headers'
owner and mode bits.

The rule is the kernel's: uid 0 may write anything; otherwise the owner bits apply
when the path's uid is the user's, else the group bits when its gid is one of the
user's groups (primary from the config or /etc/passwd, supplementary from
/etc/group), else the "other" bits. A file is modifiable when it is writable; a
directory lets its content be replaced when it is writable. Root-owned 0755 trees are
therefore safe from a non-root user; `COPY --chown=app` trees are not.

App directories are where application code lives: the config's WorkingDir, /app,
/srv, each /opt/<x> (except interpreter prefixes and venvs, judged by SEC003), and the
directories holding the entrypoint's scripts.
"""

from __future__ import annotations

import posixpath
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from auditor.facts.users import RuntimeUser
from auditor.fs import DIR, FILE, HARDLINK, FileSystem

SYSTEM_BIN_DIRS = frozenset(
    {"bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin"}
)


def can_write(uid: int, groups: frozenset[int], owner: int, group: int, mode: int) -> bool:
    if uid == 0:
        return True
    if owner == uid:
        return bool(mode & 0o200)
    if group in groups:
        return bool(mode & 0o020)
    return bool(mode & 0o002)


def can_access(
    uid: int, groups: frozenset[int], owner: int, group: int, mode: int, bit: int
) -> bool:
    """The kernel's rule for one permission (`bit`: 4 read, 1 execute/search) of a
    non-root user; uid 0 passes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    if uid == 0:
        return True
    if owner == uid:
        return bool(mode & (bit << 6))
    if group in groups:
        return bool(mode & (bit << 3))
    return bool(mode & bit)


def blocked_run(fs: FileSystem, path: str, user: RuntimeUser, script: bool) -> str | None:
    """Why `user` cannot run the program at `path` (no leading slash): the first
    directory on the way it may not search (as written, then the symlink's target), or
    the file it may not execute (or, for a `script` its interpreter reads, not read);
    None when it can, or when the files cannot say (unknown uid, missing path). Root
    passes every check but one: exec needs an execute bit, anyone's, on the file."""
    if user.uid is None:
        return None
    real = fs.resolve(path)
    found = fs.get(real) if real is not None else None
    if real is None or found is None:
        return None
    if user.uid == 0:
        e = found.entry
        return real if e.kind in (FILE, HARDLINK) and not e.mode & 0o111 else None

    def refused(p: str, bit: int) -> bool:
        node = fs.get(p)
        if node is None:
            return False  # not stored: the files cannot say
        e = node.entry
        return not can_access(user.uid or 0, user.groups, e.uid, e.gid, e.mode, bit)

    blocked = _unsearchable_on_the_way(fs, (path, real), refused)
    if blocked is not None:
        return blocked
    if refused(real, 1) or (script and refused(real, 4)):
        return real
    return None


def blocked_read(fs: FileSystem, path: str, user: RuntimeUser) -> str | None:
    """Why `user` cannot read the file or list the directory at `path` (no leading
    slash), as an import would: the first directory on the way it may not search (as
    written, then the symlink's target), or the path itself (a directory needs read and
    search, a file read); None when it can, or when the files cannot say (unknown uid,
    root, a path not stored)."""
    if user.uid is None or user.uid == 0:
        return None
    real = fs.resolve(path)
    found = fs.get(real) if real is not None else None
    if real is None or found is None:
        return None

    def refused(p: str, bits: int) -> bool:
        node = fs.get(p)
        if node is None:
            return False  # not stored: the files cannot say
        e = node.entry
        return any(
            not can_access(user.uid or 0, user.groups, e.uid, e.gid, e.mode, bit)
            for bit in (4, 1)
            if bits & bit
        )

    blocked = _unsearchable_on_the_way(fs, (path, real), refused)
    if blocked is not None:
        return blocked
    return real if refused(real, 5 if found.entry.kind == DIR else 4) else None


def _unsearchable_on_the_way(
    fs: FileSystem, routes: tuple[str, ...], refused: Callable[[str, int], bool]
) -> str | None:
    """The first directory on the way to each route (as written, then resolved) that
    `refused` says the user may not search (bit 1), or None."""
    for route in routes:
        parts = route.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = fs.resolve("/".join(parts[:i]))
            if d is not None and refused(d, 1):
                return d
    return None


@dataclass(frozen=True)
class WritableScan:
    root: str
    writable: tuple[str, ...]  # writable dirs and files below (and including) root
    checked: int
    # Which of `writable` are directories (SEC004 asks), so that nobody looks them up
    # again; not part of what the scan found (equality, JSON).
    writable_dirs: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"root": "/" + self.root, "writable": len(self.writable), "checked": self.checked}


def writable_paths(
    fs: FileSystem, root: str, user: RuntimeUser, skip: tuple[str, ...] = ()
) -> WritableScan:
    """Every directory and regular file at or below `root` the user can write, except
    the subtrees in `skip`."""
    if user.uid is None:
        return WritableScan(root, (), 0)
    if root and root[0] != "/" and root[-1] != "/":
        return _writable_below(fs, root, user, skip)
    return _walk(fs, root, user, skip)


def _walk(fs: FileSystem, root: str, user: RuntimeUser, skip: tuple[str, ...]) -> WritableScan:
    """`writable_paths` by walking the tree down from `root`, as the runtime would: the
    definition, used as such for a root given with a slash (or the image root)."""
    assert user.uid is not None
    found: list[str] = []
    writable_dirs: list[str] = []
    checked = 0
    stack = [root]
    while stack:
        path = stack.pop()
        if path in skip:
            continue
        node = fs.get(path)
        if node is None or node.entry.kind not in (DIR, FILE, HARDLINK):
            continue
        checked += 1
        e = node.entry
        if can_write(user.uid, user.groups, e.uid, e.gid, e.mode):
            found.append(path)
            if e.kind == DIR:
                writable_dirs.append(path)
        if e.kind == DIR:
            stack.extend(f"{path}/{c}" if path else c for c in fs.listdir(path))
    return WritableScan(root, tuple(sorted(found)), checked, frozenset(writable_dirs))


def _writable_below(
    fs: FileSystem, root: str, user: RuntimeUser, skip: tuple[str, ...]
) -> WritableScan:
    """`_walk` from the paths grouped by mode and owner (`FileSystem.stat_groups`):
    every ancestor of a stored path is a directory, so the walk reaches exactly `root`
    and the stored paths below it, minus each skipped path and the paths below it (a
    link or device below is reached but neither counted nor followed). Each group of
    paths sharing kind, mode and owner is judged once: one test per group, not per path
    (a 1M-file image has a few dozen groups)."""
    node = fs.get(root)
    if root in skip or node is None or node.entry.kind not in (DIR, FILE, HARDLINK):
        return WritableScan(root, (), 0)
    uid, groups = user.uid, user.groups
    assert uid is not None
    e = node.entry
    root_writable = can_write(uid, groups, e.uid, e.gid, e.mode)
    parts: list[list[str]] = [[root]] if root_writable else []
    dirs: list[list[str]] = [[root]] if root_writable and e.kind == DIR else []
    checked = 1
    if e.kind == DIR:
        pruned = [s for s in skip if s.startswith(root + "/")]
        for (kind, mode, owner, group), paths in fs.stat_groups_under(root + "/"):
            if kind not in (DIR, FILE, HARDLINK):
                continue
            if pruned:
                paths = _without(paths, pruned)
            checked += len(paths)
            if paths and can_write(uid, groups, owner, group, mode):
                parts.append(paths)
                if kind == DIR:
                    dirs.append(paths)
    found = parts[0] if len(parts) == 1 else sorted(p for part in parts for p in part)
    return WritableScan(root, tuple(found), checked, frozenset(p for part in dirs for p in part))


def _without(paths: list[str], pruned: list[str]) -> list[str]:
    """Sorted `paths` without each pruned path and the paths below it (by bisection)."""
    cuts = []
    for s in pruned:
        lo = bisect_left(paths, s)
        hi = lo + 1 if lo < len(paths) and paths[lo] == s else lo
        below = bisect_left(paths, s + "/")
        end = bisect_left(paths, s + "0", below)  # "0" follows "/": past s's subtree
        cuts += [(lo, hi), (below, end)]
    out: list[str] = []
    start = 0
    for lo, hi in sorted(cuts):
        if lo > start:
            out.extend(paths[start:lo])
        start = max(start, hi)
    out.extend(paths[start:])
    return out


def app_dirs(fs: FileSystem, config: dict[str, Any], exclude: tuple[str, ...]) -> list[str]:
    """Directories holding application code (see module doc), without `exclude`d trees
    and without directories that sit inside an excluded tree."""
    found: set[str] = set()
    workdir = str(config.get("WorkingDir") or "").strip("/")
    candidates = [workdir] if workdir else []
    candidates += ["app", "srv"] + [f"opt/{c}" for c in fs.listdir("opt")]
    for arg in [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]:
        if not isinstance(arg, str) or "/" not in arg or arg.startswith("-"):
            continue
        path = posixpath.normpath(posixpath.join("/" + workdir, arg)).strip("/")
        real = fs.resolve(path)
        if real is not None and (node := fs.get(real)) is not None and node.entry.kind != DIR:
            candidates.append(real.rpartition("/")[0])
    for c in candidates:
        real = fs.resolve(c)
        if not real or real in SYSTEM_BIN_DIRS:
            continue
        node = fs.get(real)
        if node is None or node.entry.kind != DIR:
            continue
        if any(real == e or real.startswith(e + "/") for e in exclude):
            continue
        children = fs.listdir(real)
        if children and all(f"{real}/{c}" in exclude for c in children):
            continue  # e.g. /opt/acme holding only python/ and venv/
        found.add(real)
    return sorted(found)
