"""Interpreter facts and the interpreter checks (PY001, PY002, PY003, PY005) on images
holding a real CPython (the test host's, and Debian's own python3.11)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auditor.checks import (
    py001_system_python,
    py002_stdlib_incomplete,
    py003_python_eol,
    py005_stdlib_tests,
)
from auditor.facts.pythons import modbuilt_names
from tests.factory import Dir, File, ImageSpec, Layer, Symlink, Whiteout, host_file
from tests.python import pyimage
from tests.python.conftest import Scan, findings, status

V = pyimage.VERSION
PREFIX = "opt/acme/python"
LIB = f"{PREFIX}/lib/python{V}"
needs_debian = pytest.mark.skipif(
    not pyimage.debian_python_available(),
    reason="the host has no Debian python3.11 (apt-get install python3-venv)",
)


def test_source_build_interpreter_facts(scan: Scan) -> None:
    facts = scan(ImageSpec([pyimage.cpython_layer()]))
    [interp] = facts.pythons
    assert interp.executable == f"{PREFIX}/bin/python{V}"
    assert interp.version == V
    assert interp.origin == "source-build"
    assert interp.prefix == PREFIX
    assert interp.package is None
    assert interp.libpython == (
        f"{PREFIX}/lib/libpython{V}.so",
        f"{PREFIX}/lib/{pyimage.LDLIBRARY}",
    )
    states = {m.name: m.state for m in interp.modules}
    # every core piece is a real lib-dynload file, or built into the interpreter, as the
    # host interpreter itself says (Debian builds zlib and pyexpat in, pyenv does not)
    for name in ("_ssl", "_hashlib", "_sqlite3", "_ctypes", "_bz2", "_lzma", "zlib", "_uuid",
                 "pyexpat", "_decimal", "_json"):  # fmt: skip
        expected = "builtin" if name in sys.builtin_module_names else "shared"
        assert states[name] == expected, name
    assert states["venv"] == states["ensurepip"] == "present"
    host_has_dbm = any((pyimage.HOST_STDLIB / "lib-dynload").glob("_*dbm.*so"))
    assert states["_dbm"] == ("shared" if host_has_dbm else "missing")


def test_stdlib_incomplete_fails_on_removed_modules(scan: Scan) -> None:
    dyn = f"{LIB}/lib-dynload"
    removed = Layer(
        [
            Whiteout(f"{dyn}/{pyimage.so_name('_ssl')}"),
            Whiteout(f"{dyn}/{pyimage.so_name('_ctypes')}"),
            Whiteout(f"{LIB}/ensurepip/_bundled"),
        ],
        created_by="RUN rm -rf ...",
    )
    facts = scan(ImageSpec([pyimage.cpython_layer(), removed]))
    found = [f for f in findings(py002_stdlib_incomplete, facts) if f.severity.name != "INFO"]
    assert [(f.message, f.path, f.layer, f.severity.name) for f in found] == [
        (
            f"Python {V} at /{PREFIX}/bin/python{V} lacks _ssl, _ctypes",
            f"/{LIB}",
            1,  # the stdlib dir was last written by the layer that removed them
            "ERROR",
        )
    ]
    assert found[0].evidence["missing"] == ["_ssl", "_ctypes"]


def test_ensurepip_removed_is_not_an_error(scan: Scan) -> None:
    """`rm -rf ensurepip idlelib test` in a mutated python:3.11-slim: the app runs, only
    `python -m venv` without --without-pip fails (distroless and Debian's python3.11
    without python3.11-venv ship no ensurepip either). PY002 said error."""
    gone = Layer(
        [Whiteout(f"{LIB}/ensurepip"), Whiteout(f"{LIB}/idlelib"), Whiteout(f"{LIB}/test")],
        created_by="RUN rm -rf ensurepip idlelib test",
    )
    facts = scan(ImageSpec([pyimage.cpython_layer(), gone]))
    found = findings(py002_stdlib_incomplete, facts)
    assert all(f.severity.name == "INFO" for f in found), found
    assert any("ensurepip" in f.evidence["missing"] for f in found)


@pytest.mark.parametrize("gone", [["_decimal"], ["_decimal", "_json", "_uuid"]])
def test_extension_with_pure_python_fallback_is_a_warning(scan: Scan, gone: list[str]) -> None:
    """`rm lib-dynload/_decimal*` in a mutated python:3.11-slim: the running image's
    `import decimal` works (decimal falls back to _pydecimal), as `import json` without
    _json and `import uuid` without _uuid do. PY002 said error, as for _ssl."""
    dyn = f"{LIB}/lib-dynload"
    layer = Layer(
        [Whiteout(f"{dyn}/{pyimage.so_name(m)}") for m in gone],
        created_by="RUN rm lib-dynload/_decimal*",
    )
    facts = scan(ImageSpec([pyimage.cpython_layer(), layer]))
    [interp] = facts.pythons
    shared = [m.name for m in interp.modules if m.name in gone and m.state == "missing"]
    if not shared:
        pytest.skip("the host interpreter builds these modules in")
    found = [f for f in findings(py002_stdlib_incomplete, facts) if f.severity.name != "INFO"]
    assert [(f.severity.name, f.evidence["missing"]) for f in found] == [("WARNING", shared)]
    assert "the pure-Python fallbacks stand in" in found[0].message
    assert found[0].evidence["fallbacks"]["_decimal"] == "_pydecimal"


def test_extension_without_its_fallback_is_an_error(scan: Scan) -> None:
    """_decimal gone and _pydecimal gone too: `import decimal` fails."""
    dyn = f"{LIB}/lib-dynload"
    if "_decimal" in sys.builtin_module_names:
        pytest.skip("the host interpreter builds _decimal in")
    layer = Layer(
        [Whiteout(f"{dyn}/{pyimage.so_name('_decimal')}"), Whiteout(f"{LIB}/_pydecimal.py")],
        created_by="RUN rm ...",
    )
    facts = scan(ImageSpec([pyimage.cpython_layer(), layer]))
    found = [f for f in findings(py002_stdlib_incomplete, facts) if f.severity.name != "INFO"]
    assert [(f.severity.name, f.evidence["missing"]) for f in found] == [("ERROR", ["_decimal"])]


def test_stdlib_without_encodings_stops_at_start(scan: Scan) -> None:
    """`rm -rf /usr/local/lib/python3.11/encodings` in a mutated python:3.11-slim: the
    interpreter stops at start ("Fatal Python error: init_fs_encoding ... No module named
    'encodings'"); PY002 said nothing (it judged encodings only under PYTHONHOME)."""
    gone = Layer([Whiteout(f"{LIB}/encodings")], created_by=f"RUN rm -rf /{LIB}/encodings")
    facts = scan(ImageSpec([pyimage.cpython_layer(), gone]))
    [f] = [f for f in findings(py002_stdlib_incomplete, facts) if f.severity.name == "ERROR"]
    assert f.message.startswith(f"Python {V} at /{PREFIX}/bin/python{V}: its standard library")
    assert "No module named 'encodings'" in f.message
    assert f.evidence["missing"] == ["encodings"]


def test_stdlib_module_removed_while_its_extension_stays(scan: Scan) -> None:
    """`rm -r /usr/local/lib/python3.11/sqlite3` in a mutated python:3.11-slim: the
    running image's `import sqlite3` fails (ModuleNotFoundError) while _sqlite3.so is
    still in lib-dynload; PY002 said nothing (it asked for the extension only)."""
    gone = Layer([Whiteout(f"{LIB}/sqlite3")], created_by=f"RUN rm -r /{LIB}/sqlite3")
    facts = scan(ImageSpec([pyimage.cpython_layer(), gone]))
    [interp] = facts.pythons
    states = {m.name: m.state for m in interp.modules}
    assert (states["sqlite3"], states["ssl"], states["json"]) == ("missing", "present", "present")
    errors = [f for f in findings(py002_stdlib_incomplete, facts) if f.severity.name == "ERROR"]
    assert [(f.message, f.evidence["missing"]) for f in errors] == [
        (f"Python {V} at /{PREFIX}/bin/python{V} lacks sqlite3", ["sqlite3"])
    ]


def test_stdlib_complete_has_no_error(scan: Scan) -> None:
    facts = scan(ImageSpec([pyimage.cpython_layer()]))
    found = findings(py002_stdlib_incomplete, facts)
    # The host build may lack only optional modules (info), never a core one.
    assert all(f.severity.name == "INFO" for f in found), found
    assert [f.evidence["missing"] for f in found] in ([], [["_dbm"]])


def test_modbuilt_names_from_debian_sysconfigdata() -> None:
    real = next(pyimage.Path("/usr/lib/python3.11").glob("_sysconfigdata__x86_64*.py"), None)
    if real is None:
        pytest.skip("no Debian sysconfigdata on this host (apt-get install python3)")
    names = modbuilt_names(real.read_bytes())
    assert names is not None and {"zlib", "pyexpat", "_elementtree"} <= names
    assert not names & {"_json", "_ssl", "_decimal", "_gdbm"}  # shared in Debian's build
    # a truncated capture still yields the names (regex over the adjacent literals)
    text = real.read_bytes()
    cut = text[: max(text.index(b"'MODBUILT_NAMES'"), text.index(b"'MODSHARED_NAMES'")) + 3000]
    assert modbuilt_names(cut) == names
    assert modbuilt_names(text[: text.index(b"'MODBUILT_NAMES'") + 100]) is None


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # pprint's layout: adjacent literals, read without parsing the file
        ("build_time_vars = {'MODBUILT_NAMES': 'posix ' 'zlib',\n 'MODSHARED_NAMES': '_json'}",
         {"posix", "zlib"}),
        # an escape in a literal: parsed (ast), so it means what Python reads
        ("build_time_vars = {'MODBUILT_NAMES': 'posix \\x7alib', 'MODSHARED_NAMES': ''}",
         {"posix", "zlib"}),
        # cut inside the last value: not whole, so not read as it stands
        ("build_time_vars = {'MODBUILT_NAMES': 'posix zlib', 'MODSHARED_NAMES': '_js", None),
    ],
)  # fmt: skip
def test_modbuilt_names_read_whole_values_only(text: str, names: set[str] | None) -> None:
    assert modbuilt_names(text.encode()) == names


@needs_debian
def test_debian_python_is_distro_with_builtin_modules(scan: Scan) -> None:
    facts = scan(ImageSpec([pyimage.debian_python_layer()]))
    [interp] = facts.pythons
    assert (interp.executable, interp.origin, interp.package) == (
        "usr/bin/python3.11", "distro", "python3.11-minimal",
    )  # fmt: skip
    states = {m.name: m.state for m in interp.modules}
    assert states["zlib"] == states["pyexpat"] == "builtin"
    assert states["_ssl"] == states["_json"] == "shared"
    assert states["ensurepip"] == "present"  # wheels from /usr/share/python-wheels
    assert status(py002_stdlib_incomplete, facts) == "passed"


@needs_debian
def test_debian_without_python3_venv_lacks_ensurepip(scan: Scan) -> None:
    gone = Layer([Whiteout("usr/lib/python3.11/ensurepip")], created_by="RUN apt-get purge")
    facts = scan(ImageSpec([pyimage.debian_python_layer(), gone]))
    [f] = findings(py002_stdlib_incomplete, facts)
    assert f.message == "Python 3.11 at /usr/bin/python3.11 lacks ensurepip"
    assert f.layer == 1  # the purge layer rewrote the stdlib dir


@needs_debian
def test_system_python_used_by_app_venv(scan: Scan) -> None:
    app = Layer(pyimage.venv_items("app/venv", "/usr/bin"), created_by="RUN python3 -m venv")
    facts = scan(ImageSpec([pyimage.debian_python_layer(), app]))
    [f] = findings(py001_system_python, facts)
    assert f.message == (
        "the app uses the distribution's Python 3.11 (distro, package python3.11-minimal): "
        "/app/venv is the image's only venv"
    )
    assert f.path == "/usr/bin/python3.11"


def test_own_python_is_not_system_python(scan: Scan) -> None:
    app = Layer(pyimage.venv_items("app/venv", f"/{PREFIX}/bin"))
    facts = scan(ImageSpec([pyimage.cpython_layer(), app]))
    assert status(py001_system_python, facts) == "passed"


@pytest.mark.parametrize(
    ("today", "severity"),
    [("2026-11-28", None), ("2027-06-01", "WARNING"), ("2027-10-31", "ERROR")],
)
def test_python_eol(scan: Scan, today: str, severity: str | None) -> None:
    if V != "3.11":
        pytest.skip("dates below are 3.11's")
    facts = scan(ImageSpec([pyimage.cpython_layer()]))
    found = findings(py003_python_eol, facts, today=today)
    assert [f.severity.name for f in found] == ([severity] if severity else [])
    if severity == "ERROR":
        assert (
            found[0].message
            == f"Python 3.11 at /{PREFIX}/bin/python3.11 reached end of life on 2027-10-31"
        )


def test_stdlib_tests_flagged_with_bytes(scan: Scan) -> None:
    tests = pyimage.stdlib_tests_layer()
    facts = scan(ImageSpec([pyimage.cpython_layer(), tests]))
    [f] = findings(py005_stdlib_tests, facts)
    test_bytes = sum(n.entry.size for p, n in facts.fs.walk_files() if p.startswith(f"{LIB}/test/"))
    assert test_bytes > 100_000
    assert f.bytes == test_bytes
    assert f.path == f"/{LIB}/test"
    assert f.layer == 1


def test_stdlib_tests_removed_passes(scan: Scan) -> None:
    gone = Layer([Whiteout(f"{LIB}/test")], created_by="RUN rm -rf .../test")
    facts = scan(ImageSpec([pyimage.cpython_layer(), pyimage.stdlib_tests_layer(), gone]))
    assert status(py005_stdlib_tests, facts) == "passed"
    facts = scan(ImageSpec([pyimage.cpython_layer()]))
    assert status(py005_stdlib_tests, facts) == "passed"


@pytest.mark.parametrize(
    ("prefix", "extra", "env", "origin"),
    [
        ("root/.pyenv/versions/3.11.7", [], [], "pyenv"),
        ("usr/local", [], ["PYTHON_VERSION=3.11.99"], "official-image"),
        ("opt/conda", [Dir("opt/conda/conda-meta")], [], "conda"),
    ],
)
def test_origins(scan: Scan, prefix: str, extra: list, env: list, origin: str) -> None:
    """The full version is the one compiled into libpython (the host CPython is a shared
    build), whatever the prefix or PYTHON_VERSION say; the oracle is that interpreter."""
    if V != "3.11":
        pytest.skip("paths below name 3.11")
    layers = [pyimage.cpython_layer(prefix)]
    if extra:
        layers.append(Layer(extra))
    facts = scan(ImageSpec(layers, config={"Env": env}))
    [interp] = facts.pythons
    assert (interp.origin, interp.prefix) == (origin, prefix)
    truth = sys.version.split()[0]
    assert interp.full_version == truth
    assert interp.full_version_source in ("binary", "libpython")  # the stub has debug info


def test_executable_copied_without_its_stdlib(scan: Scan) -> None:
    exe = host_file(pyimage.HOST_EXECUTABLE, f"usr/local/bin/python{V}")
    facts = scan(ImageSpec([Layer([exe])]))
    [interp] = facts.pythons
    assert (interp.executable, interp.stdlib, interp.origin) == (exe.path, None, "source-build")
    [f] = findings(py002_stdlib_incomplete, facts)
    assert f.message == (
        f"Python {V} at /usr/local/bin/python{V} has no standard library "
        f"(/usr/local/lib/python{V} is missing)"
    )


def test_stdlib_extension_whose_library_is_gone(scan: Scan) -> None:
    """_bz2 is on disk but libbz2 was deleted: `import bz2` fails as surely as if the module
    were missing, and PY002 says which library (from the ELF graph)."""
    lib = f"usr/lib/{pyimage.MULTIARCH}/libbz2.so.1.0"
    gone = Layer([Whiteout(lib)], created_by="RUN rm " + lib)
    facts = scan(ImageSpec([pyimage.cpython_layer(), gone]))
    errors = [
        (f.message, f.path)
        for f in findings(py002_stdlib_incomplete, facts)
        if f.severity.name == "ERROR"
    ]
    ext = f"/opt/acme/python/lib/python{pyimage.VERSION}/lib-dynload/{pyimage.so_name('_bz2')}"
    assert errors == [
        (f"_bz2 of Python {pyimage.VERSION} cannot load: libbz2.so.1.0 not found in the image", ext)
    ]
    intact = scan(ImageSpec([pyimage.cpython_layer()]))
    assert not [f for f in findings(py002_stdlib_incomplete, intact) if f.severity.name == "ERROR"]


@pytest.mark.parametrize("how", ["other library", "moved", "dangling"])
def test_stdlib_extension_whose_library_is_wrong_or_elsewhere(scan: Scan, how: str) -> None:
    """Mutated python:3.11-slim images (realistic fastapi), as the running image says:
    libffi.so.8 replaced by a link to libz.so.1 makes `import ctypes` fail with
    "version `LIBFFI_CLOSURE_8.0' not found"; PY002 said nothing (it read load failures,
    not symbol versions). libffi.so.8 moved to /opt/lib (an ld.so.conf.d entry, no
    ldconfig) fails with "cannot open shared object file"; PY002 said it was "not found
    in the image", which has it. A dangling libffi.so.8 link is no library."""
    # the libffi the host's _ctypes links against, as the CPython layer carries it
    layer = pyimage.cpython_layer()
    ffi = next(i.path for i in layer.items if "/libffi.so." in i.path)
    libz = next(i.path for i in layer.items if "/libz.so." in i.path)
    name = ffi.rpartition("/")[2]
    if how == "other library":
        items: list = [Whiteout(ffi), Symlink(ffi, libz.rpartition("/")[2])]
        why = f"/{libz} ({name}) does not define LIBFFI_"
    elif how == "moved":
        items = [Whiteout(ffi), Dir("opt/lib"), host_file(f"/{ffi}", f"opt/lib/{name}")]
        why = f"{name} is not where the loader looks (the image has it at /opt/lib/{name})"
    else:  # `rm libffi.so.8.1.2`: the libffi.so.8 link dangles, no library is left
        items = [Whiteout(ffi), Symlink(ffi, name + ".1.2")]
        why = f"{name} not found in the image"
    facts = scan(ImageSpec([layer, Layer(items, created_by="RUN ...")]))
    ctypes = f"/{LIB}/lib-dynload/{pyimage.so_name('_ctypes')}"
    errors = [
        (f.message, f.path)
        for f in findings(py002_stdlib_incomplete, facts)
        if f.severity.name == "ERROR"
    ]
    assert [p for _, p in errors] == [ctypes]
    assert errors[0][0].startswith(f"_ctypes of Python {V} cannot load: {why}")


def _pyc(source: pyimage.Path) -> bytes:
    """The bytes `compileall -b` writes for `source` (a legacy, sourceless .pyc)."""
    import importlib.util
    import marshal

    code = compile(source.read_bytes(), source.name, "exec")
    return importlib.util.MAGIC_NUMBER + b"\0" * 12 + marshal.dumps(code)


def test_sourceless_stdlib_is_a_stdlib(scan: Scan) -> None:
    """`python -m compileall -b` then the .py deleted (a mutated python:3.11-slim: the
    running image imports ssl, sqlite3, venv and ensurepip from the .pyc, `python -m venv`
    works): os.pyc is getpath's landmark as well as os.py, a package's `__init__.pyc`
    imports, and a `_sysconfigdata_*.pyc` cannot say which modules are built in."""
    sysconfigs = sorted(pyimage.HOST_STDLIB.glob("_sysconfigdata_*.py"))
    items: list = [
        Whiteout(f"{LIB}/os.py"),
        File(f"{LIB}/os.pyc", _pyc(pyimage.HOST_STDLIB / "os.py")),
    ]
    for path in sysconfigs:
        items += [Whiteout(f"{LIB}/{path.name}"), File(f"{LIB}/{path.name}c", _pyc(path))]
    for pkg in ("venv", "ensurepip"):
        init = pyimage.HOST_STDLIB / pkg / "__init__.py"
        items += [
            Whiteout(f"{LIB}/{pkg}/__init__.py"),
            File(f"{LIB}/{pkg}/__init__.pyc", _pyc(init)),
        ]
    sourceless = Layer(
        items, created_by="RUN python -m compileall -b ... && find -name '*.py' -delete"
    )
    facts = scan(ImageSpec([pyimage.cpython_layer(), sourceless]))
    [interp] = facts.pythons
    assert interp.stdlib == LIB
    states = {m.name: m.state for m in interp.modules}
    assert states["venv"] == states["ensurepip"] == "present"
    for name in sys.builtin_module_names:  # built in on the host: nothing in lib-dynload says so
        if name in states:
            assert states[name] == "unknown", name
    assert not [f for f in findings(py002_stdlib_incomplete, facts) if f.severity.name == "ERROR"]


@pytest.mark.parametrize(
    ("env", "cmd", "stops"),
    [
        (["PYTHONHOME=/opt/venv"], ["python", "/app/app.py"], True),  # the venv: no stdlib
        (["PYTHONHOME=/opt/python"], ["python", "/app/app.py"], True),  # not in the image
        ([f"PYTHONHOME=/{PREFIX}"], ["python", "/app/app.py"], False),  # its own prefix
        ([f"PYTHONHOME=/{PREFIX}:/opt/gone"], ["python", "/app/app.py"], False),
        (["PYTHONHOME=/opt/venv"], ["env", f"PYTHONHOME=/{PREFIX}", "python"], False),
    ],
)
def test_pythonhome_without_a_standard_library_stops_the_interpreter(
    scan: Scan, tmp_path: Path, env: list[str], cmd: list[str], stops: bool
) -> None:
    """`ENV PYTHONHOME=/opt/venv` beside a venv on PATH (python:3.11-slim, the venv made
    in the image): `docker run IMAGE` died with "Fatal Python error: init_fs_encoding:
    failed to get the Python codec of the filesystem encoding ... No module named
    'encodings'" (stdlib dir /opt/venv/lib/python3.11), and so did PYTHONHOME at a
    directory the image lacks; PY002 said nothing. With the interpreter's own prefix (and
    an exec_prefix after ':') it runs, and PY002 judges the prefix's files as before."""
    venv = Layer(
        [
            Dir("opt/venv"),
            File("opt/venv/pyvenv.cfg", f"home = /{PREFIX}/bin\nversion = {V}.0\n".encode()),
            Dir("opt/venv/bin"),
            Symlink("opt/venv/bin/python", f"/{PREFIX}/bin/python{V}"),
            Dir(f"opt/venv/lib/python{V}/site-packages"),
            File("app/app.py", b"print('hi')\n"),
        ],
        created_by="RUN python -m venv /opt/venv",
    )
    config = {"Env": [f"PATH=/opt/venv/bin:/{PREFIX}/bin:/usr/bin:/bin", *env], "Cmd": cmd}
    facts = scan(ImageSpec([pyimage.cpython_layer(), venv], config=config))
    errors = [f for f in findings(py002_stdlib_incomplete, facts) if f.severity.name == "ERROR"]
    home = env[0].partition("=")[2]
    if stops:
        [found] = errors
        assert found.message.startswith(
            f"{env[0]} (the image's Env): Python {V} at /{PREFIX}/bin/python{V} looks for its "
            f"standard library in {home}/lib/python{V}, which has no encodings package"
        )
        assert found.evidence["stdlib"] == f"{home}/lib/python{V}"
    else:
        assert errors == []
    # the rule is the interpreter's own: the host's python with PYTHONHOME at a directory
    # laid out as the venv is (lib/pythonX.Y/site-packages only) stops at start
    fake = tmp_path / "home"
    (fake / "lib" / f"python{V}" / "site-packages").mkdir(parents=True)
    for value, ok in [
        (str(fake), False),
        (sys.base_prefix, True),
        (f"{sys.base_prefix}:{fake}", True),
    ]:
        done = subprocess.run(
            [pyimage.HOST_EXECUTABLE, "-c", "import json"],
            env={"PYTHONHOME": value}, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert (done.returncode == 0) is ok, done.stderr
        if not ok:
            assert "No module named 'encodings'" in done.stderr
