"""Archives written by real tools (dockerd's `docker save`, skopeo) scan like the
factory's own: the same report whatever wrote the image, and whiteouts made by a real
overlay2 build are applied.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.cli import main
from tests import factory
from tests.factory import File, Hardlink, Layer, Opaque, Symlink, Whiteout
from tests.support.baseimages import BuiltImage, build, save
from tests.support.services import DockerEngine

TAG = f"imgaudit-test/foundation:p{os.getpid()}"


def spec() -> factory.ImageSpec:
    return factory.ImageSpec(
        layers=[
            Layer(
                [
                    File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
                    factory.host_file(sys.executable, "usr/bin/python3"),
                    File("var/cache/big", b"c" * 50_000),
                    File("opt/tool/a", b"a" * 1000),
                    Symlink("bin", "usr/bin"),
                ],
                compression="none",
            ),
            Layer(
                [
                    Whiteout("var/cache/big"),
                    Opaque("opt/tool"),
                    File("opt/tool/b", b"b" * 10),
                    File("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
                    Hardlink("etc/passwd-", "etc/passwd"),
                ],
                "RUN cleanup",
                compression="none",
            ),
        ],
        name=TAG,
        config={"User": "1000", "Cmd": ["python3"]},
    )


def report(ref: str, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    assert main(["scan", ref, "--format", "json", "--no-cache", "--jobs", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    out.pop("source")
    return out  # type: ignore[no-any-return]


def strip_blobs(rep: dict) -> dict:  # type: ignore[type-arg]
    image = rep["image"]
    image["reference"] = image["compressed_size"] = None
    for layer in image["layers"]:
        layer["digest"] = layer["compressed_size"] = None
    return rep


def test_docker_load_save_and_skopeo_give_the_same_report(
    docker_engine: DockerEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = factory.build(spec())
    ours = factory.write_docker_archive(built, tmp_path / "factory.tar")
    expected = report(str(ours), capsys)
    assert expected["waste"]["wasted_bytes"] == 51_000

    client = docker_engine.client()
    try:
        client.images.load(ours.read_bytes())
        saved = save(docker_engine, TAG, tmp_path / "saved.tar")
        assert report(f"docker-archive:{saved}", capsys) == expected
        assert report(f"docker-archive:{saved}:{TAG}", capsys) == expected
        skopeo = shutil.which("skopeo")
        if skopeo is None:
            pytest.skip("skopeo is not installed")
        for dest in (f"oci:{tmp_path / 'layout'}:v1", f"oci-archive:{tmp_path / 'o.tar'}:v1"):
            subprocess.run(
                [skopeo, "copy", "--quiet", "--format", "v2s2", f"docker-archive:{saved}", dest],
                check=True,
                capture_output=True,
            )
            # skopeo gzips the layers for OCI destinations: other blobs (digest,
            # compressed size), the same image (config digest, diff_ids, everything else).
            # It also names the image by the given tag only.
            assert strip_blobs(report(dest, capsys)) == strip_blobs(expected)
    finally:
        client.images.remove(TAG, force=True)
        client.close()


def test_real_build_whiteouts(
    docker_engine: DockerEngine,
    bookworm_minbase: BuiltImage,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tag = f"imgaudit-test/foundation-build:p{os.getpid()}"
    dockerfile = (
        f"FROM {bookworm_minbase.tag}\n"
        "COPY blob.bin /srv/blob.bin\n"
        "RUN rm /srv/blob.bin && mkdir -p /srv/keep && echo hi > /srv/keep/x\n"
        "USER 1000\n"
    )
    build(docker_engine, tag, dockerfile, {"blob.bin": b"z" * 123_456})
    try:
        saved = save(docker_engine, tag, tmp_path / "built.tar")
        assert main(["scan", str(saved), "--format", "json", "--no-cache"]) == 0
        out = json.loads(capsys.readouterr().out)
        files = {f["path"]: f for f in out["waste"]["files"]}
        assert files["/srv/blob.bin"]["wasted_bytes"] == 123_456
        layers = out["image"]["layers"]
        assert files["/srv/blob.bin"]["layers"] == [len(layers) - 2]
        assert layers[-2]["created_by"].startswith("COPY")
        assert layers[-1]["created_by"].startswith("RUN rm /srv/blob.bin")
        assert out["image"]["user"] == "1000"
        assert out["facts"]["os"]["id"] == "debian"
    finally:
        client = docker_engine.client()
        client.images.remove(tag, force=True)
        client.close()
