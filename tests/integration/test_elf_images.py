"""ELF linkage, wheel and compiler checks on engine-built images. (Agreement with the
image's own loader, and where lddtree differs from it: test_elf_loader_oracle.py.)

Images (built once; the engine's data root and layer cache persist):
- build-essential installed in the final stage (CC001/CC002, nothing else);
- opencv-python (not headless) in a venv on Debian minbase + python3: `import cv2`
  needs libGL.so.1 and friends that the manylinux policy expects from the system;
- a final layer that deletes libsqlite3: Python's _sqlite3 extension cannot load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auditor.checks import ALL_CHECKS
from auditor.facts import Facts
from auditor.findings import Finding, Status
from auditor.loading import LoadOptions, load_image
from auditor.runner import run_checks
from tests.support.baseimages import PYTHON_TAG, BuiltImage, build, save
from tests.support.downloads import opencv_wheels
from tests.support.services import DockerEngine

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
    wheels = opencv_wheels()
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
    assert findings[0].evidence["provided_by"] == {"packages": ["libsqlite3-0"], "source": "dpkg"}
    f = findings[0]
    assert f.evidence["import"] == "_sqlite3"
    assert f.evidence["dpkg_package"] == "libpython3.11-stdlib"
    # the ELF's own provenance: the step that installed Python, not the deleting step
    assert f.created_by is not None and "python3" in f.created_by


def test_opencv_without_libgl(opencv_facts: Facts) -> None:
    """The classic failure: `import cv2` on a slim base, libGL.so.1 and glib missing:
    one EL001 per missing library, naming every root that fails because of it."""
    findings = run(opencv_facts)
    site = "/opt/venv/lib/python3.11/site-packages"
    qt = f"{site}/opencv_python.libs/libQt5"
    cv2 = f"{site}/cv2/cv2.abi3.so"
    plugin = f"{site}/cv2/qt/plugins/platforms/libqxcb.so"
    el001 = {f.evidence["library"]: f for f in findings if f.check_id == "EL001"}
    roots = {name: [r["path"] for r in f.evidence["roots"]] for name, f in el001.items()}
    # `import cv2` and the Qt platform plugin cv2.imshow() loads; X11 only for the plugin
    for name in ("libGL.so.1", "libglib-2.0.so.0", "libgthread-2.0.so.0", "libxcb.so.1"):
        assert roots.pop(name) == [cv2, plugin]
    assert roots == {
        n: [plugin] for n in ("libICE.so.6", "libSM.so.6", "libX11.so.6", "libXext.so.6")
    }
    gl = el001["libGL.so.1"]
    assert gl.path == cv2 and gl.message.startswith(
        "libGL.so.1 is not in the image: `import cv2.cv2`"
    )
    assert gl.evidence["python_distribution"] == "opencv-python"
    by = {n: f.evidence["roots"][0]["needed_by"] for n, f in el001.items()}
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
    # one finding per toolchain, its packages as evidence
    cc001 = {f.evidence["toolchain"]: f for f in findings if f.check_id == "CC001"}
    assert {p for f in cc001.values() for p in f.evidence["packages"]} == BUILD_ESSENTIAL_PACKAGES
    assert set(cc001) == {
        "C/C++ compiler",
        "binutils (assembler, linker)",
        "make/autotools",
        "-dev packages (headers, static libraries)",
    }
    gcc = cc001["C/C++ compiler"]
    assert "/usr/bin/gcc-12" in gcc.evidence["tools"] and "/usr/bin/cc" in gcc.evidence["tools"]
    assert {"gcc-12", "g++-12", "cpp-12", "build-essential"} <= set(gcc.evidence["packages"])
    assert gcc.bytes is not None and gcc.bytes > 10_000_000
    assert gcc.created_by is not None and "build-essential" in gcc.created_by
    assert gcc.layer == len(facts.layers) - 1
    assert set(cc001["binutils (assembler, linker)"].evidence["tools"]) >= {
        "/usr/bin/as",
        "/usr/bin/ld",
    }
    assert cc001["make/autotools"].evidence["tools"] == ["/usr/bin/gmake", "/usr/bin/make"]
    assert cc001["make/autotools"].evidence["packages"] == ["dpkg-dev", "make"]
    cc002 = sorted(f.path or "" for f in findings if f.check_id == "CC002")
    assert cc002[0] == "/usr/include" and cc002[1].endswith(".a")
    assert facts.compilers.present
