"""ELF linkage, wheel and compiler checks on engine-built images, and agreement with
pax-utils' lddtree on the same root filesystem.

Images (built once; the engine's data root and layer cache persist):
- build-essential installed in the final stage (CC001/CC002, nothing else);
- opencv-python (not headless) in a venv on Debian minbase + python3: `import cv2`
  needs libGL.so.1 and friends that the manylinux policy expects from the system;
- a final layer that deletes libsqlite3: Python's _sqlite3 extension cannot load.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from auditor.checks import ALL_CHECKS
from auditor.facts import Facts
from auditor.findings import Finding, Status
from auditor.loading import LoadOptions, load_image
from auditor.runner import run_checks
from tests.support.baseimages import PYTHON_TAG, BuiltImage, build, save
from tests.support.services import DockerEngine
from tests.support.wheels import manylinux_wheels

ELF_CHECKS = {"EL001", "EL002", "EL003", "PK002", "PK003", "CC001", "CC002"}
SQLITE_EXT = "/usr/lib/python3.11/lib-dynload/_sqlite3.cpython-311-x86_64-linux-gnu.so"

BUILD_ESSENTIAL = f"""\
FROM {PYTHON_TAG}
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update \\
 && apt-get install -y --no-install-recommends build-essential \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
"""
OPENCV = f"""\
FROM {PYTHON_TAG}
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/pip install --no-index --find-links /tmp/wheels opencv-python \\
 && rm -rf /root/.cache
"""
NO_SQLITE = f"""\
FROM {PYTHON_TAG}
RUN rm /usr/lib/x86_64-linux-gnu/libsqlite3.so.0 /usr/lib/x86_64-linux-gnu/libsqlite3.so.0.*
"""


def scan(engine: DockerEngine, tag: str, dockerfile: str, tmp: Path, files: Any = None) -> Facts:
    build(engine, tag, dockerfile, files or {})
    archive = save(engine, tag, tmp / (tag.replace("/", "_").replace(":", "_") + ".tar"))
    return Facts(load_image(str(archive), LoadOptions(use_cache=False)))


def run(facts: Facts) -> list[Finding]:
    outcome = run_checks([c for c in ALL_CHECKS if c.info.id in ELF_CHECKS], facts)
    assert not [r for r in outcome.results if r.status == Status.ERROR], outcome.results
    return outcome.findings


@pytest.fixture(scope="module")
def opencv_facts(
    docker_engine: DockerEngine, bookworm_python: BuiltImage, tmp_path_factory: Any
) -> Facts:
    wheels = manylinux_wheels()
    files = {f"wheels/{p.name}": p for p in sorted(wheels.glob("*.whl"))}
    tmp = tmp_path_factory.mktemp("opencv")
    return scan(docker_engine, "imgaudit-test/elf-opencv:latest", OPENCV, tmp, files)


def test_python_base_has_no_elf_findings(
    docker_engine: DockerEngine, bookworm_python: BuiltImage, tmp_path: Path
) -> None:
    archive = save(docker_engine, bookworm_python.tag, tmp_path / "python.tar")
    facts = Facts(load_image(str(archive), LoadOptions(use_cache=False)))
    assert run(facts) == []
    assert facts.glibc_version == (2, 36)
    assert facts.elf_graph.count > 100 and not facts.elf_graph.errors


def test_final_layer_deleting_libsqlite3(
    docker_engine: DockerEngine, bookworm_python: BuiltImage, tmp_path: Path
) -> None:
    facts = scan(docker_engine, "imgaudit-test/elf-no-sqlite:latest", NO_SQLITE, tmp_path)
    findings = run(facts)
    assert [(f.check_id, f.path, f.evidence["needed"]) for f in findings] == [
        ("EL001", SQLITE_EXT, ["libsqlite3.so.0"])
    ]
    f = findings[0]
    assert f.evidence["import"] == "_sqlite3"
    assert f.evidence["dpkg_package"] == "libpython3.11-stdlib"
    # the ELF's own provenance: the step that installed Python, not the deleting step
    assert f.created_by is not None and "python3" in f.created_by


def test_opencv_without_libgl(opencv_facts: Facts) -> None:
    """The classic failure: `import cv2` on a slim base, libGL.so.1 and glib missing."""
    findings = run(opencv_facts)
    site = "/opt/venv/lib/python3.11/site-packages"
    qt = f"{site}/opencv_python.libs/libQt5"
    got = sorted((f.check_id, f.path, tuple(f.evidence.get("needed") or ())) for f in findings)
    assert [g for g in got if g[0] == "EL001"] == [
        (
            "EL001",
            f"{site}/cv2/cv2.abi3.so",
            ("libGL.so.1", "libglib-2.0.so.0", "libgthread-2.0.so.0", "libxcb.so.1"),
        ),
        # the Qt platform plugin cv2.imshow() loads: X11 libraries on top
        (
            "EL001",
            f"{site}/cv2/qt/plugins/platforms/libqxcb.so",
            ("libICE.so.6", "libSM.so.6", "libX11.so.6", "libXext.so.6"),
        ),
        # dlopen()ed by libqxcb only
        (
            "EL001",
            f"{qt}XcbQpa-44b6e536.so.5.15.19",
            ("libICE.so.6", "libSM.so.6", "libX11.so.6", "libXext.so.6"),
        ),
    ]
    cv2 = next(f for f in findings if f.path == f"{site}/cv2/cv2.abi3.so")
    assert cv2.message.startswith("`import cv2` fails")
    assert cv2.evidence["python_distribution"] == "opencv-python"
    by = {m["needed"]: m["needed_by"] for m in cv2.evidence["missing"]}
    # the first library in load (breadth-first) order that needs it: Qt5Widgets (and Gui)
    assert by["libGL.so.1"] == f"{qt}Widgets-fc050eb4.so.5.15.19"
    assert by["libxcb.so.1"] == f"{site}/opencv_python.libs/libavdevice-960294c7.so.62.3.101"
    pk002 = sorted((f.evidence["kind"], tuple(f.evidence["libraries"])) for f in findings
                   if f.check_id == "PK002")  # fmt: skip
    assert pk002 == [
        (
            "allowed-but-absent",
            (
                "libGL.so.1", "libICE.so.6", "libSM.so.6", "libX11.so.6", "libXext.so.6",
                "libglib-2.0.so.0", "libgthread-2.0.so.0",
            ),
        ),
        ("external", ("libxcb.so.1",)),
    ]  # fmt: skip
    # numpy's wheel ships two static libraries (libnpymath.a, libnpyrandom.a)
    assert [(f.check_id, f.evidence.get("count")) for f in findings if f.check_id == "CC002"] == [
        ("CC002", 2)
    ]
    assert {f.check_id for f in findings} == {"EL001", "PK002", "CC002"}


BUILD_ESSENTIAL_PACKAGES = {
    # tools
    "gcc-12", "g++-12", "cpp-12", "binutils-x86-64-linux-gnu", "make",
    # metapackages and their dependencies
    "build-essential", "gcc", "g++", "cpp", "binutils", "binutils-common", "dpkg-dev",
    # -dev packages
    "libc6-dev", "libcrypt-dev", "libgcc-12-dev", "libnsl-dev", "libstdc++-12-dev",
    "libtirpc-dev", "linux-libc-dev",
}  # fmt: skip


def test_build_essential_in_the_final_stage(
    docker_engine: DockerEngine, bookworm_python: BuiltImage, tmp_path: Path
) -> None:
    tag = "imgaudit-test/elf-build-essential:latest"
    facts = scan(docker_engine, tag, BUILD_ESSENTIAL, tmp_path)
    findings = run(facts)
    assert {f.check_id for f in findings} == {"CC001", "CC002"}
    cc001 = {f.evidence["package"]: f for f in findings if f.check_id == "CC001"}
    assert set(cc001) == BUILD_ESSENTIAL_PACKAGES
    gcc = cc001["gcc-12"]
    assert "/usr/bin/gcc-12" in gcc.evidence["tools"] and "/usr/bin/cc" in gcc.evidence["tools"]
    assert gcc.bytes is not None and gcc.bytes > 10_000_000
    assert gcc.created_by is not None and "build-essential" in gcc.created_by
    assert gcc.layer == len(facts.layers) - 1
    assert set(cc001["binutils-x86-64-linux-gnu"].evidence["tools"]) >= {
        "/usr/bin/as",
        "/usr/bin/ld",
    }
    assert cc001["make"].evidence["tools"] == ["/usr/bin/gmake", "/usr/bin/make"]
    cc002 = sorted(f.path or "" for f in findings if f.check_id == "CC002")
    assert cc002[0] == "/usr/include" and cc002[1].endswith(".a")
    assert facts.compilers.present


def _lddtree_missing(root: Path, paths: list[str]) -> dict[str, set[str]]:
    """lddtree -R ROOT on each ELF: the names it reports `=> None`, per ELF.

    pax-utils' lddtree (1.3.x) expands $ORIGIN to the directory of the file *with* ROOT
    and then prefixes ROOT again (ParseLdPaths), so every $ORIGIN path of a wheel's
    vendored libraries points to ROOT/ROOT/...: a relative symlink ROOT/ROOT -> ROOT
    inside the extracted tree makes those doubled paths name the right directory.
    """
    lddtree = shutil.which("lddtree")
    if lddtree is None or not Path("/usr/bin/python3").exists():
        pytest.skip(
            "pax-utils lddtree (with Debian's python3) is not installed "
            "(apt-get install pax-utils python3-pyelftools)"
        )
    inner = root / str(root).lstrip("/")
    inner.parent.mkdir(parents=True, exist_ok=True)
    inner.symlink_to(os.path.relpath(root, inner.parent))
    out: dict[str, set[str]] = {}
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}  # no LD_LIBRARY_PATH from the host
    for start in range(0, len(paths), 200):
        batch = ["/" + p for p in paths[start : start + 200]]
        done = subprocess.run(
            ["/usr/bin/python3", lddtree, "-R", str(root), *batch],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        current = None
        for line in done.stdout.splitlines():
            if not line.startswith(" "):
                current = line.split(" (interpreter", 1)[0][len(str(root)) :].lstrip("/")
                out[current] = set()
            elif line.strip().endswith("=> None") and current is not None:
                out[current].add(line.strip().split(" => ", 1)[0])
    return out


def test_unresolved_libraries_agree_with_lddtree(
    opencv_facts: Facts, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    """For every loadable ELF of a Debian root with python3 and wheels, the set of
    libraries that cannot be found equals what pax-utils' lddtree reports."""
    client = docker_engine.client()
    try:
        container = client.containers.create("imgaudit-test/elf-opencv:latest", command="true")
        try:
            export = tmp_path / "rootfs.tar"
            with open(export, "wb") as fh:
                for chunk in container.export():
                    fh.write(chunk)
        finally:
            container.remove()
    finally:
        client.close()
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(export) as tar:
        # Nothing from the image is run. The "tar" extraction filter came with Python
        # 3.11.4 (Debian 12 has 3.11.2): names that leave the root are refused first.
        members = [
            m for m in tar.getmembers() if not (m.name.startswith("/") or ".." in m.name.split("/"))
        ]
        if hasattr(tarfile, "tar_filter"):
            tar.extractall(root, members, filter="tar")
        else:
            tar.extractall(root, members)
    graph = opencv_facts.elf_graph
    paths = sorted(
        p
        for p, f in opencv_facts.fs.elf_files()
        if "error" not in f and f.get("type") in ("ET_EXEC", "ET_DYN")
    )
    assert len(paths) == graph.count > 100
    theirs = _lddtree_missing(root, paths)
    ours = {p: set(graph.unresolved_tree.get(p, {})) for p in paths}
    assert set(theirs) == set(paths)
    differ = {p: (ours[p], theirs[p]) for p in paths if ours[p] != theirs[p]}
    assert differ == {}
    assert sum(1 for p in paths if ours[p]) >= 3  # the comparison covers real failures
