"""Runs INSIDE an image of the realistic set and prints what the real system says, as JSON.

Why a script run in the image: the truth a finding is judged against must come from the
image's own parts, not from a model of them. So this asks the image's own dynamic loader
(in trace mode, as ``ldd`` runs it, per ELF), its own interpreters
(``importlib.metadata``, ``import X``, ``pip install``) and the kernel (``os.access``
and real writes as the runtime user).

It runs under the image's own CPython (3.11 here) with the standard library only, and
never touches the network (the container runs with ``--network none``). Two modes:

``inventory`` (run as root, so nothing is hidden by permissions)
    ELF files and what the loader says for each; interpreters; venvs; dpkg ownership of
    the interpreters.
``runtime ARGS_JSON`` (run as the image's own user, env and working directory)
    identity, the app's interpreter and versions, per environment the distributions,
    imports of their top-level modules and of the stdlib's optional extensions, writable
    paths, whether ``pip install`` works, compilers on PATH. Pip runs last: it changes the
    container (which is thrown away), so nothing else may look after it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

SKIP_TOP = ("/proc", "/sys", "/dev", "/probe", "/run")
LOADER = "/lib64/ld-linux-x86-64.so.2"
ELF_MAGIC = b"\x7fELF"
#: The loader's complaint about a symbol version: (version, library, required by).
VERSION_ERROR = re.compile(r"([^\s:]+): version [`']([^`']+)' not found \(required by ([^)]+)\)")
EXTENSION = re.compile(r"\.(cpython-[^.]+|abi3)\.so$")
PYTHON_NAME = re.compile(r"^python\d+(\.\d+)?$")
#: The optional stdlib extensions PY002 looks for (criteria.md), plus _tkinter.
STDLIB_MODULES = (
    "_sqlite3", "_ssl", "_hashlib", "_ctypes", "_bz2", "_lzma", "zlib", "_uuid", "readline",
    "_curses", "_dbm", "_gdbm", "pyexpat", "_decimal", "venv", "ensurepip", "_tkinter",
)  # fmt: skip
COMPILER_NAMES = re.compile(
    r"^(cc|c\+\+|gcc|g\+\+|cpp|clang|clang\+\+|gfortran|tcc|rustc|cargo|go|as|ld|ld\.bfd|"
    r"ld\.gold|make|gmake|cmake|(x86_64-linux-gnu-)?(gcc|g\+\+|cpp|as|ld)(-\d+)?)$"
)
CODE_SUFFIXES = (".py", ".pyc", ".so", ".pth", ".sh")


def walk(top: str = "/") -> Iterator[str]:
    """Every path below ``top`` (no symlinks followed), pseudo-filesystems skipped."""
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in SKIP_TOP]
        for name in dirs + files:
            yield os.path.join(root, name)


def run(argv: list[str], timeout: int = 120, **kw: Any) -> dict[str, Any]:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, **kw
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"rc": None, "stdout": "", "stderr": f"{type(exc).__name__}: {exc}"}
    return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --------------------------------------------------------------------------- inventory


def elf_kind(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return None
    if not head.startswith(ELF_MAGIC):
        return None
    if len(head) < 18:
        return "short"
    e_type = int.from_bytes(head[16:18], "little")
    return {2: "exec", 3: "dyn", 1: "rel", 4: "core"}.get(e_type, "other")


def loader_list(path: str) -> dict[str, Any]:
    """What the loader in trace mode says about PATH (what ``ldd`` runs): the objects it
    loads (real paths), the names it cannot find, symbol versions it misses, errors.

    ``ld.so --list`` would stop at the first missing library (glibc 2.36 exits 127);
    ``LD_TRACE_LOADED_OBJECTS=1 ld.so PATH`` lists every one as ``=> not found``."""
    out = run([LOADER, path], env={**os.environ, "LD_TRACE_LOADED_OBJECTS": "1"})
    loads: list[str] = []
    missing: list[str] = []
    for line in out["stdout"].splitlines():
        line = line.strip()
        if "=> not found" in line:
            missing.append(line.split("=>")[0].strip())
        elif "=>" in line:
            target = line.split("=>", 1)[1].strip().rsplit(" (", 1)[0].strip()
            if target.startswith("/"):
                loads.append(os.path.realpath(target))
        elif line.startswith("/"):
            loads.append(os.path.realpath(line.rsplit(" (", 1)[0].strip()))
    versions = sorted(set(VERSION_ERROR.findall(out["stdout"] + out["stderr"])))
    return {
        "rc": out["rc"],
        "loads": sorted(set(loads)),
        "missing": sorted(set(missing)),
        "version_errors": [
            {"library": lib, "version": v, "required_by": by} for lib, v, by in versions
        ],
        "error": "" if out["rc"] == 0 else last_line(out["stderr"] or out["stdout"]),
    }


def dpkg_owned_names() -> set[str]:
    """Paths some dpkg package lists (info/*.list, or distroless's status.d/*.md5sums)."""
    owned: set[str] = set()
    info = "/var/lib/dpkg/info"
    if os.path.isdir(info):
        for name in os.listdir(info):
            if name.endswith(".list"):
                with open(os.path.join(info, name), errors="replace") as fh:
                    owned.update(line.strip() for line in fh if line.strip())
    status_d = "/var/lib/dpkg/status.d"
    if os.path.isdir(status_d):
        for name in os.listdir(status_d):
            if name.endswith(".md5sums"):
                with open(os.path.join(status_d, name), errors="replace") as fh:
                    for line in fh:
                        parts = line.split(None, 1)
                        if len(parts) == 2:
                            owned.add("/" + parts[1].strip())
    return owned


def inventory() -> dict[str, Any]:
    elves: dict[str, dict[str, Any]] = {}
    pythons: list[str] = []
    venvs: list[str] = []
    for path in walk():
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if os.path.isfile(os.path.join(path, "pyvenv.cfg")):
                venvs.append(path)
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        kind = elf_kind(path)
        if kind is None:
            continue
        name = os.path.basename(path)
        if PYTHON_NAME.match(name) and os.path.basename(os.path.dirname(path)) == "bin":
            pythons.append(path)
        entry = {"kind": kind, "extension": bool(EXTENSION.search(name)), "size": st.st_size}
        if kind in ("exec", "dyn", "short", "other"):
            entry.update(loader_list(path))
        elves[path] = entry
    owned = dpkg_owned_names()
    owned_real = {os.path.realpath(p) for p in owned if PYTHON_NAME.match(os.path.basename(p))}
    return {
        "elf": elves,
        "pythons": sorted(pythons),
        "python_owned_by_dpkg": {p: os.path.realpath(p) in owned_real for p in pythons},
        "venvs": sorted(venvs),
        "loader_present": os.path.exists(LOADER),
        "ld_so_cache": os.path.exists("/etc/ld.so.cache"),
    }


# --------------------------------------------------------------------------- runtime

ENV_SNIPPET = r"""
import importlib.metadata as md, json, platform, site, sys, sysconfig
dists = []
for d in md.distributions():
    path = getattr(d, "_path", None)
    files = []
    top = d.read_text("top_level.txt")
    for f in (d.files or []):
        files.append(str(f))
    dists.append({"name": d.metadata["Name"], "version": d.version,
                  "path": str(path) if path is not None else None,
                  "top_level": top.split() if top else None, "files": files})
print(json.dumps({"version": platform.python_version(), "executable": sys.executable,
                  "prefix": sys.prefix, "base_prefix": sys.base_prefix, "path": sys.path,
                  "purelib": sysconfig.get_paths()["purelib"],
                  "user_site": site.ENABLE_USER_SITE and site.getusersitepackages(),
                  "distributions": dists}))
"""


def top_level_modules(dist: dict[str, Any]) -> list[str]:
    """What ``import`` names a distribution provides: top_level.txt, else its RECORD."""
    if dist["top_level"]:
        return sorted({m.replace("/", ".") for m in dist["top_level"] if m and "." not in m})
    names: set[str] = set()
    for f in dist["files"]:
        if f.startswith("..") or f.startswith("/"):
            continue
        first = f.split("/", 1)[0]
        if first.endswith((".dist-info", ".egg-info", ".data")) or first == "__pycache__":
            continue
        if "/" in f:
            if f.endswith((".py", ".so")):
                names.add(first)
        elif first.endswith(".py"):
            names.add(first[:-3])
        elif first.endswith(".so"):
            names.add(first.split(".", 1)[0])
    return sorted(n for n in names if n.isidentifier())


def try_import(python: str, module: str, cwd: str) -> dict[str, Any]:
    out = run([python, "-c", f"import {module}"], cwd=cwd)
    error = "" if out["rc"] == 0 else last_line(out["stderr"]) or f"exit {out['rc']}"
    return {"ok": out["rc"] == 0, "error": error}


def can_create(directory: str) -> dict[str, Any]:
    probe = os.path.join(directory, f".imgaudit-probe-{os.getpid()}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc.strerror}"}
    os.close(fd)
    os.unlink(probe)
    return {"ok": True, "error": ""}


def writable_code_paths(top: str) -> list[str]:
    """Code files, and directories holding code, the current user may write below ``top``."""
    found: list[str] = []
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in SKIP_TOP]
        holds_code = any(f.endswith(CODE_SUFFIXES) for f in files + dirs)
        if holds_code and os.access(root, os.W_OK):
            found.append(root)
        for f in files:
            path = os.path.join(root, f)
            if f.endswith(CODE_SUFFIXES) and not os.path.islink(path) and os.access(path, os.W_OK):
                found.append(path)
    return found


def writable_count(top: str) -> int:
    count = 0
    for root, _dirs, files in os.walk(top):
        for name in [root, *(os.path.join(root, f) for f in files)]:
            if not os.path.islink(name) and os.access(name, os.W_OK):
                count += 1
    return count


def resolve_command(argv: list[str]) -> dict[str, Any]:
    """The interpreter the image's ENTRYPOINT+CMD runs: argv[0] through PATH, and a
    script's ``#!`` line (``/usr/bin/env NAME`` through PATH again)."""
    if not argv:
        return {"argv0": None, "python": None}
    first = argv[0] if "/" in argv[0] else shutil.which(argv[0])
    if first is None:
        return {"argv0": argv[0], "python": None, "error": "not on PATH"}
    python = first
    try:
        with open(first, "rb") as fh:
            head = fh.read(256)
    except OSError as exc:
        return {"argv0": first, "python": None, "error": str(exc)}
    if head.startswith(b"#!"):
        words = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
        if words and os.path.basename(words[0]) == "env" and len(words) > 1:
            python = shutil.which(words[1]) or words[1]
        elif words:
            python = words[0]
    return {"argv0": first, "python": python, "python_real": os.path.realpath(python)}


def environment(python: str, cwd: str) -> dict[str, Any]:
    out = run([python, "-P", "-c", ENV_SNIPPET], cwd="/")
    if out["rc"] != 0:
        return {"python": python, "runs": False, "error": last_line(out["stderr"])}
    data = json.loads(out["stdout"])
    data.update({"python": python, "runs": True})
    imports: dict[str, dict[str, Any]] = {}
    for dist in data["distributions"]:
        for module in top_level_modules(dist):
            if module not in imports:
                imports[module] = try_import(python, module, cwd)
        del dist["files"]
    data["imports"] = imports
    data["stdlib"] = {m: try_import(python, m, "/") for m in STDLIB_MODULES}
    return data


def pip_install(python: str, wheel: str) -> dict[str, Any]:
    version = run([python, "-m", "pip", "--version"], cwd="/")
    if version["rc"] != 0:
        return {"has_pip": False, "ok": False, "error": last_line(version["stderr"])}
    env = {**os.environ, "PIP_USER": "0", "PIP_NO_CACHE_DIR": "1"}
    out = run([python, "-m", "pip", "install", "--no-index", "--no-deps",
               "--disable-pip-version-check", "--no-warn-script-location", wheel],
              cwd="/", env=env)  # fmt: skip
    error = "" if out["rc"] == 0 else last_line(out["stderr"])
    return {"has_pip": True, "ok": out["rc"] == 0, "error": error}


def compilers_on_path() -> dict[str, str]:
    found: dict[str, str] = {}
    for directory in os.environ.get("PATH", "").split(":"):
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            if name in found or not COMPILER_NAMES.match(name):
                continue
            if os.path.isfile(path) and os.access(path, os.X_OK):
                found[name] = os.path.realpath(path)
    return found


def runtime(args: dict) -> dict[str, Any]:
    import grp
    import pwd

    uid, gid = os.getuid(), os.getgid()
    identity: dict[str, Any] = {"uid": uid, "gid": gid, "groups": sorted(os.getgroups())}
    try:
        entry = pwd.getpwuid(uid)
        identity.update(name=entry.pw_name, home=entry.pw_dir,
                        home_exists=os.path.isdir(entry.pw_dir))  # fmt: skip
    except KeyError:
        identity.update(name=None, home=None, home_exists=False)
    try:
        identity["group"] = grp.getgrgid(gid).gr_name
    except KeyError:
        identity["group"] = None
    workdir = os.getcwd()
    command = resolve_command(args["command"])
    pythons = list(args["pythons"])
    venv_pythons = {v: os.path.join(v, "bin", "python") for v in args["venvs"]}
    envs = {p: environment(p, workdir) for p in [*pythons, *venv_pythons.values()]}
    app_python = command.get("python")
    if app_python and app_python not in envs:
        envs[app_python] = environment(app_python, workdir)
    venvs = {}
    for venv, python in venv_pythons.items():
        broken = []
        bindir = os.path.join(venv, "bin")
        for name in sorted(os.listdir(bindir)) if os.path.isdir(bindir) else []:
            path = os.path.join(bindir, name)
            try:
                with open(path, "rb") as fh:
                    head = fh.read(256)
            except OSError:
                continue
            if head.startswith(b"#!"):
                target = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
                if target and not os.access(target[0], os.X_OK):
                    broken.append({"script": path, "interpreter": target[0]})
        venvs[venv] = {
            "python_runs": envs[python]["runs"],
            "error": envs[python].get("error", ""),
            "broken_scripts": broken,
            "create_in_root": can_create(venv),
            "writable_paths": writable_count(venv),
        }
    purelibs = sorted({e["purelib"] for e in envs.values() if e.get("runs")})
    writes = {d: can_create(d) for d in [workdir, *purelibs] if os.path.isdir(d)}
    code = [] if uid == 0 else writable_code_paths("/")
    result = {
        "identity": identity,
        "workdir": workdir,
        "command": command,
        "environments": envs,
        "venvs": venvs,
        "writes": writes,
        "writable_code": code,
        "compilers": compilers_on_path(),
    }
    result["pip"] = {p: pip_install(p, args["wheel"]) for p in envs if envs[p].get("runs")}
    return result


def main() -> None:
    mode = sys.argv[1]
    data = inventory() if mode == "inventory" else runtime(json.loads(sys.argv[2]))
    sys.stdout.write(json.dumps(data, sort_keys=True))


if __name__ == "__main__":
    main()
