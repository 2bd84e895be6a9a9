"""Images with a REAL CPython: the test host's own interpreter copied into factory images.

The copy keeps what the Python facts read for real: the python executable, libpython,
every lib-dynload extension (real ELF files), the _sysconfigdata module, and the venv
and ensurepip packages with their bundled wheels. Every piece is found through the host
interpreter's own sysconfig (BINDIR, LIBDIR/INSTSONAME, DESTSHARED, WHEEL_PKG_DIR), not
at a path of one machine, and laid out as a source build installs it under a prefix:
so a pyenv build and Debian's /usr/bin/python3 (libpython in the multiarch dir,
ensurepip's wheels in /usr/share/python-wheels) give the same kind of image. Which
modules the copy has built in or as shared objects is the host's, and tests ask the
host interpreter (sys.builtin_module_names) what to expect. Of the pure-Python stdlib
only a small subset is copied (os.py, site.py, json, encodings) to keep images small;
the facts do not read the rest. Failing cases remove pieces in a later layer (whiteouts),
as `RUN rm` would.

The CPython layer is built once per prefix per session (functools.cache) and its tar
bytes are reused, so every test image after the first costs only its own small layers;
the layer index (ELF parse of libpython) is cached on disk by the session fixture.
"""

from __future__ import annotations

import csv
import functools
import os
import py_compile
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from tests import factory
from tests.factory import Dir, File, ImageSpec, Item, Layer, Symlink, host_file
from tests.support.elfbuild import ld_so_cache

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
HOST_STDLIB = Path(sysconfig.get_paths()["stdlib"])
EXT_SUFFIX = str(sysconfig.get_config_var("EXT_SUFFIX"))  # ".cpython-311-x86_64-linux-gnu.so"
MULTIARCH = str(sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu")
LDLIBRARY = str(sysconfig.get_config_var("INSTSONAME") or f"libpython{VERSION}.so.1.0")
HOST_EXECUTABLE = Path(str(sysconfig.get_config_var("BINDIR"))) / f"python{VERSION}"
HOST_DYNLOAD = Path(str(sysconfig.get_config_var("DESTSHARED") or HOST_STDLIB / "lib-dynload"))


def host_libpython() -> Path:
    """The host's shared libpython: LIBDIR (a source build's prefix/lib, Debian's
    multiarch dir), else LIBDIR/MULTIARCH. Debian's python3 binary links libpython in
    statically; its shared copy comes with the libpython3.X package."""
    libdir = Path(str(sysconfig.get_config_var("LIBDIR")))
    for candidate in (libdir / LDLIBRARY, libdir / MULTIARCH / LDLIBRARY):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no {LDLIBRARY} in {libdir} (Debian: apt-get install libpython3-dev)")


def host_bundled_wheels() -> list[Path]:
    """The wheels ensurepip installs: ensurepip/_bundled in a source build; Debian moves
    them to WHEEL_PKG_DIR (/usr/share/python-wheels, with other wheels beside them)."""
    bundled = sorted((HOST_STDLIB / "ensurepip" / "_bundled").glob("*.whl"))
    if bundled:
        return bundled
    pkg_dir = Path(str(sysconfig.get_config_var("WHEEL_PKG_DIR") or "/usr/share/python-wheels"))
    return sorted(p for p in pkg_dir.glob("*.whl") if p.name.startswith(("pip-", "setuptools-")))


_PURE = ("os.py", "site.py", "abc.py", "stat.py", "posixpath.py", "genericpath.py")
#: The Python side of the extensions PY002 asks for (auditor/data/stdlib.json "modules"),
#: with _pydecimal (what decimal falls back to without _decimal).
_WRAPPERS = ("ssl.py", "hashlib.py", "bz2.py", "lzma.py", "uuid.py", "decimal.py", "_pydecimal.py",
             "sqlite3", "ctypes", "xml", "json")  # fmt: skip


def _tree(host: Path, image: str) -> Iterator[File]:
    for path in sorted(host.rglob("*")):
        # a package's own test suite (ctypes/test) is PY005's business, not a piece here
        rel = path.relative_to(host)
        if path.is_file() and "__pycache__" not in rel.parts and "test" not in rel.parts:
            yield host_file(path, f"{image}/{rel}")


def _wrappers(host: Path, lib: str) -> list[File]:
    items: list[File] = []
    for name in _WRAPPERS:
        if name.endswith(".py"):
            items.append(host_file(host / name, f"{lib}/{name}"))
        else:
            items += _tree(host / name, f"{lib}/{name}")
    return items


def so_name(module: str) -> str:
    return f"{module}{EXT_SUFFIX}"


@functools.cache
def cpython_layer(prefix: str = "opt/acme/python") -> Layer:
    """A layer holding the host's CPython at `prefix` (image path, no leading slash)."""
    lib = f"{prefix}/lib/python{VERSION}"
    items: list[Item] = [
        Dir(prefix),
        host_file(HOST_EXECUTABLE, f"{prefix}/bin/python{VERSION}"),
        Symlink(f"{prefix}/bin/python3", f"python{VERSION}"),
        host_file(host_libpython(), f"{prefix}/lib/{LDLIBRARY}"),
        Symlink(f"{prefix}/lib/libpython{VERSION}.so", LDLIBRARY),
    ]
    items += [host_file(HOST_STDLIB / name, f"{lib}/{name}") for name in _PURE]
    items += _wrappers(HOST_STDLIB, lib)
    items += [
        host_file(p, f"{lib}/{p.name}") for p in sorted(HOST_STDLIB.glob("_sysconfigdata_*.py"))
    ]
    for pkg in ("venv", "ensurepip", "encodings"):
        items += [f for f in _tree(HOST_STDLIB / pkg, f"{lib}/{pkg}") if "/_bundled/" not in f.path]
    items += [host_file(p, f"{lib}/ensurepip/_bundled/{p.name}") for p in host_bundled_wheels()]
    dynload = HOST_DYNLOAD
    items += [host_file(p, f"{lib}/lib-dynload/{p.name}") for p in sorted(dynload.glob("*.so"))]
    # A host build's RUNPATH, if any, points at the build prefix: the image finds libpython
    # through an ld.so.conf.d entry and the ld.so.cache `ldconfig` then writes, as a real
    # /opt install does (the loader reads the cache, never ld.so.conf).
    items.append(File("etc/ld.so.conf.d/acme-python.conf", f"/{prefix}/lib\n".encode()))
    # The system libraries the interpreter and its extensions link against, so the
    # complete install also loads (PY002 checks each extension's links).
    elves = [HOST_EXECUTABLE, *sorted(dynload.glob("*.so"))]
    items += factory.host_libraries(elves)
    items.append(File("etc/ld.so.cache", ld_so_cache(items)))
    layer = Layer(items, created_by=f"COPY /python /{prefix} # buildkit", compression="none")
    _CACHED_LAYERS.append(layer)
    return layer


@functools.cache
def stdlib_tests_layer(prefix: str = "opt/acme/python") -> Layer:
    """Real files of the host's stdlib test suite (a subset, ~1 MB): what every build
    ships (test.support and libregrtest: Debian keeps them in libpython3.X-stdlib, the
    rest in a -testsuite package) and a few test modules when the host has them."""
    lib = f"{prefix}/lib/python{VERSION}"
    names = ["__init__.py", "support", "libregrtest", "test_os.py", "test_json", "test_venv.py"]
    items: list[Item] = []
    for name in names:
        host = HOST_STDLIB / "test" / name
        if host.is_dir():
            items += list(_tree(host, f"{lib}/test/{name}"))
        elif host.exists():
            items.append(host_file(host, f"{lib}/test/{name}"))
    layer = Layer(items, created_by="RUN make install", compression="none")
    _CACHED_LAYERS.append(layer)
    return layer


_tars: dict[int, bytes] = {}  # id(layer) -> tar bytes, for the cached layers only
_real_layer_tar = factory.layer_tar


def _layer_tar(layer: Layer) -> bytes:
    cached = any(layer is c for c in _CACHED_LAYERS)
    if cached and id(layer) in _tars:
        return _tars[id(layer)]
    data = _real_layer_tar(layer)
    if cached:
        _tars[id(layer)] = data
    return data


_CACHED_LAYERS: list[Layer] = []


def build(spec: ImageSpec) -> factory.BuiltImage:
    """factory.build, reusing the tar bytes of the session's CPython layers."""
    with mock.patch.object(factory, "layer_tar", _layer_tar):
        return factory.build(spec)


# ---- Debian's own CPython, from the test host's dpkg-installed files -------------------

DEBIAN_PACKAGES = (
    "python3.11-minimal",
    "libpython3.11-minimal:amd64",
    "libpython3.11-stdlib:amd64",
    "python3.11-venv",
    "python3-minimal",
)
DPKG_INFO = Path("/var/lib/dpkg/info")


def debian_python_available() -> bool:
    return Path("/usr/bin/python3.11").exists() and all(
        (DPKG_INFO / f"{p}.list").exists() for p in DEBIAN_PACKAGES
    )


@functools.cache
def debian_python_layer() -> Layer:
    """Debian 12's python3.11 as the host's dpkg installed it: the real binary, stdlib
        extensions, sysconfigdata, venv, ensurepip, encodings, python-wheels and the packages' .list
        files (so ownership is real). Pure-Python stdlib reduced to os.py and the Python side
    of the extensions."""
    lib = "usr/lib/python3.11"
    host = Path("/usr/lib/python3.11")
    items: list[Item] = [
        host_file("/usr/bin/python3.11", "usr/bin/python3.11"),
        Symlink("usr/bin/python3", "python3.11"),
        host_file(host / "os.py", f"{lib}/os.py"),
    ]
    items += [host_file(p, f"{lib}/{p.name}") for p in sorted(host.glob("_sysconfigdata_*.py"))]
    for pkg in ("venv", "ensurepip", "encodings"):
        items += list(_tree(host / pkg, f"{lib}/{pkg}"))
    items += _wrappers(host, lib)
    items += [
        host_file(p, f"{lib}/lib-dynload/{p.name}")
        for p in sorted((host / "lib-dynload").glob("*.so"))
    ]
    items += list(_tree(Path("/usr/share/python-wheels"), "usr/share/python-wheels"))
    items += factory.host_libraries(
        [Path("/usr/bin/python3.11"), *sorted((host / "lib-dynload").glob("*.so"))]
    )
    for pkg in DEBIAN_PACKAGES:
        items.append(host_file(DPKG_INFO / f"{pkg}.list", f"var/lib/dpkg/info/{pkg}.list"))
    items.append(File("var/lib/dpkg/status", b""))
    layer = Layer(
        items, created_by="RUN apt-get install -y python3.11 python3.11-venv", compression="none"
    )
    _CACHED_LAYERS.append(layer)
    return layer


# ---- venvs and real installed distributions -----------------------------------------

HOST_SITE = Path(sysconfig.get_paths()["purelib"])


def venv_items(
    venv: str, home: str, *, uid: int = 0, gid: int = 0, cfg_extra: str = "", crlf: bool = False
) -> list[Item]:
    """A venv as `python -m venv` lays it out (links to the base python, pyvenv.cfg)."""
    cfg = (
        f"home = {home}\ninclude-system-site-packages = false\n"
        f"version = {sys.version.split()[0]}\nexecutable = {home}/python{VERSION}\n"
        f"command = {home}/python{VERSION} -m venv {'/' + venv}\n" + cfg_extra
    )
    if crlf:
        cfg = cfg.replace("\n", "\r\n")
    return [
        Dir(venv, uid=uid, gid=gid),
        Dir(f"{venv}/bin", uid=uid, gid=gid),
        File(f"{venv}/pyvenv.cfg", cfg.encode(), uid=uid, gid=gid),
        Symlink(f"{venv}/bin/python{VERSION}", f"{home}/python{VERSION}"),
        Symlink(f"{venv}/bin/python3", f"python{VERSION}"),
        Symlink(f"{venv}/bin/python", f"python{VERSION}"),
        Dir(f"{venv}/lib", uid=uid, gid=gid),
        Dir(f"{venv}/lib/python{VERSION}", uid=uid, gid=gid),
        Dir(f"{venv}/lib/python{VERSION}/site-packages", uid=uid, gid=gid),
    ]


def record_files(dist_info: str) -> list[tuple[str, int | None]]:
    """(relative path, size) rows of a host distribution's RECORD."""
    rows = []
    with open(HOST_SITE / dist_info / "RECORD", newline="") as fh:
        for row in csv.reader(fh):
            if row and row[0]:
                rows.append((row[0], int(row[2]) if len(row) > 2 and row[2] else None))
    return rows


def dist_items(
    site: str,
    dist_info: str,
    *,
    uid: int = 0,
    gid: int = 0,
    pyc: str | None = None,
    wheel_tag: str | None = None,
    installer: str | None = None,
) -> list[Item]:
    """A real distribution installed on the host, copied into `site` as pip left it:
    every RECORD file (scripts in ../../bin skipped), pycs dropped; `pyc` compiles the
    copied sources again ("timestamp" or "checked-hash") against the image mtimes.
    `wheel_tag` rewrites WHEEL's Tag lines (what pip writes for a wheel it built);
    `installer` INSTALLER's content (what conda-build and Fedora's RPM build write)."""
    items: list[Item] = []
    for rel, _size in record_files(dist_info):
        if rel.startswith("..") or "__pycache__" in rel:
            continue
        host = HOST_SITE / rel
        if not host.is_file():
            continue
        data = host.read_bytes()
        if wheel_tag and rel == f"{dist_info}/WHEEL":
            lines = [ln for ln in data.decode().splitlines() if not ln.startswith("Tag:")]
            data = ("\n".join([*lines, f"Tag: {wheel_tag}"]) + "\n").encode()
        if installer and rel == f"{dist_info}/INSTALLER":
            data = f"{installer}\n".encode()
        items.append(File(f"{site}/{rel}", data, mode=0o644, uid=uid, gid=gid))
        if pyc and rel.endswith(".py"):
            mode = (
                py_compile.PycInvalidationMode.CHECKED_HASH
                if pyc == "checked-hash"
                else py_compile.PycInvalidationMode.TIMESTAMP
            )
            with tempfile.TemporaryDirectory() as tmp:
                src = Path(tmp) / "m.py"
                src.write_bytes(data)
                os.utime(src, (factory.MTIME, factory.MTIME))
                out = Path(tmp) / "m.pyc"
                py_compile.compile(str(src), str(out), doraise=True, invalidation_mode=mode)
                d, _, name = rel.rpartition("/")
                tag = sys.implementation.cache_tag
                pyc_path = (
                    f"{site}/{d}/__pycache__/{name[:-3]}.{tag}.pyc"
                    if d
                    else (f"{site}/__pycache__/{name[:-3]}.{tag}.pyc")
                )
                items.append(File(pyc_path, out.read_bytes(), uid=uid, gid=gid))
    return items
