"""Every transport and layout resolves to the same Image: config, layers, digests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.errors import InputError
from auditor.sources import SourceOptions, open_image
from auditor.sources.platform import Platform
from tests import factory
from tests.images import TRANSPORTS, write

SPEC = factory.ImageSpec(
    layers=[
        factory.Layer([factory.File("etc/hello", b"hello\n")], "ADD base /"),
        factory.Layer([factory.File("app/main.py", b"print(1)\n")], "COPY . /app"),
    ],
    config={"User": "app", "Env": ["A=1"], "Entrypoint": ["python3", "/app/main.py"]},
)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_transport_gives_the_image(tmp_path: Path, transport: str) -> None:
    built = factory.build(factory.uncompressed(SPEC))
    image = open_image(write(built, tmp_path, transport))
    assert image.config_digest == built.config_digest
    assert image.reference == SPEC.name
    assert image.config["config"]["User"] == "app"
    assert [ly.diff_id for ly in image.layers] == [factory.sha256(d) for d in built.diffs]
    assert [ly.digest for ly in image.layers] == [factory.sha256(b) for b in built.blobs]
    assert [ly.size for ly in image.layers] == [len(b) for b in built.blobs]
    for layer, blob in zip(image.layers, built.blobs):
        with layer.locator.open() as fh:
            assert fh.read() == blob
    assert image.source.transport == transport.removesuffix("-legacy").removesuffix("-oci")


@pytest.mark.parametrize(
    ("layout", "transport"), [("legacy", "docker-archive"), ("oci", "docker-archive")]
)
def test_bare_path_is_detected(tmp_path: Path, layout: str, transport: str) -> None:
    built = factory.build(factory.uncompressed(SPEC))
    path = factory.write_docker_archive(built, tmp_path / "a.tar", layout=layout)  # type: ignore[arg-type]
    image = open_image(str(path))
    assert image.source.transport == transport
    assert image.config_digest == built.config_digest


def test_bare_oci_archive_and_directory(tmp_path: Path) -> None:
    built = factory.build(SPEC)
    archive = factory.write_oci_archive(built, tmp_path / "i.tar")
    layout = factory.write_oci_dir(built, tmp_path / "dir")
    assert open_image(str(archive)).source.transport == "oci-archive"
    assert open_image(str(layout)).source.transport == "oci"
    assert open_image(str(layout)).config_digest == built.config_digest


@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_compressed_docker_archive(tmp_path: Path, compress: str) -> None:
    """`docker save | gzip` (or zstd): decompressed to a private temp file that lives
    as long as the Image, so layers can still be read after open_image returns."""
    built = factory.build(factory.uncompressed(SPEC))
    plain = factory.write_docker_archive(built, tmp_path / "a.tar").read_bytes()
    path = tmp_path / "a.tar.z"
    path.write_bytes(factory.compress(plain, compress))  # type: ignore[arg-type]
    for ref in (str(path), f"docker-archive:{path}"):
        image = open_image(ref)
        import gc

        gc.collect()
        with image.layers[1].locator.open() as fh:
            assert fh.read() == built.blobs[1]


def _two_images() -> list[factory.BuiltImage]:
    a = factory.build(factory.uncompressed(SPEC))
    other = factory.ImageSpec(
        layers=[factory.Layer([factory.File("etc/other", b"x")], compression="none")],
        name="example.org/other:2",
    )
    return [a, factory.build(other)]


def test_docker_archive_with_several_images(tmp_path: Path) -> None:
    a, b = _two_images()
    path = factory.write_docker_archive([a, b], tmp_path / "multi.tar")
    with pytest.raises(InputError, match=r"holds 2 images.*example.org/other:2"):
        open_image(f"docker-archive:{path}")
    assert open_image(f"docker-archive:{path}:example.org/other:2").config_digest == b.config_digest
    assert open_image(f"docker-archive:{path}:@0").config_digest == a.config_digest
    assert open_image(f"docker-archive:{path}:@1").config_digest == b.config_digest
    assert open_image(f"docker-archive:{path}:@1").reference == "example.org/other:2"
    with pytest.raises(InputError, match=r"no image @2 \(archive has 2\)"):
        open_image(f"docker-archive:{path}:@2")
    with pytest.raises(InputError, match="no image tagged 'nope:1'"):
        open_image(f"docker-archive:{path}:nope:1")


def test_oci_tags(tmp_path: Path) -> None:
    a, b = _two_images()
    layout = factory.write_oci_dir([a, b], tmp_path / "dir")
    assert open_image(f"oci:{layout}:2").config_digest == b.config_digest
    assert open_image(f"oci:{layout}:example.org/test/image:1.0").config_digest == a.config_digest
    archive = factory.write_oci_archive([a, b], tmp_path / "o.tar")
    assert open_image(f"oci-archive:{archive}:2").config_digest == b.config_digest
    with pytest.raises(InputError, match="no image tagged 'missing'"):
        open_image(f"oci:{layout}:missing")
    with pytest.raises(InputError, match=r"holds 2 images; pick one with :TAG \(tags: ex"):
        open_image(f"oci:{layout}")


def _multiarch() -> list[factory.BuiltImage]:
    out = []
    for arch, variant in (("amd64", None), ("arm64", "v8"), ("arm", "v7")):
        spec = factory.ImageSpec(
            layers=[factory.Layer([factory.File("etc/arch", arch.encode())])],
            architecture=arch,
            variant=variant,
        )
        out.append(factory.build(spec))
    return out


@pytest.mark.parametrize("writer", ["dir", "archive"])
def test_nested_index_platform(tmp_path: Path, writer: str) -> None:
    images = _multiarch()
    if writer == "dir":
        ref = f"oci:{factory.write_oci_dir(images, tmp_path / 'd', nested='multi:1')}"
    else:
        ref = (
            f"oci-archive:{factory.write_oci_archive(images, tmp_path / 'o.tar', nested='multi:1')}"
        )

    def pick(platform: str | None) -> str:
        opts = SourceOptions(platform=Platform.parse(platform) if platform else None)
        return open_image(ref, opts).config_digest

    assert pick("linux/arm64") == images[1].config_digest
    assert pick("linux/arm64/v8") == images[1].config_digest
    assert pick("linux/arm/v7") == images[2].config_digest
    assert pick("linux/amd64") == images[0].config_digest
    # Default: the host's platform when the index has it, else linux/amd64.
    host = Platform.host()
    expected = {"amd64": 0, "arm64": 1}.get(host.architecture, 0)
    assert pick(None) == images[expected].config_digest
    assert open_image(ref).reference == "multi:1"
    with pytest.raises(InputError, match=r"linux/s390x not in the image index"):
        pick("linux/s390x")
    with pytest.raises(InputError, match=r"linux/arm/v6 not in the image index"):
        pick("linux/arm/v6")


def test_default_platform_falls_back_to_amd64(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = _multiarch()
    ref = f"oci:{factory.write_oci_dir(images, tmp_path / 'd', nested='multi:1')}"
    monkeypatch.setattr(Platform, "host", classmethod(lambda cls: cls("linux", "riscv64")))
    assert open_image(ref).config_digest == images[0].config_digest
    monkeypatch.setattr(Platform, "host", classmethod(lambda cls: cls("linux", "arm64")))
    assert open_image(ref).config_digest == images[1].config_digest


def test_platform_mismatch_on_single_image(tmp_path: Path) -> None:
    built = factory.build(SPEC)
    ref = f"docker-archive:{factory.write_docker_archive(built, tmp_path / 'a.tar', layout='oci')}"
    with pytest.raises(InputError, match="image is linux/amd64, not linux/arm64"):
        open_image(ref, SourceOptions(platform=Platform.parse("linux/arm64")))


def test_legacy_archive_config_digest_is_checked(tmp_path: Path) -> None:
    built = factory.build(factory.uncompressed(SPEC))
    path = factory.write_docker_archive(built, tmp_path / "a.tar")
    manifest = json.loads(_member(path, "manifest.json"))
    assert manifest[0]["Config"] == built.config_digest.split(":")[1] + ".json"


def _member(path: Path, name: str) -> bytes:
    import tarfile

    with tarfile.open(path) as tar:
        fh = tar.extractfile(name)
        assert fh is not None
        return fh.read()


def test_legacy_layer_tar_symlink(tmp_path: Path) -> None:
    """docker save writes a layer once; another image's `<id>/layer.tar` may be a
    symlink to it. The layer is read through the link, with the target's size."""
    import io
    import tarfile

    built = factory.build(factory.uncompressed(SPEC))
    path = tmp_path / "links.tar"
    with tarfile.open(path, "w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("aaa/layer.tar", built.diffs[0])
        add("bbb/layer.tar", built.diffs[1])
        link = tarfile.TarInfo("ccc/layer.tar")
        link.type = tarfile.SYMTYPE
        link.linkname = "../bbb/layer.tar"
        tar.addfile(link)
        add(built.config_digest[7:] + ".json", built.config)
        manifest = [
            {
                "Config": built.config_digest[7:] + ".json",
                "RepoTags": ["x:1"],
                "Layers": ["aaa/layer.tar", "ccc/layer.tar"],
            }
        ]
        add("manifest.json", json.dumps(manifest).encode())
    image = open_image(str(path))
    assert [ly.size for ly in image.layers] == [len(d) for d in built.diffs]
    assert [ly.digest for ly in image.layers] == [factory.sha256(d) for d in built.diffs]
    from auditor.loading import LoadOptions, load_image

    loaded = load_image(str(path), LoadOptions(use_cache=False, jobs=1))
    assert loaded.fs.get("app/main.py") is not None
