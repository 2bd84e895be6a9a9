"""Load trees on factory images, each rule checked against the real loader.

Every image here is small: the host's glibc (libc.so.6 and its loader) plus libraries
and programs compiled for the case (tests/support/elfbuild.py). Each image is also
extracted to a directory, and the host's loader, chrooted into it, judges every root:
in trace mode (`LD_TRACE_LOADED_OBJECTS=1`, what ldd runs) for programs and libraries,
and by a stand-in interpreter that dlopen()s extension modules as `import` does. What
imgaudit says fails must be what the loader says fails (tests/support/loaderoracle.py).
"""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from auditor.checks import ALL_CHECKS
from auditor.facts import Facts
from auditor.facts.elfgraph import EXTENSION, LIBRARY, MISSING, PROGRAM, UNLOADABLE
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
    host_file,
    layer_tar,
    write_docker_archive,
)
from tests.support.elfbuild import Built, program, shared_library
from tests.support.loaderoracle import (
    Verdict,
    agree,
    ld_list,
    materialize,
    parse_dlopen,
    run_in_root,
    verdict_of,
)

ML = "usr/lib/x86_64-linux-gnu"
HOST_LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
HOST_LOADER = "/lib64/ld-linux-x86-64.so.2"
SITE = "usr/local/lib/python3.11/site-packages"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(HOST_LIBC) and os.path.exists(HOST_LOADER)),
    reason="needs the host's x86-64 glibc",
)

BASE_C = "int base(void) { return 1; }"
MID_C = "int base(void); int mid(void) { return base() + 1; }"
MAIN_MID = "int mid(void); int main(void) { return mid() == 2 ? 0 : 1; }"
MAIN_BASE = "int base(void); int main(void) { return base() == 1 ? 0 : 1; }"
# the stand-in interpreter: dlopen()s each argument as `import` does (RTLD_NOW)
DLOPEN_C = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!dlopen(argv[i], RTLD_NOW)) { printf("ImportError: %s\n", dlerror()); return 3; }
    }
    return 0;
}
"""


def glibc() -> list[Item]:
    """The host's C library where Debian keeps it (merged /usr), and os-release."""
    return [
        Symlink("lib", "usr/lib"),
        host_file(HOST_LIBC, f"{ML}/libc.so.6", 0o755),
        host_file(HOST_LOADER, f"{ML}/ld-linux-x86-64.so.2", 0o755),
        Dir("usr/lib64"),
        Symlink("lib64", "usr/lib64"),
        Symlink("usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
        File("etc/os-release", b"ID=debian\nVERSION_ID=12\n"),
    ]


def lib(path: str, built: Built | bytes) -> File:
    return File(path, built.data if isinstance(built, Built) else built, 0o644)


def exe(path: str, built: Built) -> File:
    return File(path, built.data, 0o755)


class Scanned:
    """An image scanned by imgaudit and extracted for the loader."""

    def __init__(self, tmp: Path, items: list[Item], env: list[str] | None = None) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        spec = ImageSpec(layers=[Layer(items, created_by="RUN build")], config={"Env": env or []})
        built = build(spec)
        archive = write_docker_archive(built, tmp / "image.tar")
        self.facts = Facts(load_image(str(archive), LoadOptions(use_cache=False, jobs=1)))
        self.root = materialize([layer_tar(ly) for ly in spec.layers], tmp / "root")
        outcome = run_checks(
            [c for c in ALL_CHECKS if c.info.id in {"EL001", "EL002", "PK002"}], self.facts
        )
        assert not [r for r in outcome.results if r.status == Status.ERROR], outcome.results
        self.findings: list[Finding] = outcome.findings

    @property
    def trees(self) -> Any:
        return self.facts.elf_graph.trees

    def loader_says(self) -> dict[str, Verdict]:
        """The real loader's verdict on every root imgaudit found."""
        trees = self.trees
        judged = {r: t for r, t in trees.items() if not t.foreign}  # no loader here for those
        out = ld_list(self.root, [r for r, t in judged.items() if t.kind != EXTENSION])
        for root, tree in judged.items():
            if tree.kind == EXTENSION:
                assert tree.interpreter is not None, root
                done = run_in_root(self.root, ["/" + tree.interpreter, "/" + root])
                out[root] = parse_dlopen(done.returncode, done.stdout.strip())
        return out

    def agree_with_loader(self) -> dict[str, Verdict]:
        """Assert imgaudit and the loader agree on every root; the loader's verdicts."""
        theirs = self.loader_says()
        differ = {
            root: (verdict_of(tree), theirs[root])
            for root, tree in self.trees.items()
            if not tree.foreign
            and not agree(verdict_of(tree), theirs[root], tree.kind == EXTENSION, self.root)
        }
        assert differ == {}, "\n".join(
            f"/{r}\n  imgaudit: {o}\n  loader:   {t}" for r, (o, t) in sorted(differ.items())
        )
        return theirs

    def el001(self) -> dict[str, Finding]:
        return {
            f.evidence["library"] if f.evidence["kind"] != UNLOADABLE else f.evidence["file"]: f
            for f in self.findings
            if f.check_id == "EL001"
        }


requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="the loader oracle chroots")


@pytest.fixture(scope="module")
def parts() -> dict[str, Built]:
    base = shared_library("libiabase.so.1", BASE_C)
    mid = shared_library("libiamid.so.1", MID_C, needs=[base])
    return {"base": base, "mid": mid}


@requires_root
def test_rpath_is_inherited_down_the_loader_chain_runpath_is_not(
    tmp_path: Path, parts: dict[str, Built]
) -> None:
    """libmid (no search path of its own) finds libbase through its loader's DT_RPATH,
    not through its loader's DT_RUNPATH."""
    dirs = "/opt/mid:/opt/dep"
    items = [
        *glibc(),
        lib("opt/dep/libiabase.so.1", parts["base"]),
        lib("opt/mid/libiamid.so.1", parts["mid"]),
        exe("usr/bin/app-rpath", program("app", MAIN_MID, [parts["mid"]], rpath=dirs)),
        exe("usr/bin/app-runpath", program("app", MAIN_MID, [parts["mid"]], runpath=dirs)),
    ]
    image = Scanned(tmp_path, items)
    image.agree_with_loader()
    trees = image.trees
    assert trees["usr/bin/app-rpath"].failures == ()
    assert trees["usr/bin/app-rpath"].binding("opt/mid/libiamid.so.1", "libiabase.so.1") == (
        "opt/dep/libiabase.so.1"
    )
    (failure,) = trees["usr/bin/app-runpath"].failures
    assert (failure.kind, failure.name, failure.needed_by) == (
        MISSING,
        "libiabase.so.1",
        "opt/mid/libiamid.so.1",
    )
    assert "opt/mid/libiamid.so.1" not in trees  # judged in its loaders' trees, never alone
    (finding,) = image.findings
    assert finding.path == "/usr/bin/app-runpath" and str(finding.severity) == "error"
    assert finding.message == (
        "libiabase.so.1 is not where the loader looks (the image has it at "
        "/opt/dep/libiabase.so.1): /usr/bin/app-runpath does not start"
    )
    assert "/opt/dep/libiabase.so.1" in finding.remedy


@requires_root
def test_a_name_is_satisfied_by_the_soname_of_an_object_already_loaded(
    tmp_path: Path, parts: dict[str, Built]
) -> None:
    """libbase's file is only there as libiaalias.so.1 (its DT_SONAME says libiabase.so.1):
    once loaded under that name, libmid's need for libiabase.so.1 is that object."""
    alias = shared_library("libiaalias.so.1", BASE_C)  # what the program was linked against
    main = "int base(void); int mid(void); int main(void) { return base() + mid(); }"
    app = program("app", main, [alias, parts["mid"]], runpath="/opt/a")
    items = [
        *glibc(),
        lib("opt/a/libiaalias.so.1", parts["base"]),  # the file, with DT_SONAME libiabase.so.1
        lib("opt/a/libiamid.so.1", parts["mid"]),
        exe("usr/bin/app", app),
    ]
    image = Scanned(tmp_path, items)
    image.agree_with_loader()
    tree = image.trees["usr/bin/app"]
    assert tree.failures == ()
    assert tree.binding("opt/a/libiamid.so.1", "libiabase.so.1") == "opt/a/libiaalias.so.1"


@requires_root
@pytest.mark.parametrize("kind", ["rpath", "runpath"])
def test_extension_modules_are_judged_as_their_interpreter_dlopens_them(
    tmp_path: Path, parts: dict[str, Built], kind: str
) -> None:
    """An extension module inherits what its interpreter has loaded (libpre) and the
    interpreter's DT_RPATH (glibc searches the program's RPATH for every lookup), not
    its DT_RUNPATH."""
    pre = shared_library("libiapre.so.1", "int pre(void) { return 3; }")
    paths = {kind: "/opt/py/lib:/opt/py/rp"}
    python = program("python3.11", "int pre(void);\n" + DLOPEN_C, [pre], flags=["-ldl"], **paths)
    uses_pre = shared_library(
        "_pre.cpython-311-x86_64-linux-gnu.so",
        "int pre(void); int f(void) { return pre(); }",
        [pre],
    )
    uses_base = shared_library(
        "_base.cpython-311-x86_64-linux-gnu.so", MAIN_BASE.replace("main", "f"), [parts["base"]]
    )
    items = [
        *glibc(),
        exe("usr/local/bin/python3.11", python),
        File("usr/local/lib/python3.11/os.py", b"# the stdlib marker\n"),
        lib("opt/py/lib/libiapre.so.1", pre),
        lib("opt/py/rp/libiabase.so.1", parts["base"]),
        lib(f"{SITE}/pkg/_pre.cpython-311-x86_64-linux-gnu.so", uses_pre),
        lib(f"{SITE}/pkg/_base.cpython-311-x86_64-linux-gnu.so", uses_base),
    ]
    image = Scanned(tmp_path, items)
    theirs = image.agree_with_loader()
    trees = image.trees
    pre_tree = trees[f"{SITE}/pkg/_pre.cpython-311-x86_64-linux-gnu.so"]
    base_tree = trees[f"{SITE}/pkg/_base.cpython-311-x86_64-linux-gnu.so"]
    assert (pre_tree.kind, pre_tree.interpreter) == (EXTENSION, "usr/local/bin/python3.11")
    assert pre_tree.failures == ()  # found as already loaded: not on any search path
    if kind == "rpath":
        assert base_tree.failures == () and theirs[base_tree.root].ok
    else:
        assert [f.name for f in base_tree.failures] == ["libiabase.so.1"]
        (finding,) = image.findings
        # the image has it, where the loader does not look for this module
        expected = (
            "libiabase.so.1 is not where the loader looks (the image has it at "
            "/opt/py/rp/libiabase.so.1): `import pkg._base` fails"
        )
        assert finding.message.startswith(expected)
        assert finding.evidence["roots"][0]["interpreter"] == "/usr/local/bin/python3.11"


def _damage(data: bytes, how: str) -> bytes:
    if how == "truncated":
        return data[:3000]  # header and program headers whole, segments cut: SIGBUS
    if how == "random":
        return random.Random(15).randbytes(4096)
    if how == "short":
        return b"\x7fELF\x02\x01"
    if how == "version":  # a well-formed identification, then a zero e_version
        return data[:16] + bytes(48)
    raise AssertionError(how)


@requires_root
def test_a_file_found_but_unloadable_stops_the_search(
    tmp_path: Path, parts: dict[str, Built]
) -> None:
    """Found in the first directory but not loadable: the loader stops there (the good
    copy in the next directory is never tried), or dies with SIGBUS. A file of another
    class or machine is passed over instead, and the next directory's copy is used."""
    main_x = "int base(void); int main(void) { return base(); }"
    items: list[Item] = [*glibc()]
    expected: dict[str, str] = {}
    for how, reason in [
        ("truncated", "SIGBUS"),
        ("random", "invalid ELF header"),
        ("short", "file too short"),
        ("version", "ELF file version does not match current one"),
        ("directory", "cannot read file data: Error 21"),
        ("pie", "cannot dynamically load position-independent executable"),
    ]:
        soname = f"libia{how}.so.1"
        good = shared_library(soname, BASE_C)
        app = program(f"app-{how}", main_x, [good], runpath="/opt/bad:/opt/good")
        items.append(exe(f"usr/bin/app-{how}", app))
        items.append(lib(f"opt/good/{soname}", good))
        if how == "directory":
            items.append(Dir(f"opt/bad/{soname}"))
        elif how == "pie":  # a program (not executable here: never run as one)
            items.append(File(f"opt/bad/{soname}", app.data, 0o644))
        else:
            items.append(lib(f"opt/bad/{soname}", _damage(good.data, how)))
        expected[f"usr/bin/app-{how}"] = reason
    for how in ("class", "machine"):
        soname = f"libia{how}.so.1"
        good = shared_library(soname, BASE_C)
        other = bytearray(good.data)
        if how == "class":
            other[4] = 0x7F  # a garbage EI_CLASS: "another class", passed over
        else:
            struct.pack_into("<H", other, 0x12, 183)  # EM_AARCH64
        items += [
            exe(
                f"usr/bin/app-{how}",
                program(f"app-{how}", main_x, [good], runpath="/opt/bad:/opt/good"),
            ),
            lib(f"opt/bad/{soname}", bytes(other)),
            lib(f"opt/good/{soname}", good),
        ]
    image = Scanned(tmp_path, items)
    theirs = image.agree_with_loader()
    for root, reason in expected.items():
        assert theirs[root].fatal_reason == reason, (root, theirs[root])
        (failure,) = image.trees[root].failures
        assert failure.kind == UNLOADABLE and failure.path is not None
        assert failure.path.startswith("opt/bad/")
    for how in ("class", "machine"):
        tree = image.trees[f"usr/bin/app-{how}"]
        assert tree.failures == () and theirs[tree.root].ok
        assert tree.binding(tree.root, f"libia{how}.so.1") == f"opt/good/libia{how}.so.1"
    el001 = image.el001()
    # the aarch64 copy nothing loads never runs on this amd64 image: info, nothing more
    assert str(el001.pop("libc.so.6").severity) == "info"
    unloadable = ("truncated", "random", "short", "version", "directory", "pie")
    assert set(el001) == {f"/opt/bad/libia{how}.so.1" for how in unloadable}
    assert {str(f.severity) for f in el001.values()} == {"error"}


@requires_root
def test_nodeflib_skips_the_default_directories(tmp_path: Path, parts: dict[str, Built]) -> None:
    """A library linked with -z nodefaultlib (DF_1_NODEFLIB) does not find its own
    needs in the default directories (nor through cache entries there)."""
    uses = "int base(void); int use(void) { return base(); }"
    plain = shared_library("libiaplain.so.1", uses, [parts["base"]])
    strict = shared_library(
        "libiastrict.so.1", uses, [parts["base"]], flags=["-Wl,-z,nodefaultlib"]
    )
    main = "int use(void); int main(void) { return use(); }"
    items = [
        *glibc(),
        lib(f"{ML}/libiabase.so.1", parts["base"]),
        lib("opt/l/libiaplain.so.1", plain),
        lib("opt/l/libiastrict.so.1", strict),
        exe("usr/bin/app", program("app", main, [plain], runpath="/opt/l")),
        exe("usr/bin/app-strict", program("app-strict", main, [strict], runpath="/opt/l")),
    ]
    image = Scanned(tmp_path, items)
    image.agree_with_loader()
    assert image.trees["usr/bin/app"].failures == ()
    (failure,) = image.trees["usr/bin/app-strict"].failures
    assert (failure.name, failure.needed_by) == ("libiabase.so.1", "opt/l/libiastrict.so.1")


@requires_root
def test_symbol_versions_of_any_namespace(tmp_path: Path) -> None:
    """The program was linked against a libiaver.so.1 that defines VER_2; the image has an
    older one that defines only VER_1: `version VER_2 not found` (EL002)."""
    old = shared_library(
        "libiaver.so.1",
        "int v1(void) { return 1; }",
        version_script="VER_1 { global: v1; local: *; };",
    )
    new = shared_library(
        "libiaver.so.1",
        "int v1(void) { return 1; } int v2(void) { return 2; }",
        version_script="VER_1 { global: v1; local: *; }; VER_2 { global: v2; } VER_1;",
    )
    items = [
        *glibc(),
        lib(f"{ML}/libiaver.so.1", old),
        exe("usr/bin/app", program("app", "int v2(void); int main(void) { return v2(); }", [new])),
    ]
    image = Scanned(tmp_path, items)
    theirs = image.agree_with_loader()
    assert theirs["usr/bin/app"].versions == {"VER_2"}
    (finding,) = image.findings
    assert (finding.check_id, finding.evidence["versions"]) == ("EL002", ["VER_2"])
    assert finding.evidence["resolved"] == f"/{ML}/libiaver.so.1"


def test_what_breaks_sets_the_severity(tmp_path: Path, parts: dict[str, Built]) -> None:
    """A program that does not start: error. A library nothing loads (dlopen()ed on
    demand): warning; a distribution package's plugin in a subdirectory: info."""
    plugin = shared_library("libiaplug.so", MID_C.replace("mid", "plug"), [parts["base"]])
    status = (
        b"Package: plugpkg\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n"
    )
    items = [
        *glibc(),
        exe("usr/bin/app", program("app", MAIN_BASE, [parts["base"]])),
        lib(f"{ML}/plugpkg/plugins/libiaplug.so", plugin),
        lib(f"{ML}/libiaplug.so", plugin),
        File("var/lib/dpkg/status", status),
        File(
            "var/lib/dpkg/info/plugpkg.list",
            f"/{ML}/plugpkg/plugins/libiaplug.so\n/{ML}/libiaplug.so\n".encode(),
        ),
        lib("opt/vendor/libiaplug.so", plugin),
    ]
    image = Scanned(tmp_path, items)
    (finding,) = image.findings  # one cause: libiabase.so.1, every root named
    assert str(finding.severity) == "error" and finding.path == "/usr/bin/app"
    severity = {r["path"]: r["kind"] for r in finding.evidence["roots"]}
    assert severity == {
        "/usr/bin/app": PROGRAM,
        f"/{ML}/libiaplug.so": LIBRARY,
        "/opt/vendor/libiaplug.so": LIBRARY,
        f"/{ML}/plugpkg/plugins/libiaplug.so": LIBRARY,
    }
    judge = image.facts.load_judge
    tree = image.trees
    assert str(judge.impact(tree["usr/bin/app"], None, None).severity) == "error"
    assert str(judge.impact(tree[f"{ML}/libiaplug.so"], None, None).severity) == "warning"
    assert str(judge.impact(tree["opt/vendor/libiaplug.so"], None, None).severity) == "warning"
    assert (
        str(judge.impact(tree[f"{ML}/plugpkg/plugins/libiaplug.so"], None, None).severity) == "info"
    )
    assert finding.evidence["provided_by"] is None  # nothing in dpkg or Debian's index has it


@requires_root
def test_debians_loader_does_not_search_lib64(tmp_path: Path, parts: dict[str, Built]) -> None:
    """On Debian, /usr/lib64 is not a system directory for x86-64 libraries (the loader
    there searches the multiarch directories, /lib and /usr/lib): the host's Debian
    loader agrees."""
    items = [
        *glibc(),
        lib("usr/lib64/libiabase.so.1", parts["base"]),
        lib("usr/lib/libiamid.so.1", parts["mid"]),
        exe("usr/bin/app", program("app", MAIN_BASE, [parts["base"]])),
        exe("usr/bin/app-mid", program("app-mid", MAIN_MID, [parts["mid"]])),
    ]
    image = Scanned(tmp_path, items)
    theirs = image.agree_with_loader()
    assert theirs["usr/bin/app"].missing == {"libiabase.so.1"}
    assert image.facts.loader_paths.family == "debian"
    failure = image.trees["usr/bin/app"].failures[0]
    assert failure.searched == (
        "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("os_release", "found_in", "missing_in"),
    [
        (b"ID=fedora\n", "usr/lib64", f"{ML}"),
        (b"ID=rocky\nID_LIKE=rhel centos fedora\n", "usr/lib64", "usr/lib"),
        (b"ID=arch\n", "usr/lib", "usr/lib64"),
        (b"ID=ubuntu\nID_LIKE=debian\n", f"{ML}", "usr/lib64"),
    ],
)
def test_system_directories_per_distribution_family(
    tmp_path: Path, parts: dict[str, Built], os_release: bytes, found_in: str, missing_in: str
) -> None:
    """The system directories come from the distribution's glibc build: upstream's
    lib64 layout (RHEL, Fedora, Rocky...), Arch's /usr/lib, Debian's multiarch layout.
    (No loader of those families here to ask: the layouts are those their ld.so --help
    prints; the Debian case above is checked against the real loader.)"""
    other = shared_library("libiaother.so.1", BASE_C)
    main = "int base(void); int other(void); int main(void) { return base(); }"
    items = [
        *[i for i in glibc() if getattr(i, "path", "") != "etc/os-release"],
        File("etc/os-release", os_release),
        lib(f"{found_in}/libiabase.so.1", parts["base"]),
        lib(f"{missing_in}/libiaother.so.1", other),
        exe("usr/bin/app", program("app", main, [parts["base"], other])),
    ]
    image = Scanned(tmp_path, items)
    failures = image.trees["usr/bin/app"].failures  # (libc.so.6 too, where it is not Debian)
    assert [f.name for f in failures if f.name.startswith("libia")] == ["libiaother.so.1"]


@requires_root
def test_a_pyinstaller_bundle_is_loaded_with_its_directory_on_ld_library_path(
    tmp_path: Path, parts: dict[str, Built]
) -> None:
    """A PyInstaller one-dir bundle (dist/app/app and dist/app/_internal/ copied into a
    final stage): no file in it has an RPATH; the bootloader puts `_internal` first on
    LD_LIBRARY_PATH and restarts itself before it loads libpython and the extension
    modules (a PyInstaller 6.22 bundle on a Debian slim image: `import _hashlib` works,
    libcrypto.so.3 from _internal/). What the bundle lacks still fails."""
    internal = "opt/app/_internal"
    dynload = f"{internal}/python3.11/lib-dynload"
    other = shared_library("libiaother.so.1", BASE_C)
    uses_base = shared_library(
        "_base.cpython-311-x86_64-linux-gnu.so", MAIN_BASE.replace("main", "f"), [parts["base"]]
    )
    uses_other = shared_library(
        "_other.cpython-311-x86_64-linux-gnu.so", "int base(void); int f(void) { return 0; }",
        [other],
    )  # fmt: skip
    libpython = shared_library("libpython3.11.so.1.0", "int py(void) { return 0; }")
    items = [
        *glibc(),
        exe("opt/app/app", program("app", DLOPEN_C, flags=["-ldl"])),
        File(f"{internal}/base_library.zip", b"PK\x05\x06" + bytes(18)),
        lib(f"{internal}/libpython3.11.so.1.0", libpython),
        lib(f"{internal}/libiabase.so.1", parts["base"]),
        lib(f"{internal}/libiamid.so.1", parts["mid"]),
        lib(f"{dynload}/_base.cpython-311-x86_64-linux-gnu.so", uses_base),
        lib(f"{dynload}/_other.cpython-311-x86_64-linux-gnu.so", uses_other),
    ]
    image = Scanned(tmp_path, items)
    trees = image.trees
    base = f"{dynload}/_base.cpython-311-x86_64-linux-gnu.so"
    assert trees[base].kind == EXTENSION and trees[base].failures == ()
    assert trees[base].binding(base, "libiabase.so.1") == f"{internal}/libiabase.so.1"
    assert trees[f"{internal}/libiamid.so.1"].failures == ()
    (failure,) = trees[f"{dynload}/_other.cpython-311-x86_64-linux-gnu.so"].failures
    assert failure.name == "libiaother.so.1" and failure.searched[0] == "/" + internal
    assert list(image.el001()) == ["libiaother.so.1"]
    # the loader, as the restarted bootloader runs: _internal on the library path
    loader = "/" + ML + "/ld-linux-x86-64.so.2"
    for module, ok in [(base, True), (f"{dynload}/_other.cpython-311-x86_64-linux-gnu.so", False)]:
        argv = [loader, "--library-path", "/" + internal, "/opt/app/app", "/" + module]
        done = run_in_root(image.root, argv)
        assert (done.returncode == 0) is ok, done.stdout
        if not ok:
            assert "libiaother.so.1" in done.stdout
    # without it (what the files alone would say), the bundle's own libraries fail
    done = run_in_root(image.root, [loader, "/opt/app/app", "/" + base])
    assert done.returncode != 0 and "libiabase.so.1" in done.stdout


@requires_root
def test_a_flat_pyinstaller_bundles_bootloader_starts_without_its_directory(
    tmp_path: Path, parts: dict[str, Built]
) -> None:
    """`--contents-directory .` (PyInstaller < 6's layout): the bootloader sits beside
    base_library.zip and the bundle's libraries. The kernel starts it before it sets
    LD_LIBRARY_PATH: what it needs itself (zlib, for PyInstaller's) must be found
    without the bundle's directory; its modules are found with it."""
    flat = "opt/flat"
    app = program("flat", MAIN_BASE, [parts["base"]])
    uses_base = shared_library(
        "_base.cpython-311-x86_64-linux-gnu.so", MAIN_BASE.replace("main", "f"), [parts["base"]]
    )
    items = [
        *glibc(),
        exe(f"{flat}/flat", app),
        File(f"{flat}/base_library.zip", b"PK\x05\x06" + bytes(18)),
        lib(f"{flat}/libpython3.11.so.1.0", shared_library("libpython3.11.so.1.0", BASE_C)),
        lib(f"{flat}/libiabase.so.1", parts["base"]),
        lib(f"{flat}/_base.cpython-311-x86_64-linux-gnu.so", uses_base),
    ]
    image = Scanned(tmp_path, items)
    trees = image.trees
    assert [f.name for f in trees[f"{flat}/flat"].failures] == ["libiabase.so.1"]
    assert trees[f"{flat}/_base.cpython-311-x86_64-linux-gnu.so"].failures == ()
    assert ld_list(image.root, [f"{flat}/flat"])[f"{flat}/flat"].missing == {"libiabase.so.1"}
