"""ELF resolution and the ELF/wheel/compiler checks on factory images made of real host
ELF files: dependencies present, absent, under RPATH/RUNPATH/$ORIGIN, behind symlinks,
through ld.so.conf includes and LD_LIBRARY_PATH; corrupt ELF files; toolchains.

The Python extensions here are compiled by the host's gcc (factory.compiled_library)
with the links a source-built CPython leaves in its own (libsqlite3 or libz, and a
RUNPATH into the build prefix BUILD_LIB), so the tests do not depend on how the test
host's Python was built or where it lives."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from auditor.checks import ALL_CHECKS
from auditor.facts import Facts
from auditor.findings import Finding, Status
from auditor.loading import LoadOptions, load_image
from auditor.runner import run_checks
from tests.factory import (
    Dir,
    File,
    ImageSpec,
    Item,
    Layer,
    Symlink,
    build,
    compiled_library,
    host_file,
    write_docker_archive,
)

ML = "lib/x86_64-linux-gnu"
HOST_ML = "/usr/lib/x86_64-linux-gnu"
#: The RUNPATH a source build of CPython leaves in its extensions: its build prefix.
BUILD_LIB = "/opt/build-host/python3.11/lib"
HOST_GCC = os.path.realpath(shutil.which("gcc") or "/usr/bin/gcc")
ELF_CHECKS = {"EL001", "EL002", "EL003", "PK002", "PK003", "CC001", "CC002"}

pytestmark = pytest.mark.skipif(
    not (shutil.which("gcc") and os.path.exists(f"{HOST_ML}/libc.so.6")),
    reason="needs the host's glibc (x86_64 multiarch) and gcc (apt-get install gcc)",
)


def sqlite_ext() -> str:
    """An extension module like a source build's _sqlite3 (needs libsqlite3, libc)."""
    return str(compiled_library(["libsqlite3.so.0", "libc.so.6"], runpath=BUILD_LIB))


def zlib_ext() -> str:
    """An extension module like a source build's zlib (needs libz, libc)."""
    return str(compiled_library(["libz.so.1", "libc.so.6"], runpath=BUILD_LIB))


def glibc_base(lib_dir: str = ML) -> list[Item]:
    return [
        host_file(f"{HOST_ML}/libc.so.6", f"{lib_dir}/libc.so.6", 0o755),
        host_file(f"{HOST_ML}/libm.so.6", f"{lib_dir}/libm.so.6", 0o644),
        host_file(f"{HOST_ML}/ld-linux-x86-64.so.2", f"{lib_dir}/ld-linux-x86-64.so.2", 0o755),
        Symlink("lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
    ]


def scan(
    tmp_path: Path, *layers: list[Item], env: list[str] | None = None
) -> tuple[Facts, list[Finding]]:
    spec = ImageSpec(
        layers=[Layer(items, created_by=f"RUN step {i}") for i, items in enumerate(layers)],
        config={"Env": env or []},
    )
    archive = write_docker_archive(build(spec), tmp_path / "image.tar")
    loaded = load_image(str(archive), LoadOptions(use_cache=False, jobs=1))
    facts = Facts(loaded)
    outcome = run_checks([c for c in ALL_CHECKS if c.info.id in ELF_CHECKS], facts)
    errors = [r for r in outcome.results if r.status == Status.ERROR]
    assert not errors, errors
    return facts, outcome.findings


def summary(findings: list[Finding]) -> list[tuple[str, str | None, Any]]:
    out = []
    for f in findings:
        what = f.evidence.get("needed") or f.evidence.get("libraries")
        out.append((f.check_id, f.path, tuple(what) if isinstance(what, list) else what))
    return sorted(out)


def ls_layer(with_selinux: bool = True) -> list[Item]:
    items: list[Item] = [
        host_file("/usr/bin/ls", "usr/bin/ls", 0o755),
        host_file(f"{HOST_ML}/libpcre2-8.so.0", f"usr/{ML}/libpcre2-8.so.0"),
    ]
    if with_selinux:
        items.append(host_file(f"{HOST_ML}/libselinux.so.1", f"usr/{ML}/libselinux.so.1"))
    return items


def test_all_dependencies_present_gives_no_findings(tmp_path: Path) -> None:
    facts, findings = scan(tmp_path, glibc_base(), ls_layer())
    assert findings == []
    assert facts.elf_graph.resolved["usr/bin/ls"]["libselinux.so.1"] == (
        f"usr/{ML}/libselinux.so.1"
    )
    assert facts.glibc_version is not None and facts.glibc_version >= (2, 34)


def test_missing_library_names_elf_library_and_search_path(tmp_path: Path) -> None:
    _, findings = scan(tmp_path, glibc_base(), ls_layer(with_selinux=False))
    assert summary(findings) == [("EL001", "/usr/bin/ls", ("libselinux.so.1",))]
    f = findings[0]
    assert f.layer == 1 and f.created_by == "RUN step 1"
    assert f.evidence["searched"][:2] == ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"]
    assert "/usr/lib" in f.evidence["searched"]


def test_library_deleted_in_a_later_layer_is_missing(tmp_path: Path) -> None:
    from tests.factory import Whiteout

    _, findings = scan(tmp_path, glibc_base(), ls_layer(), [Whiteout(f"usr/{ML}/libselinux.so.1")])
    assert summary(findings) == [("EL001", "/usr/bin/ls", ("libselinux.so.1",))]


def test_a_dangling_link_is_not_the_library(tmp_path: Path) -> None:
    """`rm /usr/lib/x86_64-linux-gnu/libffi.so.8.1.2` in a mutated python:3.11-slim
    leaves the libffi.so.8 link dangling: the running image's loader says "cannot open
    shared object file", and EL001 said "not where the loader looks (the image has it
    at .../libffi.so.8)": the dangling link itself."""
    from tests.factory import Whiteout

    moved = [
        Whiteout(f"usr/{ML}/libselinux.so.1"),
        Symlink(f"usr/{ML}/libselinux.so.1", "libselinux.so.1.real"),
    ]
    _, findings = scan(tmp_path, glibc_base(), ls_layer(), moved)
    assert summary(findings) == [("EL001", "/usr/bin/ls", ("libselinux.so.1",))]
    assert findings[0].message.startswith("libselinux.so.1 is not in the image: ")
    assert findings[0].evidence["found_elsewhere"] == []


def test_missing_program_interpreter(tmp_path: Path) -> None:
    base = [i for i in glibc_base() if getattr(i, "path", "") != "lib64/ld-linux-x86-64.so.2"]
    _, findings = scan(tmp_path, base, ls_layer())
    assert summary(findings) == [("EL001", "/usr/bin/ls", ("/lib64/ld-linux-x86-64.so.2",))]


def test_merged_usr_symlinks_are_followed(tmp_path: Path) -> None:
    base = [Symlink("lib", "usr/lib"), *glibc_base(f"usr/{ML}")]
    _, findings = scan(tmp_path, base, ls_layer())
    assert findings == []


def test_python_extension_missing_library_names_the_import(tmp_path: Path) -> None:
    ext = "usr/local/lib/python3.11/lib-dynload/_sqlite3.cpython-311-x86_64-linux-gnu.so"
    _, findings = scan(tmp_path, glibc_base(), [host_file(sqlite_ext(), ext)])
    assert summary(findings) == [("EL001", "/" + ext, ("libsqlite3.so.0",))]
    assert findings[0].evidence["import"] == "_sqlite3"
    assert "`import _sqlite3` fails" in findings[0].message
    # the RUNPATH of the build host comes first in the search
    assert findings[0].evidence["searched"][0] == BUILD_LIB


@pytest.mark.parametrize(
    ("where", "severity"),
    [
        ("usr/bin/ls", "error"),  # on PATH: what a user or a script runs
        ("opt/venv/lib/python3.11/site-packages/tool/bin/ls", "warning"),  # a package's own
    ],
)
def test_a_program_inside_a_package_directory_is_a_warning(
    tmp_path: Path, where: str, severity: str
) -> None:
    """torch ships test binaries in site-packages/torch/bin whose RUNPATH misses torch/lib:
    they do not start (the loader agrees), but nothing puts them on a PATH; whether
    anything runs them, the files cannot tell."""
    pcre = host_file(f"{HOST_ML}/libpcre2-8.so.0", f"usr/{ML}/libpcre2-8.so.0")
    items = [host_file("/usr/bin/ls", where, 0o755), pcre]
    _, findings = scan(tmp_path, glibc_base(), items)
    assert [(f.path, str(f.severity)) for f in findings] == [("/" + where, severity)]
    assert f"/{where} does not start" in findings[0].message


@pytest.mark.parametrize(
    ("module", "severity"),
    [
        ("_sq", "error"),  # top-level: `import _sq`
        ("pkg._sq", "error"),  # what its package is (cv2.cv2, psycopg2._psycopg)
        ("pkg.np.ufunc._sq", "warning"),  # numba.np.ufunc.omppool: an optional layer
    ],
)
def test_an_extension_module_is_named_and_judged_by_its_depth(
    tmp_path: Path, module: str, severity: str
) -> None:
    """The finding names the module whose import fails, as `python -c "import X"` would
    confirm; `import numba` works without libgomp and libtbb, only its optional
    threading layers (numba/np/ufunc/omppool, tbbpool) fail, so a module deeper in a
    package than its first level is a warning."""
    sp = "usr/local/lib/python3.11/site-packages"
    ext = f"{sp}/{module.replace('.', '/')}.cpython-311-x86_64-linux-gnu.so"
    _, findings = scan(tmp_path, glibc_base(), [host_file(sqlite_ext(), ext)])
    assert [(f.path, str(f.severity)) for f in findings] == [("/" + ext, severity)]
    assert f"`import {module}` fails (/{ext})" in findings[0].message
    assert findings[0].evidence["import"] == module


def sqlite_items(lib_path: str) -> list[Item]:
    return [
        host_file(sqlite_ext(), "app/_sqlite3.so"),
        host_file(f"{HOST_ML}/libsqlite3.so.0", lib_path),
    ]


@pytest.mark.parametrize(
    ("lib_path", "extra", "env", "resolved"),
    [
        # DT_RUNPATH of the extension (the prefix it was built with)
        (f"{BUILD_LIB[1:]}/libsqlite3.so.0", [], [], None),
        # (/etc/ld.so.conf directories count only through /etc/ld.so.cache: see
        # tests/test_elf_loader_cache.py)
        # LD_LIBRARY_PATH from the image config
        ("opt/other/libsqlite3.so.0", [], ["LD_LIBRARY_PATH=/opt/none:/opt/other"], None),
        # behind a symlinked directory and a soname symlink
        (
            "opt/real/libsqlite3.so.0.8.6",
            [
                Symlink(f"usr/{ML}", "/opt/real"),
                Symlink("opt/real/libsqlite3.so.0", "libsqlite3.so.0.8.6"),
            ],
            [],
            "opt/real/libsqlite3.so.0.8.6",
        ),
    ],
)
def test_search_path_sources(
    tmp_path: Path, lib_path: str, extra: list[Item], env: list[str], resolved: str | None
) -> None:
    facts, findings = scan(tmp_path, glibc_base(), sqlite_items(lib_path) + extra, env=env)
    assert [f for f in findings if f.check_id == "EL001"] == []
    assert facts.elf_graph.resolved["app/_sqlite3.so"]["libsqlite3.so.0"] == (resolved or lib_path)


def test_ld_so_conf_without_include_does_not_find_it(tmp_path: Path) -> None:
    items = [*sqlite_items("opt/sqlite/lib/libsqlite3.so.0"), File("etc/ld.so.conf", b"/opt/x\n")]
    _, findings = scan(tmp_path, glibc_base(), items)
    assert summary(findings) == [("EL001", "/app/_sqlite3.so", ("libsqlite3.so.0",))]


def patched_runpath(new: bytes) -> bytes:
    """The real _sqlite3 extension with its RUNPATH string replaced (same length)."""
    data = Path(sqlite_ext()).read_bytes()
    old = BUILD_LIB.encode() + b"\0"
    assert data.count(old) == 1 and len(new) < len(old)
    return data.replace(old, new.ljust(len(old), b"\0"))


def test_origin_runpath_finds_the_vendored_library(tmp_path: Path) -> None:
    sp = "venv/lib/python3.11/site-packages"
    ext = f"{sp}/sqlitepkg/_sqlite3.cpython-311-x86_64-linux-gnu.so"
    record = (
        b"sqlitepkg/_sqlite3.cpython-311-x86_64-linux-gnu.so,,\n"
        b"sqlitepkg.libs/libsqlite3.so.0,,\nsqlitepkg-1.0.dist-info/RECORD,,\n"
    )
    items: list[Item] = [
        File(ext, patched_runpath(b"$ORIGIN/../sqlitepkg.libs")),
        host_file(f"{HOST_ML}/libsqlite3.so.0", f"{sp}/sqlitepkg.libs/libsqlite3.so.0"),
        File(f"{sp}/sqlitepkg-1.0.dist-info/METADATA", b"Name: sqlitepkg\nVersion: 1.0\n"),
        File(f"{sp}/sqlitepkg-1.0.dist-info/RECORD", record),
        File(f"{sp}/sqlitepkg-1.0.dist-info/WHEEL", b"Tag: cp311-cp311-manylinux_2_17_x86_64\n"),
    ]
    facts, findings = scan(tmp_path, glibc_base(), items)
    assert findings == []
    assert facts.elf_graph.resolved[ext]["libsqlite3.so.0"] == (
        f"{sp}/sqlitepkg.libs/libsqlite3.so.0"
    )
    assert facts.owners.python_distribution(ext) == "sqlitepkg"


def wheel(name: str, ext_src: str, ext_name: str, tag: str) -> list[Item]:
    sp = "venv/lib/python3.11/site-packages"
    record = f"{name}/{ext_name},,\n{name}-1.0.dist-info/RECORD,,\n".encode()
    return [
        host_file(ext_src, f"{sp}/{name}/{ext_name}"),
        File(f"{sp}/{name}-1.0.dist-info/METADATA", f"Name: {name}\nVersion: 1.0\n".encode()),
        File(f"{sp}/{name}-1.0.dist-info/RECORD", record),
        File(f"{sp}/{name}-1.0.dist-info/WHEEL", f"Tag: {tag}\n".encode()),
    ]


def test_wheel_needing_an_external_system_library(tmp_path: Path) -> None:
    items = wheel(
        "sq", sqlite_ext(), "_sq.cpython-311-x86_64-linux-gnu.so", "cp311-cp311-linux_x86_64"
    )
    items.append(host_file(f"{HOST_ML}/libsqlite3.so.0", f"usr/{ML}/libsqlite3.so.0"))
    _, findings = scan(tmp_path, glibc_base(), items)
    ext = "/venv/lib/python3.11/site-packages/sq/_sq.cpython-311-x86_64-linux-gnu.so"
    assert summary(findings) == [("PK002", ext, ("libsqlite3.so.0",))]
    assert findings[0].evidence["kind"] == "external"
    assert findings[0].evidence["distribution"] == "sq"


@pytest.mark.parametrize(
    ("installer", "flagged"), [("conda", False), ("rpm", False), ("pip", True)]
)
def test_a_package_managers_distribution_may_need_system_libraries(
    tmp_path: Path, installer: str, flagged: bool
) -> None:
    """A conda or RPM package's extension links against libraries of the same package
    manager by design (INSTALLER `conda`, `rpm`): it is not a wheel to be judged as
    self-contained. The same files installed by pip are (the test above)."""
    sp = "venv/lib/python3.11/site-packages"
    items = wheel(
        "sq", sqlite_ext(), "_sq.cpython-311-x86_64-linux-gnu.so", "cp311-cp311-linux_x86_64"
    )
    items.append(File(f"{sp}/sq-1.0.dist-info/INSTALLER", f"{installer}\n".encode()))
    items.append(host_file(f"{HOST_ML}/libsqlite3.so.0", f"usr/{ML}/libsqlite3.so.0"))
    facts, findings = scan(tmp_path, glibc_base(), items)
    ext = f"{sp}/sq/_sq.cpython-311-x86_64-linux-gnu.so"
    assert facts.owners.python_distribution(ext) == "sq"
    assert facts.owners.package_manager(ext) == (None if flagged else installer)
    assert [f.check_id for f in findings] == (["PK002"] if flagged else [])


def test_a_library_the_wheel_carries_where_the_loader_does_not_look(tmp_path: Path) -> None:
    """torch's test binaries need libc10.so, which the wheel carries in torch/lib, but
    their RUNPATH is $ORIGIN (torch/bin): the loader misses it (EL001 says where it is),
    and nothing is needed from the system (no PK002)."""
    sp = "venv/lib/python3.11/site-packages"
    items = wheel(
        "sq", sqlite_ext(), "_sq.cpython-311-x86_64-linux-gnu.so", "cp311-cp311-linux_x86_64"
    )
    items.append(host_file(f"{HOST_ML}/libsqlite3.so.0", f"{sp}/sq/lib/libsqlite3.so.0"))
    _, findings = scan(tmp_path, glibc_base(), items)
    assert [f.check_id for f in findings] == ["EL001"]
    assert f"the image has it at /{sp}/sq/lib/libsqlite3.so.0" in findings[0].message


def test_wheel_needing_an_allowed_library_the_image_lacks(tmp_path: Path) -> None:
    items = wheel(
        "zz", zlib_ext(), "zz.cpython-311-x86_64-linux-gnu.so", "cp311-cp311-manylinux_2_17_x86_64"
    )
    _, findings = scan(tmp_path, glibc_base(), items)
    ext = "/venv/lib/python3.11/site-packages/zz/zz.cpython-311-x86_64-linux-gnu.so"
    assert summary(findings) == [("EL001", ext, ("libz.so.1",)), ("PK002", ext, ("libz.so.1",))]
    el001 = next(f for f in findings if f.check_id == "EL001")
    assert el001.evidence["python_distribution"] == "zz"
    assert el001.evidence["import"] == "zz.zz"
    assert next(f for f in findings if f.check_id == "PK002").evidence["kind"] == (
        "allowed-but-absent"
    )


def test_wheel_tagged_for_a_newer_glibc(tmp_path: Path) -> None:
    items = wheel(
        "zz", zlib_ext(), "zz.cpython-311-x86_64-linux-gnu.so", "cp311-cp311-manylinux_2_99_x86_64"
    )
    items.append(host_file(f"{HOST_ML}/libz.so.1", f"usr/{ML}/libz.so.1"))
    _, findings = scan(tmp_path, glibc_base(), items)
    assert [(f.check_id, f.path) for f in findings] == [
        ("PK003", "/venv/lib/python3.11/site-packages/zz-1.0.dist-info")
    ]
    assert findings[0].evidence["tags"] == ["cp311-cp311-manylinux_2_99_x86_64"]


def test_symbol_version_not_defined_by_the_resolved_library(tmp_path: Path) -> None:
    libc = Path(f"{HOST_ML}/libc.so.6").read_bytes()
    assert libc.count(b"GLIBC_2.34\0") == 1
    old_libc = libc.replace(b"GLIBC_2.34\0", b"GLIBC_X.34\0")
    base = [File(f"{ML}/libc.so.6", old_libc, 0o755), *glibc_base()[1:]]
    _, findings = scan(tmp_path, base, ls_layer())
    # one finding for the library that lacks the version, naming everything that needs it
    got = [(f.check_id, f.path, f.paths, tuple(f.evidence["versions"])) for f in findings]
    assert got == [
        ("EL002", "/usr/bin/ls", (f"/usr/{ML}/libselinux.so.1",), ("GLIBC_2.34",)),
    ]
    assert findings[0].evidence["resolved"] == f"/{ML}/libc.so.6"
    assert findings[0].message.endswith("/usr/bin/ls does not start")


def test_glibc_binary_in_a_musl_image(tmp_path: Path) -> None:
    base = [File("lib/ld-musl-x86_64.so.1", b"not a real loader", 0o755)]
    _, findings = scan(tmp_path, base, [host_file("/usr/bin/ls", "usr/bin/ls", 0o755)])
    checks = sorted({f.check_id for f in findings})
    assert checks == ["EL001", "EL003"]
    el003 = [f for f in findings if f.check_id == "EL003"]
    assert [(f.path, f.evidence["elf_libc"]) for f in el003] == [("/usr/bin/ls", "glibc")]


@pytest.mark.parametrize("cut", [3, 16, 100, 5000])
def test_truncated_and_corrupt_elf_scan_cleanly(tmp_path: Path, cut: int) -> None:
    data = Path(f"{HOST_ML}/libselinux.so.1").read_bytes()
    garbage = b"\x7fELF" + bytes(range(256)) * 8
    items: list[Item] = [
        *ls_layer(),
        File("opt/broken/libtrunc.so", data[:cut]),
        File("opt/broken/garbage.so", garbage),
    ]
    facts, findings = scan(tmp_path, glibc_base(), items)
    assert findings == []
    assert set(facts.elf_graph.errors) >= {"opt/broken/garbage.so"}


def test_compiler_toolchain_from_dpkg(tmp_path: Path) -> None:
    gcc = host_file(HOST_GCC, "usr/bin/x86_64-linux-gnu-gcc-12", 0o755)
    make = host_file("/usr/bin/make", "usr/bin/make", 0o755)
    items: list[Item] = [
        gcc,
        Symlink("usr/bin/gcc-12", "x86_64-linux-gnu-gcc-12"),
        Symlink("usr/bin/gcc", "gcc-12"),
        make,
        Dir("var/lib/dpkg/info"),
        File(
            "var/lib/dpkg/info/gcc-12.list",
            b"/.\n/usr\n/usr/bin\n/usr/bin/gcc-12\n/usr/bin/x86_64-linux-gnu-gcc-12\n",
        ),
        File("var/lib/dpkg/info/gcc.list", b"/.\n/usr/bin/gcc\n"),
        File("var/lib/dpkg/info/make.list", b"/.\n/usr/bin/make\n"),
        host_file("/usr/include/stdio.h", "usr/include/stdio.h"),
    ]
    facts, findings = scan(tmp_path, glibc_base(), ls_layer(), items)
    assert facts.compilers.present
    cc001 = [
        (f.evidence["toolchain"], f.evidence["packages"], f.bytes)
        for f in findings
        if f.check_id == "CC001"
    ]
    assert cc001 == [  # one per toolchain: gcc's package joins gcc-12's C compiler
        ("C/C++ compiler", ["gcc", "gcc-12"], len(gcc.data)),
        ("make/autotools", ["make"], len(make.data)),
    ]
    c = next(f for f in findings if f.check_id == "CC001")
    assert c.layer == 2 and c.created_by == "RUN step 2"
    assert c.evidence["tools"] == [
        "/usr/bin/gcc",
        "/usr/bin/gcc-12",
        "/usr/bin/x86_64-linux-gnu-gcc-12",
    ]
    cc002 = [(f.path, f.bytes) for f in findings if f.check_id == "CC002"]
    assert cc002 == [("/usr/include", os.path.getsize("/usr/include/stdio.h"))]


def test_no_toolchain_passes(tmp_path: Path) -> None:
    facts, findings = scan(tmp_path, glibc_base(), ls_layer())
    assert not facts.compilers.present and findings == []


def _dynamic_tag_offsets(data: bytes, tag: int) -> list[int]:
    """File offsets of the 64-bit little-endian dynamic entries with `tag`."""
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phnum = struct.unpack_from("<H", data, 0x38)[0]
    out = []
    for i in range(phnum):
        p_type, _, off, _, _, size, _, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + i * 56)
        if p_type == 2:
            for j in range(size // 16):
                if struct.unpack_from("<q", data, off + j * 16)[0] == tag:
                    out.append(off + j * 16)
    return out


def with_rpath_instead_of_runpath(data: bytes) -> bytes:
    """The same ELF with its DT_RUNPATH entry turned into a DT_RPATH (15)."""
    (at,) = _dynamic_tag_offsets(data, 29)
    patched = bytearray(data)
    struct.pack_into("<q", patched, at, 15)
    return bytes(patched)


@pytest.mark.parametrize("kind", ["rpath", "runpath"])
def test_rpath_is_inherited_by_dependencies_runpath_is_not(tmp_path: Path, kind: str) -> None:
    """_sqlite3 -> libsqlite3.so.0 -> libm.so.6, with libm only in the extension's
    search path /opt/dep/lib: found for libsqlite3 through an inherited DT_RPATH,
    not through a DT_RUNPATH (ld.so applies RUNPATH to the object's own needs only)."""
    ext = patched_runpath(b"/opt/dep/lib")
    if kind == "rpath":
        ext = with_rpath_instead_of_runpath(ext)
    base = [i for i in glibc_base() if getattr(i, "path", "") != f"{ML}/libm.so.6"]
    items: list[Item] = [
        File("app/_sqlite3.so", ext),
        host_file(f"{HOST_ML}/libsqlite3.so.0", "opt/dep/lib/libsqlite3.so.0"),
        host_file(f"{HOST_ML}/libm.so.6", "opt/dep/lib/libm.so.6"),
    ]
    facts, _ = scan(tmp_path, base, items)
    graph = facts.elf_graph
    assert graph.resolved["app/_sqlite3.so"]["libsqlite3.so.0"] == "opt/dep/lib/libsqlite3.so.0"
    if kind == "rpath":
        assert "app/_sqlite3.so" not in graph.unresolved_tree
    else:
        assert graph.unresolved_tree["app/_sqlite3.so"] == {
            "libm.so.6": "opt/dep/lib/libsqlite3.so.0"
        }
    # libsqlite3 is loaded by the extension: judged in that tree only, never as a root
    assert "opt/dep/lib/libsqlite3.so.0" not in graph.trees


def test_lib_token_expands_to_the_multiarch_directory(tmp_path: Path) -> None:
    items: list[Item] = [
        File("app/_sqlite3.so", patched_runpath(b"/opt/x/$LIB")),
        host_file(f"{HOST_ML}/libsqlite3.so.0", f"opt/x/{ML}/libsqlite3.so.0"),
    ]
    facts, findings = scan(tmp_path, glibc_base(), items)
    assert findings == []
    assert facts.elf_graph.resolved["app/_sqlite3.so"]["libsqlite3.so.0"] == (
        f"opt/x/{ML}/libsqlite3.so.0"
    )


def test_a_library_for_another_machine_is_skipped(tmp_path: Path) -> None:
    """A candidate of the wrong machine earlier in the path (an aarch64 libsqlite3 in
    the RUNPATH directory) is skipped as ld.so skips it; the next one is used."""
    foreign = bytearray(Path(f"{HOST_ML}/libsqlite3.so.0").read_bytes())
    struct.pack_into("<H", foreign, 0x12, 183)  # e_machine = EM_AARCH64
    items: list[Item] = [
        host_file(sqlite_ext(), "app/_sqlite3.so"),
        File(f"{BUILD_LIB[1:]}/libsqlite3.so.0", bytes(foreign)),
        host_file(f"{HOST_ML}/libsqlite3.so.0", f"usr/{ML}/libsqlite3.so.0"),
    ]
    facts, findings = scan(tmp_path, glibc_base(), items)
    # the aarch64 library nothing loads finds no aarch64 libc/libm: it never runs on this
    # amd64 image, so each library it lacks is an info finding
    foreign_path = f"{BUILD_LIB}/libsqlite3.so.0"
    assert summary(findings) == [
        ("EL001", foreign_path, ("libc.so.6",)),
        ("EL001", foreign_path, ("libm.so.6",)),
    ]
    assert {str(f.severity) for f in findings} == {"info"}
    assert facts.elf_graph.resolved["app/_sqlite3.so"]["libsqlite3.so.0"] == (
        f"usr/{ML}/libsqlite3.so.0"
    )


def musl_ls() -> bytes:
    """The host's ls with its PT_INTERP pointing at musl's loader (same length, padded)."""
    data = Path("/usr/bin/ls").read_bytes()
    old = b"/lib64/ld-linux-x86-64.so.2\0"
    assert data.count(old) == 1
    return data.replace(old, b"/lib/ld-musl-x86_64.so.1".ljust(len(old), b"\0"))


def test_musl_search_path_and_its_path_file(tmp_path: Path) -> None:
    """A musl program searches /lib, /usr/local/lib, /usr/lib (not glibc's multiarch
    directories), or what /etc/ld-musl-x86_64.path lists."""
    libs: list[Item] = [
        File("lib/ld-musl-x86_64.so.1", b"loader", 0o755),
        File("usr/bin/ls", musl_ls(), 0o755),
        host_file(f"{HOST_ML}/libc.so.6", "opt/l/libc.so.6"),
        host_file(f"{HOST_ML}/libselinux.so.1", "opt/l/libselinux.so.1"),
        host_file(f"{HOST_ML}/libpcre2-8.so.0", "opt/l/libpcre2-8.so.0"),
        host_file(f"{HOST_ML}/ld-linux-x86-64.so.2", "opt/l/ld-linux-x86-64.so.2"),
    ]
    facts, _ = scan(tmp_path, libs)
    # (the loader here is a stand-in text file: an "interp" failure of its own)
    missing = [f for f in facts.elf_graph.trees["usr/bin/ls"].failures if f.kind == "missing"]
    assert [(m.name, m.searched) for m in missing] == [
        ("libselinux.so.1", ("/lib", "/usr/local/lib", "/usr/lib")),
        ("libc.so.6", ("/lib", "/usr/local/lib", "/usr/lib")),
    ]
    facts, _ = scan(tmp_path, libs, [File("etc/ld-musl-x86_64.path", b"/opt/l\n/usr/lib\n")])
    failures = facts.elf_graph.trees["usr/bin/ls"].failures
    assert [f.kind for f in failures] == ["interp"]  # only the stand-in loader
    assert facts.elf_graph.resolved["usr/bin/ls"]["libc.so.6"] == "opt/l/libc.so.6"


def test_glibc_version_from_dpkg_when_libc_is_unreadable(tmp_path: Path) -> None:
    status = (
        b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n"
        b"Version: 2.31-13+deb11u5\n\nPackage: zlib1g\nStatus: install ok installed\n"
        b"Version: 1:1.2.11.dfsg-2\n"
    )
    items: list[Item] = [
        File(f"{ML}/libc.so.6", b"\x7fELF" + b"\0" * 40),
        File("var/lib/dpkg/status", status),
    ]
    facts, _ = scan(tmp_path, items)
    assert facts.glibc_version == (2, 31)


def test_tool_outside_dpkg_and_python_headers(tmp_path: Path) -> None:
    """A build tool no package owns (a cmake copied into /usr/local/bin) is reported
    with its own size; Python.h in /usr/local/include/python3.11 is CPython's own header
    directory, named as such (not "/usr/include")."""
    cmake = host_file("/usr/bin/make", "usr/local/bin/cmake", 0o755)
    header = host_file("/usr/include/stdio.h", "usr/local/include/python3.11/Python.h")
    facts, findings = scan(tmp_path, glibc_base(), [cmake, header])
    got = sorted((f.check_id, f.path, f.bytes) for f in findings if f.check_id != "EL001")
    assert got == [
        ("CC001", "/usr/local/bin/cmake", len(cmake.data)),
        ("CC002", "/usr/local/include/python3.11", len(header.data)),
    ]
    (cc002,) = (f for f in findings if f.check_id == "CC002")
    assert cc002.message == (
        "CPython's own headers: 1 file in /usr/local/include/python3.11 (Python.h)"
    )
    assert str(cc002.severity) == "info"
    assert [t.name for t in facts.compilers.tools] == ["cmake"]
