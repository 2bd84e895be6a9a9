"""Writing one output file without damaging what its path names.

A regular file (or a path that does not exist yet) is replaced atomically: a temporary
file beside it, renamed over it, so a reader never sees half a report and a failure
leaves the previous one. Everything else is written *into*, never renamed over: a
device node such as `/dev/null` (renaming a file over it as root breaks every later CI
step), a FIFO, a socket, or a process's descriptor (`/dev/stdout`, `/dev/fd/N`,
`/proc/self/fd/N`), which is written at the descriptor's own offset so that
`imgaudit ... -o /dev/stdout > log` appends to the file the shell holds. A symlink is
followed to its target (hop by hop, so a descriptor link on the way is recognised) and
the target is replaced, the link stays a link.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from auditor.errors import InputError

#: More hops than this is a loop (the kernel's own limit is 40).
MAX_LINK_HOPS = 40
_DESCRIPTOR_DIR = re.compile(r"/proc/(\d+)(?:/task/\d+)?/fd")


@dataclass(frozen=True)
class Target:
    """Where `path` really leads and how to write there.

    `replace`: a regular file or a new one, at `path` (symlinks already followed);
    `into`: an existing non-regular file, opened at `path` and written into;
    `descriptor`: this process's open descriptor `fd`, written at its own offset.
    """

    how: Literal["replace", "into", "descriptor"]
    path: Path
    fd: int = -1


def resolve(path: Path) -> Target:
    """Follow `path`'s symlinks one hop at a time and classify what is at the end."""
    current = Path(os.path.abspath(path))
    for _ in range(MAX_LINK_HOPS):
        parent = Path(os.path.realpath(current.parent))
        fd = _own_descriptor(parent, current.name)
        if fd is not None:
            return Target("descriptor", current, fd)
        if _other_descriptor(parent, current.name):
            return Target("into", parent / current.name)
        if not current.is_symlink():
            current = parent / current.name
            break
        current = parent / os.readlink(current)  # absolute targets replace `parent`
    else:
        raise InputError(f"cannot write {path}: too many levels of symbolic links")
    try:
        mode = current.stat().st_mode
    except FileNotFoundError:
        return Target("replace", current)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"cannot write {path}: it is a directory")
    return Target("replace" if stat.S_ISREG(mode) else "into", current)


def _own_descriptor(directory: Path, name: str) -> int | None:
    """The descriptor number when `directory/name` is /proc/<this pid>/fd/<n>."""
    m = _DESCRIPTOR_DIR.fullmatch(str(directory))
    if m is None or int(m.group(1)) != os.getpid() or not name.isdigit():
        return None
    return int(name)


def _other_descriptor(directory: Path, name: str) -> bool:
    """/proc/<another pid>/fd/<n>: its target may be no path at all (`pipe:[...]`)."""
    return _DESCRIPTOR_DIR.fullmatch(str(directory)) is not None and name.isdigit()


def check_writable(path: Path) -> Target:
    """Refuse, with a one-line reason, a path that cannot be written; say how otherwise."""
    target = resolve(path)
    if target.how == "descriptor":
        try:
            flags = _fd_flags(target.fd)
        except OSError:
            raise InputError(f"cannot write {path}: descriptor {target.fd} is not open") from None
        if flags & os.O_ACCMODE == os.O_RDONLY:
            raise InputError(f"cannot write {path}: descriptor {target.fd} is read-only")
        return target
    if target.how == "into":
        if not os.access(target.path, os.W_OK):
            raise InputError(f"cannot write {path}: permission denied")
        return target
    directory = target.path.parent
    where = str(path)
    if target.path != Path(os.path.abspath(path)):
        where += f" (-> {target.path})"
    if not directory.is_dir():
        raise InputError(f"cannot write {where}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise InputError(f"cannot write {where}: directory {directory} is not writable")
    if target.path.exists() and not os.access(target.path, os.W_OK):
        raise InputError(f"cannot write {where}: permission denied")
    return target


def _fd_flags(fd: int) -> int:
    import fcntl  # POSIX only, like the rest of the descriptor handling

    return fcntl.fcntl(fd, fcntl.F_GETFL)


def write_file(path: Path, text: str) -> None:
    """Write `text` to `path` by the rules above; a failure leaves what was there."""
    target = check_writable(path)
    data = text.encode("utf-8")
    if target.how == "descriptor":
        for stream in (sys.stdout, sys.stderr):  # what Python buffered comes first
            stream.flush()
        _write_all(target.fd, data)
    elif target.how == "into":
        fd = os.open(target.path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
    else:
        _replace(target.path, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _replace(path: Path, data: bytes) -> None:
    """Temporary file beside `path`, then rename. No fsync: a report is cheap to
    regenerate, and on a busy CI disk fsync cost seconds (measured)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)  # a replaced file keeps its permissions
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
