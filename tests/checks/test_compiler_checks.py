"""CC001 and CC002 on a python:3.11 look-alike: the base's toolchain as one finding per
toolchain (not one per package), said to come from the base; the team's own -dev package
as its own; CPython's headers named where they are."""

from __future__ import annotations

from pathlib import Path

from auditor.checks import cc001_compiler_present, cc002_dev_files
from auditor.findings import Finding
from tests.checks.support import image, run
from tests.factory import File, Item, Layer, Symlink, Whiteout

NOP = "/bin/sh -c #(nop) "
TOOL = b"#!/bin/sh\nexit 0\n" + b"#" * 1000  # an executable the scan finds by name
DEV_PACKAGES = ("libbz2-dev", "libc6-dev", "libffi-dev", "libssl-dev", "zlib1g-dev")


def package(name: str, files: dict[str, bytes | str]) -> list[Item]:
    """A dpkg package: its file list and its files (bytes: an executable; str: a symlink
    target)."""
    items: list[Item] = [
        File(f"var/lib/dpkg/info/{name}.list", "".join(f"/{p}\n" for p in files).encode())
    ]
    for path, what in files.items():
        items.append(Symlink(path, what) if isinstance(what, str) else File(path, what, 0o755))
    return items


def buildpack() -> list[Item]:
    """What buildpack-deps installs, cut down: the compilers, binutils, make and -dev
    packages, the files where Debian puts them."""
    bin_ = "usr/bin/x86_64-linux-gnu-"
    return [
        *package("gcc-12", {f"{bin_}gcc-12": TOOL, "usr/bin/gcc-12": "x86_64-linux-gnu-gcc-12"}),
        *package("g++-12", {f"{bin_}g++-12": TOOL, "usr/bin/g++-12": "x86_64-linux-gnu-g++-12"}),
        *package("cpp-12", {f"{bin_}cpp-12": TOOL}),
        *package("gcc", {"usr/bin/gcc": "gcc-12"}),
        *package("binutils-x86-64-linux-gnu", {f"{bin_}as": TOOL, f"{bin_}ld": TOOL}),
        *package("binutils", {"usr/bin/as": f"{bin_[8:]}as", "usr/bin/ld": f"{bin_[8:]}ld"}),
        *package("binutils-common", {"usr/share/doc/binutils-common/README": b"binutils\n"}),
        *package("make", {"usr/bin/make": TOOL}),
        *package("dpkg-dev", {"usr/bin/dpkg-buildflags": TOOL}),
        *(
            item
            for name in DEV_PACKAGES
            for item in package(name, {f"usr/include/{name}.h": b"#define X 1\n" * 10})
        ),
    ]  # fmt: skip


def python_full(*own: Layer) -> list[Layer]:
    """Debian, buildpack-deps and CPython's /usr/local (with its headers), each ending
    in its CMD as the public Dockerfiles do; then the team's layers `own`."""
    headers = {
        f"usr/local/include/python3.11/{h}": b"/* CPython */\n" * 20
        for h in ("Python.h", "object.h", "pyconfig.h")
    }
    return [
        Layer([File("etc/os-release", b"ID=debian\n")], f"{NOP}ADD file:ab12 in / ",
              after=[f'{NOP}CMD ["bash"]']),
        Layer(buildpack(), "/bin/sh -c set -ex; apt-get install gcc g++ make libssl-dev ...",
              after=[f'{NOP}CMD ["bash"]']),
        Layer([*(File(p, d) for p, d in headers.items()),
               File("usr/local/bin/python3.11", TOOL, 0o755)],
              "/bin/sh -c set -eux; ./configure --enable-shared; make install",
              after=[f'{NOP}CMD ["python3"]']),
        *own,
    ]  # fmt: skip


C, BINUTILS, MAKE, DEV = (
    "C/C++ compiler", "binutils (assembler, linker)", "make/autotools",
    "-dev packages (headers, static libraries)",
)  # fmt: skip


def by_family(found: list[Finding]) -> dict[str, Finding]:
    out = {f.evidence["toolchain"]: f for f in found}
    assert len(out) == len(found)  # one finding per toolchain
    return out


def test_cc001_one_finding_per_toolchain_from_the_base(tmp_path: Path) -> None:
    app = Layer([File("app/main.py", b"print(1)\n")], f"{NOP}COPY dir:9f in /app ")
    found = by_family(run(cc001_compiler_present, image(*python_full(app)), tmp_path))
    assert {family: f.evidence["packages"] for family, f in found.items()} == {
        C: ["cpp-12", "g++-12", "gcc", "gcc-12"],
        BINUTILS: ["binutils", "binutils-common", "binutils-x86-64-linux-gnu"],
        MAKE: ["dpkg-dev", "make"],
        DEV: list(DEV_PACKAGES),
    }
    assert found[C].message == (
        "C/C++ compiler in the image: /usr/bin/g++-12, /usr/bin/gcc, /usr/bin/gcc-12, "
        "/usr/bin/x86_64-linux-gnu-g++-12, /usr/bin/x86_64-linux-gnu-gcc-12 (packages "
        "cpp-12, g++-12, gcc, gcc-12), from the base image"
    )
    for f in found.values():
        assert f.layer == 1 and f.remedy.startswith("The base image brings it")
    assert found[DEV].message == (
        f"{DEV} in the image: 5 package(s): {', '.join(DEV_PACKAGES)}, from the base image"
    )
    assert found[BINUTILS].evidence["tools"] == [
        "/usr/bin/as", "/usr/bin/ld", "/usr/bin/x86_64-linux-gnu-as", "/usr/bin/x86_64-linux-gnu-ld"
    ]  # fmt: skip
    assert found[MAKE].bytes == 2 * len(TOOL)  # make and dpkg-buildflags


def test_cc001_the_teams_own_dev_package_is_its_own(tmp_path: Path) -> None:
    """libpq-dev added by the team's RUN joins the -dev toolchain, which is then the
    team's: the finding points at the team's layer and says nothing of the base."""
    pq = Layer(package("libpq-dev", {"usr/include/postgresql/libpq-fe.h": b"/* pq */\n"}),
               "/bin/sh -c apt-get install -y libpq-dev")  # fmt: skip
    found = by_family(run(cc001_compiler_present, image(*python_full(pq)), tmp_path))
    dev = found.pop(DEV)
    assert dev.evidence["packages"] == sorted([*DEV_PACKAGES, "libpq-dev"])
    assert (dev.path, dev.layer) == ("/var/lib/dpkg/info/libpq-dev.list", 3)
    assert dev.message.endswith("libssl-dev (+1 more)") and dev.remedy.startswith("Build in")
    assert sorted(f.layer for f in found.values()) == [1, 1, 1]


def test_cc001_a_toolchain_nobody_asked_for_names_no_install_recommends(tmp_path: Path) -> None:
    """`apt-get install -y python3-pip` on a slim base: gcc, g++, make, binutils and
    libc6-dev came along (python3-pip recommends build-essential and python3-dev;
    `command -v gcc` in the running image: /usr/bin/gcc). The remedy said to build in a
    separate stage or purge the toolchain "in the RUN step that used it", which used
    none; now it says where they came from and names --no-install-recommends. A step
    that asks for any toolchain package (gcc, build-essential) keeps the usual remedy."""
    slim = Layer([File("etc/os-release", b"ID=debian\n")], f"{NOP}ADD file:ab12 in / ")
    for step, hint in (
        ("apt-get update && apt-get install -y python3-pip && rm -rf /var/lib/apt/lists/*", True),
        ("apt-get install -y --no-install-recommends python3-pip", False),
        ("apt-get install -y build-essential && pip install x", False),
        ("apt-get install -y gcc", False),
        ("pip install x", False),
    ):
        spec = image(slim, Layer(buildpack(), f"/bin/sh -c {step}"))
        found = by_family(run(cc001_compiler_present, spec, tmp_path))
        for f in found.values():
            assert f.remedy.startswith("The step that brought them names none") == hint, step
            assert ("--no-install-recommends" in f.remedy) == hint, step


def test_cc001_no_toolchain_passes(tmp_path: Path) -> None:
    spec = image(Layer([File("etc/os-release", b"ID=debian\n"), File("usr/bin/ls", TOOL, 0o755)]))
    assert run(cc001_compiler_present, spec, tmp_path) == []


# ---- CC002 ------------------------------------------------------------------------


def slim_python() -> list[Layer]:
    """python:3.11-slim: no -dev package, /usr/include absent; CPython's own headers in
    /usr/local/include/python3.11 (and its Python.h among them)."""
    return [
        Layer([File("etc/os-release", b"ID=debian\n")], f"{NOP}ADD file:ab12 in / ",
              after=[f'{NOP}CMD ["bash"]']),
        Layer([File(f"usr/local/include/python3.11/{h}", b"/* CPython */\n" * 20)
               for h in ("Python.h", "object.h", "pyconfig.h")],
              "/bin/sh -c set -eux; make install", after=[f'{NOP}CMD ["python3"]']),
    ]  # fmt: skip


def test_cc002_cpythons_own_headers_are_named_where_they_are(tmp_path: Path) -> None:
    app = Layer([File("app/main.py", b"print(1)\n")], f"{NOP}COPY dir:9f in /app ")
    (found,) = run(cc002_dev_files, image(*slim_python(), app), tmp_path)
    assert found.message == (
        "CPython's own headers: 3 files in /usr/local/include/python3.11 (Python.h)"
    )
    assert (found.path, str(found.severity), found.bytes) == (
        "/usr/local/include/python3.11", "info", 3 * len(b"/* CPython */\n" * 20)
    )  # fmt: skip
    assert "/usr/include" not in found.message


def test_cc002_no_cpython_headers_without_python_h(tmp_path: Path) -> None:
    """Debian's python3-numpy links /usr/include/python3.11/numpy to its own headers;
    with python3-dev purged after building an sdist, that symlink is all the directory
    holds: no Python.h, so no CPython headers to report."""
    layers = [
        Layer([File("etc/os-release", b"ID=debian\n")], f"{NOP}ADD file:ab12 in / ",
              after=[f'{NOP}CMD ["bash"]']),
        Layer([Symlink("usr/include/python3.11/numpy",
                       "../../lib/python3/dist-packages/numpy/core/include/numpy"),
               File("usr/lib/python3/dist-packages/numpy/core/include/numpy/ndarrayobject.h",
                    b"/* numpy */\n")],
              "/bin/sh -c apt-get install -y python3-numpy"),
    ]  # fmt: skip
    assert run(cc002_dev_files, image(*layers), tmp_path) == []


def test_cc002_static_libraries_a_python_package_ships_are_info(tmp_path: Path) -> None:
    """numpy's wheels (and python3-numpy) ship libnpymath.a for building extensions
    against numpy: part of the package, like CPython's headers; a static library the
    team's own step puts in /usr/lib is still a warning."""
    sp = "usr/local/lib/python3.11/site-packages/numpy/_core/lib"
    own = Layer(
        [
            File(f"{sp}/libnpymath.a", b"!<arch>\n" + b"x" * 100),
            File(f"{sp}/libnpyrandom.a", b"!<arch>\n" + b"x" * 50),
            File("usr/lib/x86_64-linux-gnu/libpq.a", b"!<arch>\n" + b"x" * 10),
        ],
        "/bin/sh -c pip install numpy && apt-get install -y libpq-dev",
    )
    found = run(cc002_dev_files, image(*slim_python(), own), tmp_path)
    static = [(f.message, str(f.severity), f.path) for f in found if "static" in f.message]
    assert static == [
        ("1 static library (*.a)", "warning", "/usr/lib/x86_64-linux-gnu/libpq.a"),
        ("2 static libraries (*.a) that Python packages ship", "info", f"/{sp}/libnpymath.a"),
    ]


def test_cc002_the_dev_packages_headers_base_or_own(tmp_path: Path) -> None:
    """python:3.11 (full): the -dev packages' headers in /usr/include come with the base
    (info, said so), CPython's own apart; a -dev package of the team's own makes the
    /usr/include finding the team's (a warning at its layer)."""
    app = Layer([File("app/main.py", b"print(1)\n")], f"{NOP}COPY dir:9f in /app ")
    found = {f.path: f for f in run(cc002_dev_files, image(*python_full(app)), tmp_path)}
    assert set(found) == {"/usr/include", "/usr/local/include/python3.11"}
    usr = found["/usr/include"]
    assert usr.message == "5 header files under /usr/include, from the base image"
    assert (str(usr.severity), usr.layer) == ("info", 1)
    assert usr.remedy.startswith("The base image brings them")

    pq = Layer(package("libpq-dev", {"usr/include/postgresql/libpq-fe.h": b"/* pq */\n"}),
               "/bin/sh -c apt-get install -y libpq-dev")  # fmt: skip
    found = {f.path: f for f in run(cc002_dev_files, image(*python_full(pq)), tmp_path)}
    usr = found["/usr/include"]
    assert usr.message == "6 header files under /usr/include"
    assert (str(usr.severity), usr.layer) == ("warning", 3)
    assert usr.created_by == "RUN apt-get install -y libpq-dev"


def _stanza(name: str, status: str = "install ok installed") -> str:
    return f"Package: {name}\nStatus: {status}\nArchitecture: amd64\nVersion: 2.40-2\n\n"


def test_cc001_removed_not_purged_package_is_not_installed(tmp_path: Path) -> None:
    """`apt-get purge gcc g++ binutils make ...` on the python:3.11 look-alike (a mutated
    realistic official-guide image): binutils-common was only removed (`dpkg -l`: rc), its
    .list kept for /etc/gprofng.rc, and no assembler or linker is left in the running
    image. Its .list alone is no installed binutils."""
    binutils = ("binutils", "binutils-common", "binutils-x86-64-linux-gnu")
    layers = python_full()
    lists = [i.path for i in buildpack() if isinstance(i, File) and i.path.endswith(".list")]
    names = [p.rpartition("/")[2][: -len(".list")] for p in lists]
    layers.insert(2, Layer([File("var/lib/dpkg/status", "".join(map(_stanza, names)).encode())]))
    before = by_family(run(cc001_compiler_present, image(*layers), tmp_path))
    assert before[BINUTILS].evidence["packages"] == list(binutils)
    status = "".join(
        _stanza(n, "deinstall ok config-files") if n == "binutils-common" else _stanza(n)
        for n in names
        if n not in ("binutils", "binutils-x86-64-linux-gnu")
    )
    bin_ = "usr/bin/x86_64-linux-gnu-"
    removed = Layer(
        [
            File("var/lib/dpkg/status", status.encode()),
            File("var/lib/dpkg/info/binutils-common.list", b"/etc\n/etc/gprofng.rc\n"),
            File("etc/gprofng.rc", b"# conffile\n"),
            *(Whiteout(p) for p in ("usr/share/doc/binutils-common", "usr/bin/as", "usr/bin/ld")),
            *(Whiteout(f"var/lib/dpkg/info/{n}.list") for n in binutils[::2]),
            Whiteout(f"{bin_}as"),
            Whiteout(f"{bin_}ld"),
        ],
        "/bin/sh -c apt-get remove -y binutils",
    )
    after = by_family(run(cc001_compiler_present, image(*layers, removed), tmp_path))
    assert BINUTILS not in after
    assert after[C].evidence["packages"] == ["cpp-12", "g++-12", "gcc", "gcc-12"]
