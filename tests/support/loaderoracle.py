"""The image's own dynamic loader and interpreter as the judge of imgaudit's ELF facts.

Two oracles, both real:

- ``ld_list``: the image's ld.so in trace mode on each root (a program, or a library
  nothing loads), in a chroot of the image's exported root filesystem, as `ldd` runs
  it: ``LD_TRACE_LOADED_OBJECTS=1 /lib64/ld-linux-x86-64.so.2 FILE``. It reports every
  DT_NEEDED it cannot find (``=> not found``) and the versions it cannot bind, and stops
  at a file it finds but cannot load (``error while loading shared libraries: F:
  invalid ELF header``) or dies with SIGBUS on a truncated one. It uses the image's
  /etc/ld.so.cache and its compiled-in system directories, exactly as a container does.
- ``dlopen_in_image``: each Python extension module loaded by the interpreter imgaudit
  says loads it, inside the image (``docker run``), each in a fresh process, through
  ``importlib.machinery.ExtensionFileLoader`` (the dlopen() of ``import``). dlopen()
  stops at the first failure: its message names one missing library, file or version.

Nothing here runs on the host outside the chroot; the chroot is a temporary directory.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from auditor.facts.elfgraph import MISSING, UNLOADABLE, LoadTree

from .services import DockerEngine, require_root

NOT_FOUND = re.compile(r"^\s*(\S+) => not found$")
VERSION = re.compile(r"version `([^']+)' not found \(required by ([^)]+)\)")
FATAL = re.compile(r"error while loading shared libraries: (.+?): (.+)$")
DLOPEN_MISSING = re.compile(r"^(\S+): cannot open shared object file")
DLOPEN_FATAL = re.compile(r"^(\S+): (invalid ELF header|file too short|.+)$")
LOADER_WORDS = (
    "cannot open shared object file",
    "invalid ELF header",
    "file too short",
    "not found (required by",
    "cannot read file data",
    "wrong ELF class",
    "ELF load command",
    "only ET_DYN and ET_EXEC",
    "cannot dynamically load",
    "no dynamic section",
    "ELF file",
    "nonzero padding",
)
WRONG_CLASS = re.compile(r"^(\S+): wrong ELF class")


@dataclass(frozen=True)
class Verdict:
    """What the loader said about one root."""

    missing: frozenset[str] = frozenset()  # DT_NEEDED names not found
    versions: frozenset[str] = frozenset()  # symbol versions not found
    fatal_file: str | None = None  # the file it found and could not load (or the name
    # it looked for: the loader names the DT_NEEDED for faults found after opening)
    fatal_reason: str | None = None  # its message, or "SIGBUS"
    raw: str = field(default="", compare=False)
    fatal_name: str | None = None  # imgaudit's: the DT_NEEDED name of the unloadable file

    @property
    def ok(self) -> bool:
        return not (self.missing or self.versions or self.fatal_reason)


def export_rootfs(engine: DockerEngine, tag: str, dest: Path) -> Path:
    """The image's root filesystem, extracted under `dest` (a container export)."""
    client = engine.client()
    try:
        container = client.containers.create(tag, command="true")
        try:
            archive = dest.with_suffix(".tar")
            with open(archive, "wb") as fh:
                for chunk in container.export():
                    fh.write(chunk)
        finally:
            container.remove()
    finally:
        client.close()
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        extract_all(tar, dest)
    archive.unlink()
    return dest


def real_path(root: Path, path: str) -> str:
    """`path` inside the exported root with every link followed as the kernel would in
    a chroot (absolute targets start again at `root`, never at the host's /)."""
    parts = [p for p in path.split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            if done:
                done.pop()
            continue
        here = root.joinpath(*done, name)
        if here.is_symlink() and hops < 40:
            hops += 1
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(name)
    return "/" + "/".join(done)


def parse_list(stdout: str, stderr: str, returncode: int) -> Verdict:
    """A Verdict from `ld.so --list` output."""
    missing = frozenset(m.group(1) for line in stdout.splitlines() if (m := NOT_FOUND.match(line)))
    text = stdout + "\n" + stderr
    versions = frozenset(m.group(1) for m in VERSION.finditer(text))
    fatal_file = fatal_reason = None
    if returncode == -signal.SIGBUS or returncode == 128 + signal.SIGBUS:
        fatal_reason = "SIGBUS"
    for line in stderr.splitlines():
        m = FATAL.search(line)
        if m is not None and "version `" not in m.group(2):
            fatal_file, fatal_reason = m.group(1), m.group(2)
    return Verdict(missing, versions, fatal_file, fatal_reason, text)


def ld_list(
    root: Path, files: Iterable[str], loader: str = "/lib64/ld-linux-x86-64.so.2"
) -> dict[str, Verdict]:
    """The image's loader in trace mode (what `ldd` runs: LD_TRACE_LOADED_OBJECTS=1,
    not `--list` alone, which stops at the first missing library) on each image path
    of `files`, chrooted into `root` (no other program runs: the chroot happens in the
    child before it executes the image's loader)."""
    require_root("chroot")
    out = {}
    env = {"LD_TRACE_LOADED_OBJECTS": "1", "LC_ALL": "C"}

    def enter() -> None:
        os.chroot(root)
        os.chdir("/")

    for path in files:
        done = subprocess.run(
            [loader, "/" + path.lstrip("/")],
            capture_output=True, text=True, env=env, check=False, timeout=60,
            preexec_fn=enter,  # chroot in the child, before it runs the loader
        )  # fmt: skip
        out[path.lstrip("/")] = parse_list(done.stdout, done.stderr, done.returncode)
    return out


# Runs inside the image: for each (interpreter, module path), dlopen() the module the way
# `import` does, in a fresh interpreter; prints one JSON line per module.
_PROBE = r"""
import json, subprocess, sys
LOAD = '''
import importlib.machinery as m, sys
path = sys.argv[1]
name = path.rsplit("/", 1)[1].split(".", 1)[0]
loader = m.ExtensionFileLoader(name, path)
spec = m.ModuleSpec(name, loader, origin=path)
try:
    loader.create_module(spec)
except BaseException as exc:
    print(type(exc).__name__ + ": " + str(exc))
    raise SystemExit(3)
'''
for item in json.loads(sys.argv[1]):
    python, path = item
    done = subprocess.run([python, "-c", LOAD, path], capture_output=True, text=True)
    print(json.dumps([path, done.returncode, done.stdout.strip()[-2000:]]))
"""


def dlopen_in_image(
    engine: DockerEngine, tag: str, modules: Iterable[tuple[str, str]], python: str = "python3"
) -> dict[str, Verdict]:
    """Load each (interpreter, module path) in the image; a Verdict per module path."""
    items = [["/" + i.lstrip("/"), "/" + p.lstrip("/")] for i, p in modules]
    client = engine.client()
    try:
        output = client.containers.run(
            tag, [python, "-c", _PROBE, json.dumps(items)], remove=True, network_mode="none"
        )
    finally:
        client.close()
    out: dict[str, Verdict] = {}
    for line in output.decode().splitlines():
        path, code, message = json.loads(line)
        out[path.lstrip("/")] = parse_dlopen(code, message)
    return out


def parse_dlopen(returncode: int, message: str) -> Verdict:
    """A Verdict from a module load in the image (exit status and the error text)."""
    if returncode in (-signal.SIGBUS, 128 + signal.SIGBUS):
        return Verdict(fatal_reason="SIGBUS", raw=message)
    if returncode == 0:
        return Verdict(raw=message)
    text = message.split(": ", 1)[1] if ": " in message else message
    if not any(w in text for w in LOADER_WORDS):
        return Verdict(raw=message)  # loaded; its init function failed (not the loader's business)
    if (v := VERSION.search(text)) is not None:
        return Verdict(versions=frozenset([v.group(1)]), raw=message)
    if (m := DLOPEN_MISSING.match(text) or WRONG_CLASS.match(text)) is not None:
        # "wrong ELF class": only files of another class were found (trace mode says
        # "not found"): missing
        return Verdict(missing=frozenset([m.group(1)]), raw=message)
    m = DLOPEN_FATAL.match(text)
    return Verdict(
        fatal_file=m.group(1) if m else None, fatal_reason=m.group(2) if m else text, raw=message
    )


def verdict_of(tree: LoadTree) -> Verdict:
    """imgaudit's verdict for one root, in the loader's terms."""
    missing = frozenset(f.name for f in tree.failures if f.kind == MISSING)
    fatal = [f for f in tree.failures if f.kind == UNLOADABLE]
    versions = frozenset(v for g in tree.version_gaps for v in g.versions)
    if not fatal:
        return Verdict(missing, versions)
    reason = "SIGBUS" if "SIGBUS" in fatal[0].reason else fatal[0].reason
    return Verdict(missing, versions, "/" + (fatal[0].path or ""), reason, fatal_name=fatal[0].name)


def agree(ours: Verdict, theirs: Verdict, first_failure_only: bool, rootfs: Path) -> bool:
    """Equal verdicts. The loader stops at the first file it cannot load (trace mode,
    dlopen()) and dlopen() at the first missing library too: there, imgaudit's list
    must contain what the loader names, and fail exactly when it fails."""
    if theirs.fatal_reason is not None:
        if ours.fatal_reason is None:
            return False
        if theirs.fatal_reason == "SIGBUS":
            return ours.fatal_reason == "SIGBUS"
        if theirs.fatal_file is None:
            same = True
        elif "/" not in theirs.fatal_file:  # a DT_NEEDED name
            same = theirs.fatal_file == ours.fatal_name
        else:
            same = ours.fatal_file is not None and (
                real_path(rootfs, theirs.fatal_file) == real_path(rootfs, ours.fatal_file)
            )
        return same and theirs.fatal_reason in ours.fatal_reason
    if first_failure_only:
        if theirs.ok:
            return ours.ok
        return theirs.missing <= ours.missing and theirs.versions <= ours.versions
    return (ours.missing, ours.versions, ours.fatal_reason) == (
        theirs.missing,
        theirs.versions,
        None,
    )


def extract_all(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract a root filesystem the tests built: with the "tar" filter where this
    Python has extraction filters (3.11.4+; Debian 12's python3 is 3.11.2 and lacks
    them), plainly otherwise. Extraction runs nothing from the image either way."""
    if hasattr(tarfile, "tar_filter"):
        tar.extractall(dest, filter="tar")
    else:
        tar.extractall(dest)  # archives the tests made themselves


def materialize(layers: Iterable[bytes], dest: Path) -> Path:
    """The root filesystem of an image from its uncompressed layer tars, extracted in
    order into `dest` (for layers without whiteouts: the unit tests' images)."""
    dest.mkdir(parents=True, exist_ok=True)
    for data in layers:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            extract_all(tar, dest)
    return dest


def run_in_root(root: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """A program of the root filesystem, run chrooted into it (a unit test's
    stand-in interpreter that dlopen()s its arguments)."""
    require_root("chroot")

    def enter() -> None:
        os.chroot(root)
        os.chdir("/")

    return subprocess.run(
        argv, capture_output=True, text=True, env={"LC_ALL": "C"}, check=False, timeout=60,
        preexec_fn=enter,  # chroot in the child, before it runs the program
    )  # fmt: skip
