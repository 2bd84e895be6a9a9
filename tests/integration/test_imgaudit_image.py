"""imgaudit as an image, graded by imgaudit (issue 19).

The repository's Dockerfile is built by the real engine FROM the realistic python-slim
look-alike (tests/support/imgaudit_image.py), then:

* the image is run the two ways the README documents: on a docker-archive mounted at
  /src, and on an engine image through the engine's socket mounted in with
  ``--group-add`` of the socket's group; each answer is compared with the host's
  imgaudit scanning the same input;
* the image is run to confirm, by asking it, what the recipe promises: a non-root user,
  a venv it cannot write, no pip, no compiler, bytecode that is used;
* the image grades itself through the socket: grade A, and nothing at warning or above
  in the layers its Dockerfile adds (its base's findings are the base's).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from tests import factory
from tests.support.baseimages import BuiltImage
from tests.support.imgaudit_image import CONTEXT_ROOTS, REPO, build_imgaudit_image
from tests.support.realistic_images import build_image
from tests.support.services import DockerEngine

Report = dict[str, Any]


@pytest.fixture(scope="module")
def slim(docker_engine: DockerEngine) -> BuiltImage:
    """The python:3.11-slim look-alike (built once per engine data root, then reused)."""
    return build_image(docker_engine, "python-slim")


@pytest.fixture(scope="module")
def imgaudit_image(docker_engine: DockerEngine, slim: BuiltImage) -> BuiltImage:
    return build_imgaudit_image(docker_engine, slim)


def run(
    engine: DockerEngine, image: BuiltImage, command: list[str], **options: Any
) -> tuple[int, str, str]:
    """Run ``image`` with ``command`` as ``docker run --rm`` would; (exit, stdout, stderr)."""
    client = engine.client()
    try:
        container = client.containers.create(image.id, command, **options)
        try:
            container.start()
            code = int(container.wait(timeout=600)["StatusCode"])
            out = container.logs(stdout=True, stderr=False).decode()
            err = container.logs(stdout=False, stderr=True).decode()
            return code, out, err
        finally:
            container.remove(force=True)
    finally:
        client.close()


def host_scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Report]:
    capsys.readouterr()
    code = main(["scan", "-q", "-f", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def verdict(report: Report) -> tuple[Any, ...]:
    """What a scan concluded: scores and findings (check, severity, path, layer)."""
    findings = sorted(
        (f["check_id"], f["severity"], f.get("path") or "", f.get("layer") or -1)
        for f in report["findings"]
    )
    return report["scores"], findings


@pytest.fixture
def sample_archive(tmp_path: Path) -> Iterator[Path]:
    """The README's sample image, made by the factory, in a directory the image's
    non-root user can read (pytest's tmp_path is private to root)."""
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "testdata/make_sample.py")
    assert spec is not None and spec.loader is not None
    make_sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_sample)
    src = tmp_path / "src"
    src.mkdir()
    archive = factory.write_docker_archive(factory.build(make_sample.spec()), src / "app.tar")
    src.chmod(0o755)
    archive.chmod(0o644)
    yield archive


def test_context_roots_are_what_dockerignore_lets_in() -> None:
    """The recipe hash reads CONTEXT_ROOTS; the engine reads what .dockerignore lets
    through: if they part, a changed file would not rebuild the image."""
    allowed = {
        line[1:].strip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert allowed | {"Dockerfile", ".dockerignore"} == set(CONTEXT_ROOTS)


def test_scans_an_archive_mounted_at_src(
    docker_engine: DockerEngine,
    imgaudit_image: BuiltImage,
    sample_archive: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`docker run --rm -v $PWD:/src imgaudit scan /src/app.tar --format json`."""
    code, out, err = run(
        docker_engine, imgaudit_image, ["scan", "/src/app.tar", "--format", "json"],
        volumes={str(sample_archive.parent): {"bind": "/src", "mode": "ro"}},
        network_mode="none",
    )  # fmt: skip
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    host_code, host = host_scan(capsys, str(sample_archive))
    assert (code, err.count("Traceback")) == (host_code, 0), err
    report = json.loads(out)
    assert report["image"]["digest"] == host["image"]["digest"]
    # The sample runs as `app` and its code is writable by it: SEC004, as the README says.
    assert "SEC004" in {f["check_id"] for f in report["findings"]}
    assert verdict(report) == verdict(host)


def test_layer_cache_persists_in_a_volume(
    docker_engine: DockerEngine, imgaudit_image: BuiltImage, sample_archive: Path
) -> None:
    """`-v imgaudit-cache:/home/imgaudit/.cache` keeps the layer cache between runs (a
    fresh volume takes the image directory's owner: the user); the second run reads it."""
    client = docker_engine.client()
    volume = client.volumes.create()
    try:
        mounts = {
            str(sample_archive.parent): {"bind": "/src", "mode": "ro"},
            volume.name: {"bind": "/home/imgaudit/.cache", "mode": "rw"},
        }
        scan = ["scan", "/src/app.tar", "-f", "json"]
        runs = [
            run(docker_engine, imgaudit_image, scan, volumes=mounts, network_mode="none")
            for _ in range(2)
        ]
        code, out, err = run(
            docker_engine, imgaudit_image, ["-c", "find /home/imgaudit/.cache -name '*.index'"],
            entrypoint=["sh"], volumes=mounts, network_mode="none",
        )  # fmt: skip
    finally:
        volume.remove(force=True)
        client.close()
    assert [r[0] for r in runs] == [0, 0], [r[2] for r in runs]
    assert code == 0, err
    assert len(out.split()) == len(json.loads(runs[0][1])["image"]["layers"]), (out, err)
    assert json.loads(runs[0][1])["findings"] == json.loads(runs[1][1])["findings"]


def test_runs_as_the_recipe_promises(
    docker_engine: DockerEngine, imgaudit_image: BuiltImage
) -> None:
    """Asked inside the image: not root, the venv is not the user's to change, no pip,
    no compiler, and imgaudit's modules have checked-hash pycs (PEP 552)."""
    script = r"""
set -u
echo "uid=$(id -u)"
touch /opt/imgaudit/x 2>/dev/null && echo venv-writable || echo venv-read-only
site="$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
echo "site=$site"
touch "$site/x" 2>/dev/null && echo site-writable || echo site-read-only
python -c 'import pip' 2>/dev/null && echo pip || echo no-pip
for cc in gcc cc c++ clang make ld as; do command -v "$cc" >/dev/null && echo "compiler=$cc"; done
python -c 'import auditor.cli as m, importlib.util as u
print("cached=" + u.cache_from_source(m.__file__))'
"""
    code, out, err = run(
        docker_engine, imgaudit_image, ["-c", script], entrypoint=["sh"], network_mode="none"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert "uid=10001" in lines
    assert "site=/opt/imgaudit/lib/python3.11/site-packages" in lines
    assert {"venv-read-only", "site-read-only", "no-pip"} <= set(lines), out
    assert not [line for line in lines if line.startswith("compiler=")], out
    cached = next(line for line in lines if line.startswith("cached=")).removeprefix("cached=")
    code, out, err = run(
        docker_engine, imgaudit_image,
        ["-c", f"test -f {cached} && head -c 8 {cached} | od -An -tx1"],
        entrypoint=["sh"], network_mode="none",
    )  # fmt: skip
    assert code == 0, err
    flags = int(out.split()[4], 16)  # PEP 552: bit 0 hash-based, bit 1 check_source
    assert flags == 0b11, f"{cached}: pyc flags {flags:#x}, expected checked-hash"


def test_grades_itself_a_through_the_socket(
    docker_engine: DockerEngine,
    imgaudit_image: BuiltImage,
    slim: BuiltImage,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`docker run --rm -v /var/run/docker.sock:/var/run/docker.sock --group-add GID
    imgaudit scan IMAGE`: the image scans itself by name through the engine's socket,
    finds its base from its own label, and grades itself A with no warning or error in
    the layers its Dockerfile adds."""
    socket = docker_engine.host.removeprefix("unix://")
    code, out, err = run(
        docker_engine, imgaudit_image, ["scan", imgaudit_image.tag, "--format", "json"],
        volumes={socket: {"bind": "/var/run/docker.sock", "mode": "rw"}},
        group_add=[str(os.stat(socket).st_gid)],
        network_mode="none",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["image"]["digest"] == imgaudit_image.id
    client = docker_engine.client()
    try:
        base_layers = len(client.images.get(slim.id).attrs["RootFS"]["Layers"])
    finally:
        client.close()
    provenance = report["facts"]["provenance"]
    assert (provenance["base"], provenance["method"], provenance["base_layers"]) == (
        slim.tag,
        "labels",
        base_layers,
    )
    assert f"layers 0-{base_layers - 1} are the base's" in provenance["reason"]
    own = [
        (f["check_id"], f["severity"], f["message"])
        for f in report["findings"]
        if f.get("origin") != "base" and f["severity"] in ("warning", "error")
    ]
    assert own == []
    assert report["scores"]["grade"] == "A", report["scores"]
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    host_code, host = host_scan(capsys, f"docker-daemon:{imgaudit_image.tag}")
    assert (code, verdict(report)) == (host_code, verdict(host))
