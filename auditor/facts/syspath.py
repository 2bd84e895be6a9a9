"""sys.path of every interpreter and venv in the image, as its own site.py builds it.

importlib.metadata lists what is on sys.path, so the inventory is only as right as
this path. Built the way CPython's `site.main()` does, without running anything:

1. `PYTHONPATH` from the image config (relative entries against WorkingDir), then the
   standard library (`lib/pythonX.Y`, `lib-dynload`; the zip CPython names first is
   left out: nobody ships it, and a zip's content is not indexed);
2. a venv's own site directory first (`site.venv()`);
3. the user site, `$PYTHONUSERBASE` or `$HOME/.local` + `lib/pythonX.Y/site-packages`,
   when the directory exists, PYTHONNOUSERSITE is not set and the process is not in
   a venv without system site-packages. HOME is what the engine sets: the config's
   `HOME`, else the runtime user's home from /etc/passwd, else `/`;
4. the site directories of the prefixes: upstream `lib/pythonX.Y/site-packages`;
   Debian's patched site.py (recognised by `dist-packages` in the interpreter's own
   site.py, or by dpkg owning the interpreter when site.py was not captured)
   `local/lib/pythonX.Y/dist-packages`, `lib/python3/dist-packages`,
   `lib/pythonX.Y/dist-packages`, and in a venv `lib/pythonX.Y/site-packages` first;
   `include-system-site-packages = true` adds the base interpreter's;
5. after each site directory, the paths its `*.pth` files name (sorted by file name;
   `#` comments, blank and `import` lines skipped; a path that does not exist is not
   added). Dot-files are skipped where the interpreter's site.py does (CPython
   3.13, and security releases from 3.8.19 / 3.9.19 / 3.10.14 / 3.11.8 / 3.12.2).

"Exists" is as the runtime user sees it: site.py's `os.path.isdir` and
`os.path.exists` are False for a directory below one the user may not search
(`PYTHONUSERBASE=/root/.local` with `USER app` and /root 0700: python said "No module
named gunicorn"). Entries are kept as site.py writes them (a path through a symlink
stays so); a path already on sys.path is not added twice. What an `import` line in a
.pth does (the old easy-install.pth moves egg paths to the front) changes the order,
never the set.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from auditor.facts.permissions import can_access
from auditor.facts.pythons import Interpreter
from auditor.facts.venvs import Venv
from auditor.fs import DIR, FileSystem

_SKIPS_HIDDEN_PTH = re.compile(rb"not\s+name\.startswith\(\s*['\"]\.['\"]\s*\)")
#: The first release of each line whose site.py skips .pth files starting with a dot.
_HIDDEN_PTH_SINCE = {
    "3.8": "3.8.19",
    "3.9": "3.9.19",
    "3.10": "3.10.14",
    "3.11": "3.11.8",
    "3.12": "3.12.2",
}


@dataclass(frozen=True)
class SitePolicy:
    """What an interpreter's site.py does that differs between builds."""

    debian: bool  # Debian's dist-packages layout
    skips_hidden_pth: bool


@dataclass(frozen=True)
class Environment:
    """One interpreter as a process would run it: a base interpreter, or a venv."""

    path: str  # the interpreter's executable, or the venv directory (no leading slash)
    kind: str  # "interpreter" | "venv"
    version: str | None  # X.Y
    base: str | None  # the base interpreter's path (a venv whose interpreter is gone: None)
    stdlib: tuple[str, ...]  # sys.path entries of the standard library
    sys_path: tuple[str, ...]  # every entry, in order, as written (no leading slash)

    @property
    def site(self) -> tuple[str, ...]:
        """Entries that hold installed code: all but the standard library."""
        return tuple(p for p in self.sys_path if p not in self.stdlib)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": "/" + self.path,
            "kind": self.kind,
            "version": self.version,
            "base": "/" + self.base if self.base else None,
            "sys_path": ["/" + p for p in self.sys_path],
        }


def site_policy(fs: FileSystem, interp: Interpreter) -> SitePolicy:
    source = fs.read(f"{interp.stdlib}/site.py") if interp.stdlib else None
    if source is not None:
        return SitePolicy(b"dist-packages" in source, bool(_SKIPS_HIDDEN_PTH.search(source)))
    return SitePolicy(interp.package is not None, _hidden_by_version(interp))


def _hidden_by_version(interp: Interpreter) -> bool:
    version = _version(interp.full_version)
    if version is None:
        return False
    since = _HIDDEN_PTH_SINCE.get(interp.version.rstrip("t"))
    if since is None:
        return version >= Version("3.13")
    return version >= Version(since)


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


@dataclass(frozen=True)
class ProcessEnv:
    """What the engine gives every process: the config's Env, working dir and HOME."""

    env: dict[str, str]
    workdir: str  # image path without leading slash ("" is /)
    home: str  # image path without leading slash
    uid: int | None = None  # the runtime user (None: unknown, every path is reachable)
    groups: frozenset[int] = frozenset()

    @property
    def user_site_allowed(self) -> bool:
        return not self.env.get("PYTHONNOUSERSITE")

    def pythonpath(self) -> list[str]:
        out = []
        for entry in self.env.get("PYTHONPATH", "").split(":"):
            if entry:
                out.append(_norm(posixpath.join("/" + self.workdir, entry)))
        return out

    def user_site(self, version: str) -> str:
        base = self.env.get("PYTHONUSERBASE") or posixpath.join("/" + self.home, ".local")
        return _norm(posixpath.join("/" + base.lstrip("/"), f"lib/python{version}/site-packages"))


def process_env(
    env: dict[str, str],
    workdir: str,
    user_home: str | None,
    uid: int | None = None,
    groups: frozenset[int] = frozenset(),
) -> ProcessEnv:
    home = env.get("HOME") or user_home or "/"
    return ProcessEnv(env, workdir.strip("/"), home.strip("/"), uid, groups)


def _norm(path: str) -> str:
    return posixpath.normpath("/" + path).strip("/")


class _PathBuilder:
    """sys.path under construction, with site.py's `known_paths`."""

    def __init__(self, fs: FileSystem, skips_hidden_pth: bool, proc: ProcessEnv) -> None:
        self.fs = fs
        self.skips_hidden = skips_hidden_pth
        self.proc = proc
        self.entries: list[str] = []
        self.known: set[str] = set()

    def add(self, path: str) -> None:
        if path not in self.known:
            self.entries.append(path)
            self.known.add(path)

    def is_dir(self, path: str) -> bool:
        real = self.fs.resolve(path)
        node = self.fs.get(real) if real is not None else None
        if real is None or node is None or node.entry.kind != DIR:
            return False
        return self.reachable(path, real)

    def exists(self, path: str) -> bool:
        real = self.fs.resolve(path)
        return real is not None and self.reachable(path, real)

    def reachable(self, path: str, real: str) -> bool:
        """The runtime user may search every directory on the way to `path` (as written
        and as resolved): stat() of it succeeds. Root, or an unknown user: yes."""
        uid = self.proc.uid
        if not uid:
            return True
        for route in (path, real):
            parts = route.split("/")
            for i in range(1, len(parts)):
                d = self.fs.resolve("/".join(parts[:i]))
                node = self.fs.get(d) if d is not None else None
                if node is None:
                    continue  # not stored: the files cannot say
                e = node.entry
                if not can_access(uid, self.proc.groups, e.uid, e.gid, e.mode, 1):
                    return False
        return True

    def add_site_dirs(self, candidates: Iterable[str]) -> None:
        """`site.addsitepackages`: each existing directory and its .pth additions."""
        for site in candidates:
            if self.is_dir(site):
                self.add_site_dir(site)

    def add_site_dir(self, site: str) -> None:
        """`site.addsitedir`."""
        self.add(site)
        real = self.fs.resolve(site)
        if real is None:
            return
        names = sorted(n for n in self.fs.listdir(real) if n.endswith(".pth"))
        for name in names:
            if self.skips_hidden and name.startswith("."):
                continue
            data = self.fs.read(f"{real}/{name}")
            if data is None:
                continue
            for line in data.decode("utf-8", "replace").splitlines():
                if line.startswith("#") or not line.strip():
                    continue
                if line.startswith(("import ", "import\t")):
                    continue
                path = _norm(posixpath.join("/" + site, line.rstrip()))
                if path not in self.known and self.exists(path):
                    self.add(path)


def _site_candidates(prefix: str, version: str, debian: bool, in_venv: bool) -> list[str]:
    """`site.getsitepackages([prefix])` of upstream CPython or of Debian's patch."""
    lib = f"{prefix}/lib/python{version}" if prefix else f"lib/python{version}"
    if not debian:
        return [f"{lib}/site-packages"]
    join = (lambda p: f"{prefix}/{p}") if prefix else (lambda p: p)
    out = [f"{lib}/site-packages"] if in_venv else []
    out += [
        join(f"local/lib/python{version}/dist-packages"),
        join("lib/python3/dist-packages"),
        f"{lib}/dist-packages",
    ]
    return out


def _stdlib(interp: Interpreter | None) -> list[str]:
    if interp is None or interp.stdlib is None:
        return []
    return [interp.stdlib, f"{interp.stdlib}/lib-dynload"]


def interpreter_env(
    fs: FileSystem, interp: Interpreter, proc: ProcessEnv, policy: SitePolicy
) -> Environment:
    b = _PathBuilder(fs, policy.skips_hidden_pth, proc)
    for entry in proc.pythonpath():
        b.add(entry)
    stdlib = [p for p in _stdlib(interp) if b.is_dir(p)]
    for entry in stdlib:
        b.add(entry)
    version = interp.version
    if proc.user_site_allowed:
        user = proc.user_site(version)
        if b.is_dir(user):
            b.add_site_dir(user)
    b.add_site_dirs(_site_candidates(interp.prefix, version, policy.debian, in_venv=False))
    return Environment(interp.path, "interpreter", version, interp.path, tuple(stdlib),
                       tuple(b.entries))  # fmt: skip


def venv_env(
    fs: FileSystem,
    venv: Venv,
    base: Interpreter | None,
    proc: ProcessEnv,
    policy: SitePolicy | None,
) -> Environment:
    debian = policy.debian if policy is not None else False
    b = _PathBuilder(fs, policy.skips_hidden_pth if policy is not None else False, proc)
    for entry in proc.pythonpath():
        b.add(entry)
    stdlib = [p for p in _stdlib(base) if b.is_dir(p)]
    for entry in stdlib:
        b.add(entry)
    version = base.version if base is not None else _venv_version(venv)
    if version is not None:
        b.add_site_dirs(_site_candidates(venv.path, version, debian, in_venv=True))
    else:
        b.add_site_dirs(venv.site_packages)  # no interpreter, no version: what is there
    if venv.include_system_site_packages and version is not None:
        if proc.user_site_allowed:
            user = proc.user_site(version)
            if b.is_dir(user):
                b.add_site_dir(user)
        if base is not None:
            b.add_site_dirs(_site_candidates(base.prefix, version, debian, in_venv=True))
    return Environment(venv.path, "venv", version, base.path if base else None,
                       tuple(stdlib), tuple(b.entries))  # fmt: skip


def _venv_version(venv: Venv) -> str | None:
    """X.Y of a venv whose interpreter is missing: its lib/pythonX.Y, else pyvenv.cfg."""
    for site in venv.site_packages:
        m = re.search(r"/python(\d\.\d+t?)/site-packages$", site)
        if m:
            return m.group(1)
    if venv.version:
        parts = venv.version.split(".")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            return f"{parts[0]}.{parts[1]}"
    return None


def base_interpreter(
    fs: FileSystem, venv: Venv, interps: Sequence[Interpreter]
) -> Interpreter | None:
    """The interpreter a venv runs: the one its `home` python (or bin/python) resolves to."""
    target = venv.home_python
    if target is None:
        return None
    for interp in interps:
        if interp.executable and fs.resolve(interp.executable) == target:
            return interp
    for interp in interps:  # a python of that prefix under another name (python3 -> 3.11)
        if target.startswith(interp.prefix + "/bin/") and interp.version in target:
            return interp
    return None


def environments(
    fs: FileSystem,
    interps: Sequence[Interpreter],
    venvs: Sequence[Venv],
    proc: ProcessEnv,
) -> list[Environment]:
    policies = {i.prefix + "|" + i.version: site_policy(fs, i) for i in interps}
    out = [interpreter_env(fs, i, proc, policies[i.prefix + "|" + i.version]) for i in interps]
    for v in venvs:
        base = base_interpreter(fs, v, interps)
        policy = policies[base.prefix + "|" + base.version] if base is not None else None
        out.append(venv_env(fs, v, base, proc, policy))
    return out
