"""The image's own loader is the judge: for every root of engine-built images, what
imgaudit says fails to load equals what the image's ld.so (`--list`, in a chroot of the
exported root) and its Python (each extension module dlopen()ed as `import` does it)
say. Not lddtree: it resolves every file as a root, which is the bug this replaces.

Images (bookworm + Debian's python3, built once, cached in the shared engine):
- wheels: a venv with opencv-python, numpy and psycopg2-binary, auditwheel-repaired
  wheels whose vendored `<pkg>.libs/` libraries find each other only as objects
  already loaded or through the RPATH of their loader: `import psycopg2` works;
  `import cv2` lacks libGL and friends (opencv-python is not the -headless build);
- broken: one scenario per library, so that each root fails for one reason:
  liblzma moved to a directory listed in ld.so.conf, `ldconfig`, the directory
  removed from ld.so.conf again (still found: the cache); libbz2 moved into a new
  ld.so.conf.d directory without `ldconfig` (not found: the stale cache entry points at
  the deleted file, the default directories do not have it); libsqlite3 deleted;
  libffi truncated (SIGBUS); libuuid replaced by random bytes (invalid ELF header);
  libncursesw replaced by an ELF magic with a garbage class byte (passed over: not
  found); libreadline replaced by an ELF identification with a zero e_version (stops
  the search); libcrypto replaced by another library (OPENSSL_3.0.0 not found);
- no-cache: libsqlite3 moved to /usr/local/lib, `ldconfig`, then /etc/ld.so.cache
  deleted: only the default directories are searched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from auditor.checks import ALL_CHECKS
from auditor.facts import Facts
from auditor.facts.elfgraph import EXTENSION, MISSING
from auditor.findings import Finding, Status
from auditor.loading import LoadOptions, load_image
from auditor.runner import run_checks
from tests.support.baseimages import PYTHON_TAG, BuiltImage, build, save
from tests.support.downloads import MANYLINUX2014, pypi_or_skip
from tests.support.loaderoracle import (
    Verdict,
    agree,
    dlopen_in_image,
    export_rootfs,
    ld_list,
    verdict_of,
)
from tests.support.services import DockerEngine

ML = "/usr/lib/x86_64-linux-gnu"
WHEEL_PINS = ("opencv-python==5.0.0.93", "numpy==2.2.6", "psycopg2-binary==2.9.13")
WHEELS = f"""\
FROM {PYTHON_TAG}
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/pip install --no-index --find-links /tmp/wheels {" ".join(WHEEL_PINS)} \\
 && rm -rf /root/.cache /tmp/wheels
"""
BROKEN = f"""\
FROM {PYTHON_TAG}
RUN set -e; ML={ML}; mkdir -p /opt/lzma /opt/bz2; \\
 mv $ML/liblzma.so.5* /opt/lzma/; echo /opt/lzma > /etc/ld.so.conf.d/lzma.conf; \\
 ldconfig; rm /etc/ld.so.conf.d/lzma.conf; \\
 mv $ML/libbz2.so.1* /opt/bz2/; echo /opt/bz2 > /etc/ld.so.conf.d/bz2.conf; \\
 rm $ML/libsqlite3.so.0*; \\
 f=$(readlink -f $ML/libffi.so.8); head -c 20000 $f > /tmp/cut; cat /tmp/cut > $f; \\
 f=$(readlink -f $ML/libuuid.so.1); head -c 65536 /dev/urandom > $f; \\
 f=$(readlink -f $ML/libncursesw.so.6); printf '\\177ELF' > $f; head -c 200 /dev/zero >> $f; \\
 f=$(readlink -f $ML/libreadline.so.8); printf '\\177ELF\\002\\001\\001' > $f; \\
 head -c 300 /dev/zero >> $f; \\
 f=$(readlink -f $ML/libcrypto.so.3); cat $(readlink -f $ML/libz.so.1) > $f; rm /tmp/cut
"""
NO_CACHE = f"""\
FROM {PYTHON_TAG}
RUN mv {ML}/libsqlite3.so.0* /usr/local/lib/ && ldconfig && rm /etc/ld.so.cache
"""
EL_CHECKS = {"EL001", "EL002", "PK002"}


def _wheels() -> list[Path]:
    """The pinned manylinux wheels, downloaded once into the test cache (PyPI)."""
    return sorted(
        pypi_or_skip(WHEEL_PINS, platforms=MANYLINUX2014, label="elf-oracle").glob("*.whl")
    )


def _scan(engine: DockerEngine, tag: str, dockerfile: str, tmp: Path, files: Any = None) -> Facts:
    build(engine, tag, dockerfile, files or {})
    archive = save(engine, tag, tmp / "image.tar")
    return Facts(load_image(str(archive), LoadOptions(use_cache=False)))


def _findings(facts: Facts) -> list[Finding]:
    outcome = run_checks([c for c in ALL_CHECKS if c.info.id in EL_CHECKS], facts)
    assert not [r for r in outcome.results if r.status == Status.ERROR], outcome.results
    return outcome.findings


def _show(differ: dict[str, tuple[Verdict, Verdict]]) -> list[str]:
    def one(v: Verdict) -> str:
        return f"missing={sorted(v.missing)} versions={sorted(v.versions)} fatal={v.fatal_reason}"

    return [
        f"/{root}\n  imgaudit: {one(ours)}\n  loader:   {one(theirs)} {theirs.raw[-300:]!r}"
        for root, (ours, theirs) in sorted(differ.items())
    ]


def _compare(facts: Facts, engine: DockerEngine, tag: str, tmp: Path) -> dict[str, Any]:
    """Every root of the image judged by the loader; returns the disagreements (empty)
    and the per-kind counts of roots and of failing roots."""
    graph = facts.elf_graph
    roots = {r: t for r, t in graph.trees.items() if not t.foreign}
    rootfs = export_rootfs(engine, tag, tmp / "rootfs")
    listed = [r for r, t in roots.items() if t.kind != EXTENSION]
    theirs = ld_list(rootfs, listed)
    modules = [
        (t.interpreter or "usr/bin/python3", r) for r, t in roots.items() if t.kind == EXTENSION
    ]
    theirs.update(dlopen_in_image(engine, tag, modules))
    differ = {}
    failing: dict[str, int] = {}
    for root, tree in roots.items():
        ours = verdict_of(tree)
        if not agree(ours, theirs[root], tree.kind == EXTENSION, rootfs):
            differ[root] = (ours, theirs[root])
        if not theirs[root].ok:
            failing[tree.kind] = failing.get(tree.kind, 0) + 1
    kinds: dict[str, int] = {}
    for tree in roots.values():
        kinds[tree.kind] = kinds.get(tree.kind, 0) + 1
    return {"differ": differ, "roots": kinds, "failing": failing}


@pytest.fixture(scope="module")
def wheels_image(
    docker_engine: DockerEngine, bookworm_python: BuiltImage, tmp_path_factory: Any
) -> tuple[Facts, str]:
    files = {f"wheels/{p.name}": p for p in _wheels()}
    tag = "imgaudit-test/elf-oracle-wheels:latest"
    return _scan(docker_engine, tag, WHEELS, tmp_path_factory.mktemp("wheels"), files), tag


@pytest.fixture(scope="module")
def broken_image(
    docker_engine: DockerEngine, bookworm_python: BuiltImage, tmp_path_factory: Any
) -> tuple[Facts, str]:
    tag = "imgaudit-test/elf-oracle-broken:latest"
    return _scan(docker_engine, tag, BROKEN, tmp_path_factory.mktemp("broken")), tag


@pytest.fixture(scope="module")
def no_cache_image(
    docker_engine: DockerEngine, bookworm_python: BuiltImage, tmp_path_factory: Any
) -> tuple[Facts, str]:
    tag = "imgaudit-test/elf-oracle-no-cache:latest"
    return _scan(docker_engine, tag, NO_CACHE, tmp_path_factory.mktemp("nocache")), tag


@pytest.mark.parametrize("image", ["wheels_image", "broken_image", "no_cache_image"])
def test_every_root_agrees_with_the_images_own_loader(
    image: str, request: pytest.FixtureRequest, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    facts, tag = request.getfixturevalue(image)
    result = _compare(facts, docker_engine, tag, tmp_path)
    assert result["differ"] == {}, "\n".join(_show(result["differ"]))
    assert result["roots"].get("program", 0) > 50 and result["roots"].get(EXTENSION, 0) > 20
    # the comparison covers real failures of every kind of root the image has
    expected_failing = {
        "wheels_image": {EXTENSION, "library"},  # `import cv2`; the Qt platform plugin
        "broken_image": {"program", EXTENSION, "library"},
        "no_cache_image": {EXTENSION},
    }[image]
    assert set(result["failing"]) == expected_failing, result["failing"]


SITE = "/opt/venv/lib/python3.11/site-packages"
DYNLOAD = "/usr/lib/python3.11/lib-dynload"


def _el001(findings: list[Finding]) -> dict[str, Finding]:
    return {f.evidence["library"] if f.evidence["kind"] != "unloadable" else f.evidence["file"]: f
            for f in findings if f.check_id == "EL001"}  # fmt: skip


def test_vendored_wheels_load_and_missing_system_libraries_are_one_finding_each(
    wheels_image: tuple[Facts, str],
) -> None:
    facts, _ = wheels_image
    findings = _findings(facts)
    el001 = _el001(findings)
    # import psycopg2 and numpy work: their vendored libraries find each other
    assert not [f for f in findings if "psycopg2" in str(f.evidence) or "numpy" in str(f.evidence)]
    tree = facts.elf_graph.trees[f"{SITE[1:]}/psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so"]
    assert tree.failures == () and len(tree.objects) > 10
    assert sorted(el001) == [
        "libGL.so.1", "libICE.so.6", "libSM.so.6", "libX11.so.6", "libXext.so.6",
        "libglib-2.0.so.0", "libgthread-2.0.so.0", "libxcb.so.1",
    ]  # fmt: skip
    gl = el001["libGL.so.1"]
    assert str(gl.severity) == "error"
    assert gl.message.startswith("libGL.so.1 is not in the image: `import cv2.cv2` fails")
    assert [r["path"] for r in gl.evidence["roots"]] == [
        f"{SITE}/cv2/cv2.abi3.so",
        f"{SITE}/cv2/qt/plugins/platforms/libqxcb.so",
    ]
    assert gl.evidence["roots"][0]["interpreter"] == "/usr/bin/python3.11"
    assert gl.evidence["provided_by"] == {"packages": ["libgl1"], "source": "debian-contents"}
    assert "apt-get install -y --no-install-recommends libgl1" in gl.remedy
    assert gl.evidence["python_distribution"] == "opencv-python"
    # what only the Qt platform plugin (dlopen()ed on demand) needs: a warning
    assert str(el001["libX11.so.6"].severity) == "warning"
    pk002 = sorted((f.evidence["kind"], tuple(f.evidence["libraries"])) for f in findings
                   if f.check_id == "PK002")  # fmt: skip
    assert pk002 == [
        ("allowed-but-absent", (
            "libGL.so.1", "libICE.so.6", "libSM.so.6", "libX11.so.6", "libXext.so.6",
            "libglib-2.0.so.0", "libgthread-2.0.so.0",
        )),
        ("external", ("libxcb.so.1",)),
    ]  # fmt: skip


def test_each_broken_library_is_one_finding_with_its_cause(
    broken_image: tuple[Facts, str],
) -> None:
    facts, _ = broken_image
    findings = _findings(facts)
    el001 = _el001(findings)
    assert sorted(el001) == [
        "/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2",
        "/usr/lib/x86_64-linux-gnu/libreadline.so.8.2",
        "/usr/lib/x86_64-linux-gnu/libuuid.so.1.3.0",
        "libbz2.so.1.0",
        "libncursesw.so.6",
        "libsqlite3.so.0",
    ]  # liblzma: still found through the cache after its directory left ld.so.conf
    assert "SIGBUS" in el001["/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2"].evidence["reason"]
    assert el001["/usr/lib/x86_64-linux-gnu/libuuid.so.1.3.0"].evidence["reason"] == (
        "invalid ELF header"
    )
    assert el001["/usr/lib/x86_64-linux-gnu/libreadline.so.8.2"].evidence["reason"] == (
        "ELF file version does not match current one"
    )
    bz2 = el001["libbz2.so.1.0"]
    assert "/usr/bin/apt" in [r["path"] for r in bz2.evidence["roots"]]
    assert "run `ldconfig` in the same step" in bz2.remedy
    assert bz2.evidence["found_elsewhere"] == ["/opt/bz2/libbz2.so.1.0"]
    assert "another ELF class" in el001["libncursesw.so.6"].evidence["reason"]
    sqlite = el001["libsqlite3.so.0"]
    assert sqlite.evidence["provided_by"] == {"packages": ["libsqlite3-0"], "source": "dpkg"}
    assert sqlite.path == f"{DYNLOAD}/_sqlite3.cpython-311-x86_64-linux-gnu.so"
    (el002,) = [f for f in findings if f.check_id == "EL002"]
    assert el002.evidence["resolved"] == "/usr/lib/x86_64-linux-gnu/libcrypto.so.3"
    assert "OPENSSL_3.0.0" in el002.evidence["versions"]
    imports = {r["import"] for r in el002.evidence["roots"]}
    assert {"_ssl", "_hashlib"} <= imports


def test_no_cache_finds_only_the_default_directories(no_cache_image: tuple[Facts, str]) -> None:
    facts, _ = no_cache_image
    assert facts.loader_paths.cache_state == "absent"
    (finding,) = _findings(facts)
    assert finding.evidence["library"] == "libsqlite3.so.0"
    assert finding.evidence["found_elsewhere"] == ["/usr/local/lib/libsqlite3.so.0"]
    assert "no usable cache" in finding.remedy


def _lddtree_missing(root: Path, paths: list[str]) -> dict[str, set[str]]:
    """lddtree -R ROOT on each ELF: the names it reports `=> None`, per ELF (files it
    cannot read at all are left out).

    pax-utils' lddtree (1.3.x) expands $ORIGIN to the directory of the file *with* ROOT
    and then prefixes ROOT again (ParseLdPaths), so every $ORIGIN path of a wheel's
    vendored libraries points to ROOT/ROOT/...: a relative symlink ROOT/ROOT -> ROOT
    inside the extracted tree makes those doubled paths name the right directory.
    """
    lddtree = shutil.which("lddtree")
    if lddtree is None or not Path("/usr/bin/python3").exists():
        pytest.skip("pax-utils lddtree (with Debian's python3) is not installed")
    inner = root / str(root).lstrip("/")
    if not inner.is_symlink():
        inner.parent.mkdir(parents=True, exist_ok=True)
        inner.symlink_to(os.path.relpath(root, inner.parent))
    out: dict[str, set[str]] = {}
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}  # no LD_LIBRARY_PATH from the host

    def run(batch: list[str]) -> None:
        done = subprocess.run(
            ["/usr/bin/python3", lddtree, "-R", str(root), *("/" + p for p in batch)],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if done.returncode != 0:  # lddtree gives up on a damaged file (pyelftools raises)
            if len(batch) > 1:  # halves, until the files it gives up on are alone
                run(batch[: len(batch) // 2])
                run(batch[len(batch) // 2 :])
            return
        current = None
        for line in done.stdout.splitlines():
            if not line.startswith(" "):
                current = line.split(" (interpreter", 1)[0][len(str(root)) :].lstrip("/")
                out[current] = set()
            elif line.strip().endswith("=> None") and current is not None:
                out[current].add(line.strip().split(" => ", 1)[0])

    for start in range(0, len(paths), 200):
        run(paths[start : start + 200])
    return out


@pytest.mark.parametrize("image", ["wheels_image", "broken_image"])
def test_where_lddtree_differs_the_loader_decides(
    image: str, request: pytest.FixtureRequest, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    """lddtree resolves every file as a root of its own and reads ld.so.conf, not the
    cache: on vendored wheels and on stale or missing caches it differs from imgaudit.
    Wherever the two differ about a file, the image's own loader decides: on the file
    itself when it is a root, else on every root whose tree loads it."""
    facts, tag = request.getfixturevalue(image)
    graph = facts.elf_graph
    rootfs = export_rootfs(docker_engine, tag, tmp_path / "rootfs")
    trees = {r: t for r, t in graph.trees.items() if not t.foreign}
    ours: dict[str, set[str]] = {}  # file -> names imgaudit says it cannot find
    holders: dict[str, set[str]] = {}  # file -> roots whose tree loads it
    for root, tree in trees.items():
        for f in tree.failures:
            if f.kind == MISSING:
                ours.setdefault(f.needed_by, set()).add(f.name)
        for obj in tree.objects:
            holders.setdefault(obj, set()).add(root)
    files = sorted(holders)
    theirs = _lddtree_missing(rootfs, files)
    differ = sorted(p for p in theirs if theirs[p] != ours.get(p, set()))
    assert differ, "no file where lddtree and imgaudit differ: the comparison shows nothing"
    judged = sorted({r for p in differ for r in sorted(holders[p])[:20]})
    listed = ld_list(rootfs, [r for r in judged if trees[r].kind != EXTENSION])
    modules = [
        (trees[r].interpreter or "usr/bin/python3", r) for r in judged if trees[r].kind == EXTENSION
    ]
    listed.update(dlopen_in_image(docker_engine, tag, modules))
    wrong = {
        r: (verdict_of(trees[r]), listed[r])
        for r in judged
        if not agree(verdict_of(trees[r]), listed[r], trees[r].kind == EXTENSION, rootfs)
    }
    assert wrong == {}
    if image == "wheels_image":  # vendored libraries that find each other as loaded objects
        assert any(".libs/" in p and p not in trees for p in differ)
    else:  # ld.so.conf is not what the loader reads
        assert any("libbz2.so.1.0" in ours.get(p, set()) - theirs[p] for p in differ)
        assert any("liblzma.so.5" in theirs[p] - ours.get(p, set()) for p in differ)
