"""SZ001-SZ004 against factory images (sizes are real bytes in real layers)."""

from __future__ import annotations

from pathlib import Path

from auditor.checks import sz001_image_size, sz002_wasted_space, sz003_caches, sz004_docs
from tests.checks.support import debian_base, image, run, summary
from tests.factory import Dir, File, Hardlink, Layer, Whiteout

MB = 1_000_000
APT_LIST = "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"


def blob(n: int) -> bytes:
    return b"x" * n


def test_sz001_small_image_passes_default_budget(tmp_path: Path) -> None:
    assert run(sz001_image_size, image(debian_base()), tmp_path) == []


def test_sz001_warn_and_target(tmp_path: Path) -> None:
    spec = image(Layer([File("opt/model.bin", blob(600_000))]))
    budget = {"warn-mb": 0.5, "target-mb": 0.2}
    found = run(sz001_image_size, spec, tmp_path, budget)
    assert summary(found) == [("SZ001", "warning", None)]
    assert found[0].bytes == 400_000
    found = run(sz001_image_size, spec, tmp_path, {"warn-mb": 1, "target-mb": 0.5})
    assert summary(found) == [("SZ001", "info", None)]
    assert found[0].bytes == 100_000


def test_sz002_no_waste_passes(tmp_path: Path) -> None:
    spec = image(Layer([File("app/a.bin", blob(2 * MB))]), Layer([File("app/b.txt", b"b")]))
    assert run(sz002_wasted_space, spec, tmp_path) == []


def test_sz002_deleted_and_overwritten(tmp_path: Path) -> None:
    spec = image(
        Layer([File("app/a.bin", blob(2 * MB)), File("app/c.bin", blob(MB // 2))], "COPY . /app"),
        Layer([Whiteout("app/a.bin"), File("app/c.bin", b"small")], "RUN rm /app/a.bin"),
    )
    found = run(sz002_wasted_space, spec, tmp_path)
    assert summary(found) == [("SZ002", "warning", "/app/a.bin")]
    assert found[0].bytes == 2 * MB + MB // 2
    assert found[0].paths == ("/app/c.bin",)
    assert found[0].layer == 0
    assert run(sz002_wasted_space, spec, tmp_path, {"min-mb": 5}) == []


def test_sz003_clean_image_passes(tmp_path: Path) -> None:
    """What the official images keep after `rm -rf /var/lib/apt/lists/*` and apt's
    docker-clean: the empty `lock` files and `partial/` directories apt re-creates, an
    empty wtmp, an empty /tmp: no byte to reclaim, no finding."""
    keep = Layer(
        [
            File("var/log/wtmp", b""),
            File("var/cache/apt/archives/lock", b"", 0o640),
            Dir("var/cache/apt/archives/partial", 0o700),
            File("var/lib/apt/lists/lock", b"", 0o640),
            Dir("var/lib/apt/lists/partial", 0o700),
            Dir("var/lib/apt/lists/auxfiles", 0o755),
            File("tmp/.keep", b""),
        ],
        "RUN apt-get update && apt-get install -y libpq5 && rm -rf /var/lib/apt/lists/*",
    )
    spec = image(debian_base(setuid=False), keep)
    assert run(sz003_caches, spec, tmp_path) == []


def test_sz003_each_category(tmp_path: Path) -> None:
    layer = Layer(
        [
            File("root/.cache/pip/http-v2/a/b/c", blob(2 * MB)),
            File("var/lib/apt/lists/" + APT_LIST, blob(3 * MB // 2)),
            File("var/lib/apt/lists/lock", b""),
            File("var/cache/apt/archives/curl_7.88.1-10_amd64.deb", blob(300_000)),
            File("var/cache/apt/archives/lock", b""),  # not counted: no byte to reclaim
            File("tmp/build/wheel.whl", blob(10_000)),
            File("var/log/dpkg.log", b"2026-11-01 10:00:00 startup archives unpack\n"),
            File("var/log/lastlog", b""),
            File("app/__pycache__/gone.cpython-311.pyc", blob(100)),
            File("app/__pycache__/kept.cpython-311.pyc", blob(100)),
            File("app/kept.py", b"x = 1\n"),
            # a module name with dots (PyInstaller hooks), and an optimised pyc: kept
            File("app/__pycache__/hook-app.async_api.cpython-311.pyc", blob(100)),
            File("app/__pycache__/hook-app.async_api.cpython-311.opt-1.pyc", blob(100)),
            File("app/hook-app.async_api.py", b"x = 1\n"),
        ],
        "RUN apt-get update && apt-get install -y curl && pip install -r req.txt",
    )
    found = run(sz003_caches, image(layer), tmp_path)
    # sorted as reports sort: severity, then path
    apt_list = "/var/lib/apt/lists/" + APT_LIST
    assert [(f.evidence["category"], str(f.severity), f.path, f.bytes) for f in found] == [
        ("pip cache", "warning", "/root/.cache/pip/http-v2/a/b/c", 2 * MB),
        ("apt lists", "warning", apt_list, 3 * MB // 2),
        ("bytecode of removed code", "info", "/app/__pycache__/gone.cpython-311.pyc", 100),
        ("temporary files", "info", "/tmp/build/wheel.whl", 10_000),
        ("apt archives", "info", "/var/cache/apt/archives/curl_7.88.1-10_amd64.deb", 300_000),
        ("logs", "info", "/var/log/dpkg.log", 44),
    ]
    assert {f.layer for f in found} == {0}
    assert [f.evidence["files"] for f in found] == [1, 1, 1, 1, 1, 1]


def test_sz003_installer_caches_are_named_by_their_tool(tmp_path: Path) -> None:
    """uv's and Poetry's caches are their own categories, each with its tool's remedy
    (a uv cache was called a pip cache and told to use pip's --no-cache-dir)."""
    layer = Layer(
        [
            File("root/.cache/uv/archive-v0/ab/requests/api.py", blob(2 * MB)),
            File("root/.cache/pypoetry/cache/repositories/PyPI/x.json", blob(2 * MB)),
            File("home/app/.cache/pip/http-v2/a/b", blob(2 * MB)),
        ],
        "RUN uv pip install -r req.txt && poetry install",
    )
    found = run(sz003_caches, image(layer), tmp_path)
    by_category = {f.evidence["category"]: f for f in found}
    assert sorted(by_category) == ["Poetry cache", "pip cache", "uv cache"]
    assert "UV_NO_CACHE" in by_category["uv cache"].remedy
    assert "poetry install --no-cache" in by_category["Poetry cache"].remedy
    assert "--no-cache-dir" in by_category["pip cache"].remedy


def test_sz003_conda_package_cache_counts_what_removing_it_frees(tmp_path: Path) -> None:
    """`conda install` without `conda clean`: the downloaded archive and the repodata
    cache in `pkgs/` beside the root prefix's `conda-meta` are waste; an extracted file
    conda hard-linked into the environment is not (removing one name frees nothing),
    whichever of the two names the layer stores as the file. An environment's own
    `conda-meta` has no `pkgs` beside it, and a `pkgs` directory of anything else
    (here a node_modules package) is no conda cache."""
    so = "lib/python3.11/site-packages/numpy/core/_multiarray_umath.so"
    extracted = "opt/conda/pkgs/numpy-1.26.4-py311h64a7726_0"
    layer = Layer(
        [
            File("opt/conda/conda-meta/numpy-1.26.4-py311h64a7726_0.json", b"{}"),
            File("opt/conda/envs/tools/conda-meta/history", b""),
            File("opt/conda/pkgs/numpy-1.26.4-py311h64a7726_0.conda", blob(3 * MB)),
            File("opt/conda/pkgs/cache/497deca9.json", blob(MB // 2)),
            File(f"{extracted}/{so}", blob(2 * MB)),
            Hardlink(f"opt/conda/{so}", f"{extracted}/{so}"),
            File("opt/conda/lib/libopenblas.so.0", blob(MB)),
            Hardlink(f"{extracted}/lib/libopenblas.so.0", "opt/conda/lib/libopenblas.so.0"),
            File("app/node_modules/pkgs/index.js", blob(2 * MB)),
        ],
        "RUN conda install -y numpy",
    )
    found = run(sz003_caches, image(layer), tmp_path)
    assert [(f.evidence["category"], str(f.severity), f.path, f.bytes) for f in found] == [
        (
            "conda package cache",
            "warning",
            "/opt/conda/pkgs/numpy-1.26.4-py311h64a7726_0.conda",
            3 * MB + MB // 2,
        )
    ]
    assert found[0].paths == ("/opt/conda/pkgs/cache/497deca9.json",)
    assert "conda clean --all" in found[0].remedy


def test_sz004_slim_image_passes(tmp_path: Path) -> None:
    layer = Layer([File("usr/share/doc/bash/copyright", blob(2 * MB))])
    assert run(sz004_docs, image(layer), tmp_path) == []


def test_sz004_docs_man_locales(tmp_path: Path) -> None:
    layer = Layer(
        [
            File("usr/share/doc/bash/changelog.gz", blob(1_500_000)),
            File("usr/share/doc/bash/copyright", blob(5 * MB)),  # kept: not counted
            File("usr/share/man/man1/bash.1.gz", blob(12 * MB)),
            File("usr/share/locale/de/LC_MESSAGES/bash.mo", blob(500_000)),  # under min-kb
        ]
    )
    found = run(sz004_docs, image(layer), tmp_path)
    assert [(f.evidence["category"], str(f.severity), f.bytes) for f in found] == [
        ("man pages", "warning", 12 * MB),
        ("docs", "info", 1_500_000),
    ]


NOP = "/bin/sh -c #(nop) "


def test_sz002_base_waste_and_the_teams_own_are_told_apart(tmp_path: Path) -> None:
    """Bytes the base wrote and overwrote are the base's (no Dockerfile line of the team
    reclaims them); the team's `chown -R` copy of a base file and a file its own RUN
    deletes are the team's, in the team's layer, whatever the biggest wasted file is."""
    spec = image(
        Layer([File("opt/base.bin", blob(4 * MB)), File("opt/tool.bin", blob(MB))],
              f"{NOP}ADD file:ab12 in / "),
        Layer([Whiteout("opt/base.bin"), File("opt/kept.bin", blob(10))],
              "/bin/sh -c rm /opt/base.bin", after=[f'{NOP}CMD ["bash"]']),
        Layer([File("opt/tool.bin", blob(MB)), File("app/build.tgz", blob(2 * MB))],
              "/bin/sh -c chown -R app /opt && fetch build.tgz"),
        Layer([Whiteout("app/build.tgz")], "/bin/sh -c rm /app/build.tgz"),
    )  # fmt: skip
    base, own = sorted(run(sz002_wasted_space, spec, tmp_path), key=lambda f: f.layer or 0)
    assert (base.path, base.layer, base.bytes) == ("/opt/base.bin", 0, 4 * MB)
    assert "in the base image's layers" in base.message
    assert base.remedy.startswith("the base image ships these bytes")
    assert (own.path, own.layer, own.bytes, own.paths) == (
        "/app/build.tgz",
        2,
        3 * MB,
        ("/opt/tool.bin",),
    )
    assert "base image" not in own.message
