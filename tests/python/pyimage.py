"""Images with a REAL CPython: the test host's own interpreter copied into factory images.

The copy keeps what the Python facts read for real: the python executable, libpython,
every lib-dynload extension (real ELF files), the _sysconfigdata module, and the venv
and ensurepip packages with their bundled wheels. Of the pure-Python stdlib only a
small subset is copied (os.py, site.py, json, encodings) to keep images small; the
facts do not read the rest. Failing cases remove pieces in a later layer (whiteouts),
as `RUN rm` would.

The CPython layer is built once per prefix per session (functools.cache) and its tar
bytes are reused, so every test image after the first costs only its own small layers;
the layer index (ELF parse of libpython) is cached on disk by the session fixture.
"""

from __future__ import annotations

import functools
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from tests import factory
from tests.factory import Dir, File, ImageSpec, Item, Layer, Symlink, host_file

HOST_PREFIX = Path(sys.base_prefix)
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
HOST_STDLIB = Path(sysconfig.get_paths()["stdlib"])
EXT_SUFFIX = str(sysconfig.get_config_var("EXT_SUFFIX"))  # ".cpython-311-x86_64-linux-gnu.so"
LDLIBRARY = str(sysconfig.get_config_var("INSTSONAME") or f"libpython{VERSION}.so.1.0")

_PURE = ("os.py", "site.py", "abc.py", "stat.py", "posixpath.py", "genericpath.py")
_PACKAGES = ("venv", "ensurepip", "json", "encodings")


def _tree(host: Path, image: str) -> Iterator[File]:
    for path in sorted(host.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield host_file(path, f"{image}/{path.relative_to(host)}")


def so_name(module: str) -> str:
    return f"{module}{EXT_SUFFIX}"


@functools.cache
def cpython_layer(prefix: str = "opt/acme/python") -> Layer:
    """A layer holding the host's CPython at `prefix` (image path, no leading slash)."""
    lib = f"{prefix}/lib/python{VERSION}"
    items: list[Item] = [
        Dir(prefix),
        host_file(HOST_PREFIX / "bin" / f"python{VERSION}", f"{prefix}/bin/python{VERSION}"),
        Symlink(f"{prefix}/bin/python3", f"python{VERSION}"),
        host_file(HOST_PREFIX / "lib" / LDLIBRARY, f"{prefix}/lib/{LDLIBRARY}"),
        Symlink(f"{prefix}/lib/libpython{VERSION}.so", LDLIBRARY),
    ]
    items += [host_file(HOST_STDLIB / name, f"{lib}/{name}") for name in _PURE]
    items += [
        host_file(p, f"{lib}/{p.name}") for p in sorted(HOST_STDLIB.glob("_sysconfigdata_*.py"))
    ]
    for pkg in _PACKAGES:
        items += list(_tree(HOST_STDLIB / pkg, f"{lib}/{pkg}"))
    dynload = HOST_STDLIB / "lib-dynload"
    items += [host_file(p, f"{lib}/lib-dynload/{p.name}") for p in sorted(dynload.glob("*.so"))]
    # The host build's RUNPATH points at the build prefix: the image finds libpython
    # through ld.so.conf.d, as a real /opt install does.
    items.append(File("etc/ld.so.conf.d/acme-python.conf", f"/{prefix}/lib\n".encode()))
    layer = Layer(items, created_by=f"COPY /python /{prefix} # buildkit", compression="none")
    _CACHED_LAYERS.append(layer)
    return layer


@functools.cache
def stdlib_tests_layer(prefix: str = "opt/acme/python") -> Layer:
    """Real files of the host's stdlib test suite (a subset, ~300 KB)."""
    lib = f"{prefix}/lib/python{VERSION}"
    names = ["__init__.py", "test_os.py", "test_json", "test_venv.py"]
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
