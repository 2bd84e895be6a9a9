"""`dir:` images written by the real skopeo: `imgaudit scan dir:PATH` reads what
`skopeo copy ... dir:PATH` wrote (the image, an OCI-converted copy, a whole multi-arch
index), and gives the same report as the archive it was copied from.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.errors import InputError
from auditor.sources import SourceOptions, open_image
from auditor.sources.platform import Platform
from tests import factory
from tests.support.require import unavailable

SPEC = factory.ImageSpec(
    layers=[
        factory.Layer(
            [
                factory.File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
                factory.File("etc/passwd", b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:\n"),
                factory.File("var/cache/big", b"c" * 20_000),
            ],
            "ADD rootfs /",
        ),
        factory.Layer(
            [factory.Whiteout("var/cache/big"), factory.File("app/main.py", b"print(1)\n")],
            "COPY . /app",
        ),
    ],
    name="imgaudit-test/dir:1",
    config={"User": "1000", "Cmd": ["/app/main.py"]},
)


def skopeo(*args: str) -> None:
    exe = shutil.which("skopeo")
    if exe is None:
        unavailable("skopeo is not installed (apt-get install skopeo)")
    subprocess.run([exe, "copy", "--quiet", *args], check=True, capture_output=True)


def scan(ref: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = main(["scan", ref, "--format", "json", "--no-cache", "--jobs", "1"])
    out = json.loads(capsys.readouterr().out)
    assert code in (0, 1)
    return out  # type: ignore[no-any-return]


def without_source(rep: dict[str, Any]) -> dict[str, Any]:
    rep = dict(rep)
    rep.pop("source")
    rep["image"] = dict(rep["image"], reference=None)  # a dir: image carries no name
    return rep


def test_skopeo_dir_scans_like_the_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = factory.build(factory.uncompressed(SPEC))
    archive = factory.write_docker_archive(built, tmp_path / "app.tar")
    skopeo(f"docker-archive:{archive}", f"dir:{tmp_path / 'd'}")
    assert (tmp_path / "d" / "version").read_text().startswith("Directory Transport Version")

    expected = scan(f"docker-archive:{archive}", capsys)
    got = scan(f"dir:{tmp_path / 'd'}", capsys)
    assert got["source"]["transport"] == "dir"
    manifest = (tmp_path / "d" / "manifest.json").read_bytes()
    assert got["source"]["manifest_digest"] == factory.sha256(manifest)
    assert without_source(got) == without_source(expected)
    assert got["image"]["digest"] == built.config_digest
    assert got["waste"]["wasted_bytes"] == 20_000
    # A bare path to such a directory is recognised by its content.
    assert without_source(scan(str(tmp_path / "d"), capsys)) == without_source(expected)


def test_skopeo_dir_in_oci_format(tmp_path: Path) -> None:
    """`--format oci` rewrites the config (another digest) but keeps every layer."""
    built = factory.build(SPEC)
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    skopeo("--format", "oci", f"oci:{layout}", f"dir:{tmp_path / 'd'}")
    image = open_image(f"dir:{tmp_path / 'd'}")
    assert [ly.diff_id for ly in image.layers] == [factory.sha256(d) for d in built.diffs]
    assert image.config["config"]["User"] == "1000"
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_bytes())
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert image.config_digest == manifest["config"]["digest"]


def test_skopeo_dir_of_a_multiarch_index(tmp_path: Path) -> None:
    images = []
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        spec = factory.ImageSpec(
            layers=[factory.Layer([factory.File("etc/arch", arch.encode())])],
            architecture=arch,
            variant=variant,
        )
        images.append(factory.build(spec))
    layout = factory.write_oci_dir(images, tmp_path / "layout", nested="multi:1")
    skopeo("--all", f"oci:{layout}:multi:1", f"dir:{tmp_path / 'd'}")
    assert list((tmp_path / "d").glob("*.manifest.json"))  # per-platform manifests

    def pick(platform: str) -> str:
        opts = SourceOptions(platform=Platform.parse(platform))
        return open_image(f"dir:{tmp_path / 'd'}", opts).config_digest

    assert pick("linux/amd64") == images[0].config_digest
    assert pick("linux/arm64") == images[1].config_digest
    with pytest.raises(InputError, match=r"linux/s390x not in the image index"):
        pick("linux/s390x")


def test_broken_dir_images_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = factory.build(SPEC)
    archive = factory.write_docker_archive(built, tmp_path / "app.tar")
    good = tmp_path / "good"
    skopeo(f"docker-archive:{archive}", f"dir:{good}")

    def broken(name: str) -> Path:
        copy = tmp_path / name
        shutil.copytree(good, copy)
        return copy

    layer = json.loads((good / "manifest.json").read_bytes())["layers"][1]["digest"]
    (broken("no-layer") / layer.split(":")[1]).unlink()
    (broken("bad-version") / "version").write_text("Directory Transport Version: 9.0\n")
    (broken("no-manifest") / "manifest.json").unlink()
    (broken("schema1") / "manifest.json").write_text('{"schemaVersion": 1, "fsLayers": []}')
    cases = {
        "no-layer": "is missing",
        "bad-version": "unsupported directory transport version",
        "no-manifest": "no manifest.json",
        "schema1": "schema 1 manifest",
    }
    for name, message in cases.items():
        assert main(["scan", f"dir:{tmp_path / name}", "--no-cache"]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
