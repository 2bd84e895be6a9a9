"""Every CPython interpreter in the image: where, which version, where it came from, and
how complete its standard library is. Nothing is run: everything comes from the layout.

Discovery: a stdlib directory `<prefix>/lib/pythonX.Y/os.py` (or `os.pyc`), an executable
`<prefix>/bin/pythonX.Y` (not a link into another prefix, not inside a venv) or a
`libpythonX.Y.so*` makes an interpreter at `<prefix>`. The version is the X.Y of those
names. The full version (3.11.7, what `sys.version` starts with), most direct source
first: the `PY_VERSION` string compiled into the executable or, for a shared build,
libpython (read while the layer streamed past, auditor/versionprobe.py); the
`PY_VERSION` of `include/pythonX.Y/patchlevel.h`; the owning dpkg package's version;
the config's `PYTHON_VERSION` (official images) or the prefix (pyenv `versions/3.11.7`);
the `version` / `version_info` that `pyvenv.cfg` of a venv made from it recorded.
`full_version_source` says which one answered.

Origin, most specific first: conda (`<prefix>/conda-meta`), pyenv / python-build
(`.pyenv/versions/`), distro (owned by a dpkg package, prefix /usr, the distro's
default python3), deadsnakes (owned by a dpkg package but not the default python3:
a PPA or backport interpreter), official-image (/usr/local with `PYTHON_VERSION` in the
config, the python:X.Y images' recipe), source-build (anything else: /usr/local,
/opt/<org>/python, ...). A /usr interpreter in an image without a dpkg database is
taken as distro (apk/rpm own it).

Standard-library completeness, per expected piece (auditor/data/stdlib.json): an
extension is *shared* when `lib-dynload/<name>.*.so` exists, *builtin* when the
interpreter's `_sysconfigdata_*.py` lists it in MODBUILT_NAMES and not in
MODSHARED_NAMES (read as Python literals, never imported), *builtin-assumed* when no
sysconfigdata is there, the interpreter is distro-packaged and the module is one
distros link in (zlib, pyexpat, _json, _decimal), *unknown* when the only sysconfigdata
is a `.pyc` (a sourceless stdlib: not reported), otherwise *missing*. A package
(venv, ensurepip) is present when its `__init__.py` (or sourceless `__init__.pyc`) is;
ensurepip also needs its wheels in `ensurepip/_bundled/` or, for Debian's patched
ensurepip, `/usr/share/python-wheels/`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from operator import methodcaller
from typing import Any

from packaging.version import Version

from auditor.facts.dpkg import DpkgDb, upstream_version
from auditor.facts.stdlib_data import StdlibPiece, python_version, stdlib_table
from auditor.facts.venvs import parse_cfg, pyvenv_cfgs
from auditor.fs import DIR, SYMLINK, FileSystem
from auditor.versionprobe import full_version

# os.pyc in place of os.py: a sourceless stdlib (`compileall -b`, the .py deleted), which
# CPython's getpath accepts as its landmark too
_STDLIB_RE = re.compile(r"^(?P<prefix>(?:.*/)?)lib/python(?P<ver>\d\.\d+t?)/os\.pyc?$")
_EXE_RE = re.compile(r"^(?P<prefix>(?:.*/)?)bin/python(?P<ver>\d\.\d+t?)$")
_LIB_RE = re.compile(
    r"^(?P<prefix>(?:.*/)?)lib(?:/[^/]*-linux-[^/]*)?/libpython(?P<ver>\d\.\d+t?)m?\.so(?:\.[\d.]+)?$"
)
_FULL_IN_PATH = re.compile(r"(?:^|/)(?:python-?)?(\d+\.\d+\.\d+)(?:/|$)")


#: Origins of an interpreter a package manager installed (the distribution's own).
DISTRO_ORIGINS = ("distro", "deadsnakes")


@dataclass(frozen=True)
class ModuleState:
    name: str
    kind: str  # extension | package | module
    tier: str  # core | optional
    state: str  # shared | builtin | builtin-assumed | present | missing | unknown
    path: str | None = None  # the .so or package dir, when it is a file in the image
    detail: str = ""
    # a missing extension's pure-Python stand-in, present in the stdlib (its module name):
    # `import decimal` works without _decimal through _pydecimal, slower
    fallback: str | None = None

    @property
    def present(self) -> bool:
        return self.state != "missing"


@dataclass(frozen=True)
class Interpreter:
    prefix: str  # image path without leading slash ("usr", "opt/acme/python")
    version: str  # "3.11" ("3.13t" for a free-threaded build)
    executable: str | None  # "usr/bin/python3.11"
    stdlib: str | None  # "usr/lib/python3.11"
    libpython: tuple[str, ...]
    origin: str  # distro | deadsnakes | pyenv | conda | official-image | source-build
    package: str | None  # owning dpkg package
    full_version: str | None
    sysconfigdata: tuple[str, ...]
    modules: tuple[ModuleState, ...] = field(default=())
    full_version_source: str | None = None  # binary | libpython | patchlevel.h | dpkg | ...

    @property
    def path(self) -> str:
        """Where a user would point: the executable, else the stdlib dir."""
        return self.executable or self.stdlib or self.prefix

    @property
    def missing(self) -> list[ModuleState]:
        return [m for m in self.modules if not m.present]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": "/" + self.path,
            "version": self.version,
            "full_version": self.full_version,
            "full_version_source": self.full_version_source,
            "origin": self.origin,
            "prefix": "/" + self.prefix,
            "package": self.package,
            "stdlib": "/" + self.stdlib if self.stdlib else None,
            "libpython": ["/" + p for p in self.libpython],
            "modules": {m.name: m.state for m in self.modules},
            "missing": [m.name for m in self.missing],
        }


def _prefix(match: re.Match[str]) -> str:
    return match.group("prefix").rstrip("/")


def find(fs: FileSystem, dpkg: DpkgDb, env: dict[str, str]) -> list[Interpreter]:
    stdlibs: dict[tuple[str, str], str] = {}
    exes: dict[tuple[str, str], str] = {}
    libs: dict[tuple[str, str], list[str]] = {}
    nodes = fs.nodes
    # In path order (the model's own; a later path wins a key): only paths naming
    # "python", the test run in C.
    for path in filter(methodcaller("__contains__", "python"), nodes):
        # Each pattern needs a literal piece of text: a substring test spares the regex
        # for the ~all paths that merely live below a python3.X directory.
        if "/os.py" in path and (m := _STDLIB_RE.match(path)):
            stdlibs[(_prefix(m), m.group("ver"))] = path.rsplit("/", 1)[0]
        elif "bin/python" in path and (m := _EXE_RE.match(path)) and nodes[path].entry.kind != DIR:
            exes[(_prefix(m), m.group("ver"))] = path
        elif "libpython" in path and (m := _LIB_RE.match(path)) and nodes[path].entry.kind != DIR:
            libs.setdefault((_prefix(m), m.group("ver")), []).append(path)
    keys = set(stdlibs) | set(libs)
    for key, exe in exes.items():
        if key in keys:
            continue
        prefix = key[0]
        if fs.get(f"{prefix}/pyvenv.cfg" if prefix else "pyvenv.cfg") is not None:
            continue  # a venv's python link, not an interpreter
        exe_node = fs.get(exe)
        if exe_node is not None and exe_node.entry.kind == SYMLINK:
            real = fs.resolve(exe)
            if real is None or not _EXE_RE.match(real) or real != exe:
                continue  # a link to another interpreter (or dangling): not one itself
        keys.add(key)
    default = _distro_default(fs)
    out = [
        _interpreter(fs, dpkg, env, k, stdlibs.get(k), exes.get(k), libs.get(k, []), default)
        for k in keys
    ]
    out.sort(key=lambda i: (i.prefix, python_version(i.version) or Version("0"), i.version))
    return out


def _distro_default(fs: FileSystem) -> str | None:
    real = fs.resolve("usr/bin/python3")
    if real is None:
        return None
    m = re.search(r"python(\d\.\d+)$", real)
    return m.group(1) if m else None


def _interpreter(
    fs: FileSystem,
    dpkg: DpkgDb,
    env: dict[str, str],
    key: tuple[str, str],
    stdlib: str | None,
    exe: str | None,
    libs: list[str],
    distro_default: str | None,
) -> Interpreter:
    prefix, version = key
    package = None
    for candidate in (exe, f"{stdlib}/os.py" if stdlib else None, *libs):
        if candidate and (package := dpkg.package_of(fs, candidate)):
            break
    origin = _origin(fs, dpkg, env, prefix, version, package, distro_default)
    sysconfig = tuple(
        sorted(
            f"{stdlib}/{name}"
            for name in (fs.listdir(stdlib) if stdlib else [])
            if name.startswith("_sysconfigdata_") and name.endswith(".py")
        )
    )
    full, source = _full_version(fs, dpkg, env, prefix, version, exe, libs, package, origin)
    interp = Interpreter(
        prefix, version, exe, stdlib, tuple(sorted(libs)), origin, package, full, sysconfig,
        full_version_source=source,
    )  # fmt: skip
    modules = tuple(_modules(fs, interp))
    return Interpreter(**{**interp.__dict__, "modules": modules})


def _origin(
    fs: FileSystem,
    dpkg: DpkgDb,
    env: dict[str, str],
    prefix: str,
    version: str,
    package: str | None,
    distro_default: str | None,
) -> str:
    if fs.get(f"{prefix}/conda-meta") is not None:
        return "conda"
    if "/.pyenv/versions/" in "/" + prefix:
        return "pyenv"
    if "/uv/python/" in "/" + prefix or "python-build-standalone" in prefix:
        return "standalone"
    if package is not None:
        if distro_default is not None and version != distro_default:
            return "deadsnakes"
        return "distro"
    if prefix == "usr" and not dpkg.present:
        return "distro"
    if prefix == "usr/local" and env.get("PYTHON_VERSION", "").startswith(version + "."):
        return "official-image"
    return "source-build"


def _full_version(
    fs: FileSystem,
    dpkg: DpkgDb,
    env: dict[str, str],
    prefix: str,
    version: str,
    exe: str | None,
    libs: list[str],
    package: str | None,
    origin: str,
) -> tuple[str | None, str | None]:
    """(full version, where it was read), most direct source first (module docstring)."""
    mm = version.rstrip("t")

    def fits(candidate: str | None) -> bool:
        return bool(candidate) and str(candidate).startswith(mm + ".")

    sources: list[tuple[str, str | None]] = []
    if exe is not None:
        sources.append(("binary", _probed(fs, exe)))
    for lib in sorted(libs):
        sources.append(("libpython", _probed(fs, lib)))
    header = fs.read(f"{prefix}/include/python{version}/patchlevel.h".lstrip("/"))
    if header:
        define = _PY_VERSION_DEFINE.search(header)
        sources.append(("patchlevel.h", define.group(1).decode("ascii") if define else None))
    if package is not None and package in dpkg.versions:
        sources.append(("dpkg", upstream_version(dpkg.versions[package])))
    pv = env.get("PYTHON_VERSION", "")
    if origin == "official-image":
        sources.append(("env PYTHON_VERSION", pv))
    m = _FULL_IN_PATH.search(prefix)
    sources.append(("prefix", m.group(1) if m else None))
    sources.append(("pyvenv.cfg", _venv_recorded(fs, prefix, exe, mm)))
    for source, candidate in sources:
        if fits(candidate):
            return candidate, source
    return None, None


_PY_VERSION_DEFINE = re.compile(rb'#define\s+PY_VERSION\s+"([0-9][0-9a-z.+]*)"')


def _probed(fs: FileSystem, path: str) -> str | None:
    """The version the layer reader found compiled into a binary or libpython."""
    elf = fs.elf(path)
    return full_version(elf.python_versions) if elf is not None else None


def _venv_recorded(fs: FileSystem, prefix: str, exe: str | None, major_minor: str) -> str | None:
    """The version pyvenv.cfg files recorded for venvs made from this interpreter (one
    distinct value only: venvs made before and after an upgrade disagree)."""
    bin_dir = f"/{prefix}/bin" if prefix else "/bin"
    found = set()
    for _path, data in pyvenv_cfgs(fs):
        cfg = parse_cfg(data)
        home = (cfg.get("home") or "").rstrip("/")
        if home != bin_dir and (exe is None or fs.resolve(home) != f"{prefix}/bin"):
            continue
        recorded = cfg.get("version_info") or cfg.get("version") or ""
        parts = recorded.split(".")
        text = ".".join(parts[:3]) if len(parts) >= 3 else recorded
        if text.startswith(major_minor + "."):
            found.add(text)
    return found.pop() if len(found) == 1 else None


def modbuilt_names(source: bytes) -> set[str] | None:
    """Modules built into the interpreter per a _sysconfigdata file, or None when it
    does not say: MODBUILT_NAMES minus MODSHARED_NAMES (Debian's Makefile lists its
    shared Setup modules in both).

    Read as literals (ast), never executed; a truncated capture falls back to a regex
    over the adjacent string literals that pprint splits each value into."""
    text = source.decode("utf-8", "replace")
    # Both values whole, as plain literals (no escapes, then a comma or the dict's end):
    # read as they are. Parsing the whole file costs ~30 ms per interpreter.
    whole = [m for key in _MOD_KEYS if (m := _MOD_VALUE[key].search(text))]
    if len(whole) == len(_MOD_KEYS):
        found = {
            key: " ".join(re.findall(r"'([^']*)'", m.group(1))) for key, m in zip(_MOD_KEYS, whole)
        }
        return set(found["MODBUILT_NAMES"].split()) - set(found["MODSHARED_NAMES"].split())
    values: dict[str, str] = {}
    try:
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values):
                    if isinstance(k, ast.Constant) and k.value in _MOD_KEYS:
                        values[str(k.value)] = str(ast.literal_eval(v))
    except (SyntaxError, ValueError):
        for key in _MOD_KEYS:
            m = re.search(rf"'{key}':\s*((?:'[^']*'\s*)+)", text)
            if m:
                values[key] = " ".join(re.findall(r"'([^']*)'", m.group(1)))
        if "MODSHARED_NAMES" not in values:
            return None  # cut before it: cannot tell built-in from shared
    if "MODBUILT_NAMES" not in values:
        return None
    return set(values["MODBUILT_NAMES"].split()) - set(values.get("MODSHARED_NAMES", "").split())


_MOD_KEYS = ("MODBUILT_NAMES", "MODSHARED_NAMES")
# a key's value written as adjacent single-quoted literals without backslashes (how
# pprint writes module lists), ended by a comma or the closing brace
_MOD_VALUE = {key: re.compile(rf"'{key}':\s*((?:'[^'\\]*'\s*)+)[,}}]") for key in _MOD_KEYS}


def _modules(fs: FileSystem, interp: Interpreter) -> list[ModuleState]:
    table = stdlib_table()
    stdlib = interp.stdlib
    dynload = f"{stdlib}/lib-dynload" if stdlib else None
    so_files = {
        name.split(".", 1)[0]: f"{dynload}/{name}"
        for name in (fs.listdir(dynload) if dynload else [])
        if name.endswith(".so")
    }
    built: set[str] | None = None
    for path in interp.sysconfigdata:
        data = fs.read(path)
        names = modbuilt_names(data) if data else None
        if names is not None:
            built = (built or set()) | names
    out = []
    # A sourceless stdlib keeps only `_sysconfigdata_*.pyc` (marshalled code, not read
    # here): which modules are built into the interpreter cannot be told.
    unknown = (
        built is None
        and not interp.sysconfigdata
        and stdlib is not None
        and any(n.startswith("_sysconfigdata_") and n.endswith(".pyc") for n in fs.listdir(stdlib))
    )
    for piece in table.expected(interp.version):
        if piece.kind == "extension":
            state = _extension(piece, so_files, built, interp, table.may_be_builtin, unknown)
            stand_in = piece.fallback_for(interp.version)
            if (
                state.state == "missing"
                and stand_in is not None
                and interp.stdlib is not None
                and _module_file(fs, f"{interp.stdlib}/{stand_in}") is not None
            ):
                state = ModuleState(**{**state.__dict__, "fallback": stand_in})
            out.append(state)
        elif piece.kind == "module":
            out.append(_module(fs, piece, interp))
        else:
            out.append(_package(fs, piece, interp, table.wheels_for(interp.version)))
    return out


def _extension(
    piece: StdlibPiece,
    so_files: dict[str, str],
    built: set[str] | None,
    interp: Interpreter,
    may_be_builtin: frozenset[str],
    unknown: bool = False,
) -> ModuleState:
    for name in piece.any_of:
        if name in so_files:
            return ModuleState(piece.name, piece.kind, piece.tier, "shared", so_files[name])
    for name in piece.any_of:
        if built is not None and name in built:
            return ModuleState(piece.name, piece.kind, piece.tier, "builtin", interp.executable)
    if built is None and interp.package is not None:
        for name in piece.any_of:
            if name in may_be_builtin:
                return ModuleState(
                    piece.name,
                    piece.kind,
                    piece.tier,
                    "builtin-assumed",
                    interp.executable,
                    "no _sysconfigdata; distro builds link it into the interpreter",
                )
    if unknown:
        return ModuleState(
            piece.name,
            piece.kind,
            piece.tier,
            "unknown",
            None,
            "not in lib-dynload; built in or not: only a sourceless _sysconfigdata says",
        )
    return ModuleState(piece.name, piece.kind, piece.tier, "missing")


def _module(fs: FileSystem, piece: StdlibPiece, interp: Interpreter) -> ModuleState:
    """A stdlib module as `import` finds it in the stdlib directory: `name.py`, a package
    `name/__init__.py`, or their sourceless `.pyc` in place."""
    if interp.stdlib is None:
        return ModuleState(piece.name, piece.kind, piece.tier, "missing")
    path = _module_file(fs, f"{interp.stdlib}/{piece.name}")
    if path is not None:
        return ModuleState(piece.name, piece.kind, piece.tier, "present", path)
    return ModuleState(piece.name, piece.kind, piece.tier, "missing")


def _module_file(fs: FileSystem, base: str) -> str | None:
    """The file `import` finds for the module at `base` (a stdlib path without suffix):
    `name.py`, a package `name/__init__.py`, or their sourceless `.pyc` in place."""
    for path in (f"{base}.py", f"{base}/__init__.py", f"{base}.pyc", f"{base}/__init__.pyc"):
        if fs.get(path) is not None:
            return path
    return None


def _wheel_project(filename: str) -> str | None:
    """The canonical project name of a wheel file name (`pip-23.0.1-py3-none-any.whl`)."""
    # deferred: start-up time, see README "Performance" (packaging.utils brings
    # packaging.tags, ~15 ms)
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        return parse_wheel_filename(filename)[0]
    except InvalidWheelFilename:
        return None


def _package(
    fs: FileSystem, piece: StdlibPiece, interp: Interpreter, wheels: tuple[str, ...]
) -> ModuleState:
    pkg = f"{interp.stdlib}/{piece.name}" if interp.stdlib else None
    if pkg is None or not any(fs.get(f"{pkg}/__init__.{ext}") is not None for ext in ("py", "pyc")):
        return ModuleState(piece.name, piece.kind, piece.tier, "missing")
    if piece.name == "ensurepip":
        have = {
            project
            for d in (f"{pkg}/_bundled", "usr/share/python-wheels")
            for name in fs.listdir(d)
            if (project := _wheel_project(name)) is not None
        }
        lacking = [w for w in wheels if w not in have]
        if lacking:
            return ModuleState(
                piece.name,
                piece.kind,
                piece.tier,
                "missing",
                pkg,
                "no bundled wheel for " + ", ".join(lacking),
            )
    return ModuleState(piece.name, piece.kind, piece.tier, "present", pkg)
