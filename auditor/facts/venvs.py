"""Virtual environments: every `pyvenv.cfg`, and whether the venv can still run.

A venv is a directory with `pyvenv.cfg`; its `home` names the directory of the base
interpreter. The classic multi-stage break: the venv is copied from a builder stage
whose interpreter lived elsewhere, so `home`, the `bin/python` link, or the shebangs of
console scripts point at paths the final image does not have. All paths are resolved
inside the image (symlinks followed, never leaving the root).

A `home` whose python resolves to another X.Y than the cfg's `version` is as broken
as a missing one (the base image's Python was upgraded under the venv).

The cfg is parsed leniently (CRLF, missing `home`, `key=value` without spaces, unknown
keys), as CPython's own site.py does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from auditor.fs import DIR, FileSystem

_LIB_RE = re.compile(r"^python\d\.\d+t?$")


@dataclass(frozen=True)
class BrokenScript:
    path: str  # the console script
    interpreter: str  # the shebang's interpreter path, as written


@dataclass(frozen=True)
class Venv:
    path: str  # the venv directory (image path without leading slash)
    config: dict[str, str]
    home: str | None  # as written in pyvenv.cfg
    home_python: str | None  # the interpreter under `home` that exists, resolved
    python_link: str | None  # bin/python as found (link target resolved), None if missing
    python_link_broken: bool  # bin/python exists as a link but resolves nowhere
    version: str | None
    include_system_site_packages: bool
    site_packages: tuple[str, ...]
    has_pip: bool
    broken_scripts: tuple[BrokenScript, ...]
    home_other_version: str | None = None  # a python of another X.Y found under `home`

    @property
    def interpreter_ok(self) -> bool:
        return self.home_python is not None and not self.python_link_broken

    def to_json(self) -> dict[str, Any]:
        return {
            "path": "/" + self.path,
            "home": self.home,
            "python": "/" + self.home_python if self.home_python else None,
            "version": self.version,
            "include_system_site_packages": self.include_system_site_packages,
            "site_packages": ["/" + s for s in self.site_packages],
            "has_pip": self.has_pip,
            "broken_scripts": [
                {"path": "/" + b.path, "interpreter": b.interpreter} for b in self.broken_scripts
            ],
        }


def parse_cfg(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip().lower()] = value.strip()
    return out


def shebang_interpreter(head: bytes) -> str | None:
    """The interpreter a script runs: `#!/path/python`, or pip's long-path trampoline
    `#!/bin/sh` + `'''exec' /path/python "$0" "$@"`."""
    if not head.startswith(b"#!"):
        return None
    lines = head.split(b"\n", 2)
    first = lines[0][2:].decode("utf-8", "replace").strip()
    if first.startswith("/bin/sh") and len(lines) > 1 and lines[1].startswith(b"'''exec' "):
        rest = lines[1][len(b"'''exec' ") :].decode("utf-8", "replace").split()
        return rest[0].strip("'\"") if rest else None
    parts = first.split()
    if not parts:
        return None
    if parts[0].endswith("/env") and len(parts) > 1:
        return None  # PATH lookup: nothing to resolve statically
    return parts[0]


def _exists(fs: FileSystem, path: str) -> str | None:
    real = fs.resolve(path)
    if real is None:
        return None
    node = fs.get(real)
    return real if node is not None and node.entry.kind != DIR else None


def _same_version(real_python: str, major_minor: str) -> bool:
    """False only when the resolved interpreter's name says another X.Y: the venv's
    lib/pythonX.Y/site-packages is invisible to it."""
    m = re.search(r"python(\d\.\d+)t?$", real_python)
    return m is None or m.group(1) == major_minor


def pyvenv_cfgs(fs: FileSystem) -> list[tuple[str, bytes]]:
    """Every captured `pyvenv.cfg` file with its content, sorted by path (found among
    the paths ending so, not by testing every captured path)."""
    return [
        (p, data)
        for p, data in fs.captured_ending("pyvenv.cfg")
        if p == "pyvenv.cfg" or p.endswith("/pyvenv.cfg")
    ]


def find(fs: FileSystem) -> list[Venv]:
    out = []
    for cfg_path, data in pyvenv_cfgs(fs):
        out.append(_venv(fs, cfg_path.rpartition("/")[0], parse_cfg(data)))
    return out


def _venv(fs: FileSystem, root: str, cfg: dict[str, str]) -> Venv:
    join = (lambda p: f"{root}/{p}") if root else (lambda p: p)
    home = cfg.get("home") or None  # `home =` with nothing after it: no home
    version = cfg.get("version_info") or cfg.get("version")
    home_python = None
    mm = ".".join(version.split(".")[:2]) if version else None
    other_version = None
    if home:
        h = home.rstrip("/")
        names = ["python3", "python"]
        if mm:
            names.insert(0, f"python{mm}")
        for name in names:
            if home_python := _exists(fs, f"{h}/{name}"):
                break
        if home_python and mm and not _same_version(home_python, mm):
            other_version = home_python  # the base image moved from 3.11 to 3.12 under it
            home_python = None
    link = join("bin/python")
    link_node = fs.get(link)
    python_link = _exists(fs, link) if link_node is not None else None
    link_broken = link_node is not None and python_link is None
    if home is None and python_link is not None:
        home_python = python_link  # no `home`: judge by the bin/python link alone
    site = tuple(
        f"{join('lib')}/{d}/site-packages"
        for d in fs.listdir(join("lib"))
        if _LIB_RE.match(d) and fs.get(f"{join('lib')}/{d}/site-packages") is not None
    )
    # `__init__.pyc`: a sourceless install (compileall -b, the .py deleted) imports as well
    has_pip = any(
        fs.get(f"{s}/pip/__init__.{ext}") is not None for s in site for ext in ("py", "pyc")
    )
    broken = []
    for name in fs.listdir(join("bin")):
        script = f"{join('bin')}/{name}"
        head = fs.read(script)
        if not head or fs.get(script) is None or fs.elf(script) is not None:
            continue
        interp = shebang_interpreter(head)
        if interp and _exists(fs, interp.lstrip("/")) is None:
            broken.append(BrokenScript(script, interp))
    return Venv(
        path=root,
        config=cfg,
        home=home,
        home_python=home_python,
        python_link=python_link,
        python_link_broken=link_broken,
        version=version,
        include_system_site_packages=cfg.get("include-system-site-packages", "false").lower()
        == "true",
        site_packages=site,
        has_pip=has_pip,
        broken_scripts=tuple(broken),
        home_other_version=other_version,
    )
