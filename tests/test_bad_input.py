"""Bad input exits 2 with ONE line on stderr that says what and where; never a traceback.

Each case runs the real CLI in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests import factory
from tests.factory import File, Layer

REPO = Path(__file__).resolve().parent.parent
SPEC = factory.ImageSpec(
    layers=[
        Layer([File("etc/os-release", b"ID=debian\n" * 50)], compression="gzip"),
        Layer([File("app/x.py", b"x = 1\n" * 300)], compression="zstd"),
    ]
)


def run(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", "--no-cache", "--jobs", "1", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line(ref: str, *pattern: str) -> str:
    code, out, err = run(ref)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("imgaudit: error: "), err
    for p in pattern:
        assert p in err, err
    assert out == ""
    return err


def blob_file(layout: Path, data: bytes) -> Path:
    return layout / "blobs" / "sha256" / factory.sha256(data)[7:]


@pytest.mark.parametrize(
    "ref",
    [
        "{d}/missing.tar",
        "docker-archive:{d}/missing.tar",
        "oci-archive:{d}/missing.tar",
        "oci:{d}/nope",
    ],
)
def test_missing_file(tmp_path: Path, ref: str) -> None:
    assert_one_line(ref.format(d=tmp_path), f"{tmp_path}/", "no such")


def test_directory_that_is_not_a_layout(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "file.txt").write_text("hello")
    assert_one_line(str(tmp_path / "stuff"), "not an OCI layout (no index.json)", str(tmp_path))
    assert_one_line(f"oci:{tmp_path / 'stuff'}", "not an OCI layout")


def test_directory_as_an_archive(tmp_path: Path) -> None:
    assert_one_line(f"docker-archive:{tmp_path}", "is a directory")


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "random.tar"
    path.write_bytes(os.urandom(5000))
    assert_one_line(str(path), str(path), "not a readable tar archive")
    assert_one_line(f"docker-archive:{path}", str(path), "not a readable tar archive")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.tar"
    path.write_bytes(b"")
    assert_one_line(str(path), str(path))


def test_plain_tar(tmp_path: Path) -> None:
    path = tmp_path / "plain.tar"
    with tarfile.open(path, "w") as tar:
        tar.add(__file__, "notes.py")
    assert_one_line(str(path), "not an image archive")
    assert_one_line(f"docker-archive:{path}", "not a docker-archive (no manifest.json)")
    assert_one_line(f"oci-archive:{path}", "not an OCI layout (no index.json)")


@pytest.mark.parametrize("layout", ["legacy", "oci"])
def test_truncated_archive(tmp_path: Path, layout: str) -> None:
    built = factory.build(SPEC if layout == "oci" else factory.uncompressed(SPEC))
    path = factory.write_docker_archive(built, tmp_path / "a.tar", layout=layout)  # type: ignore[arg-type]
    data = path.read_bytes()
    # Cut inside the last member's data (manifest.json comes last; cut before it).
    path.write_bytes(data[: len(data) // 2])
    assert_one_line(str(path), str(path))


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_truncated_archive_compressed(tmp_path: Path, compression: str) -> None:
    built = factory.build(factory.uncompressed(SPEC))
    plain = factory.write_docker_archive(built, tmp_path / "a.tar").read_bytes()
    path = tmp_path / "a.tar.z"
    blob = factory.compress(plain, compression)  # type: ignore[arg-type]
    path.write_bytes(blob[: len(blob) * 2 // 3])
    assert_one_line(str(path), str(path), "cannot decompress archive")


@pytest.mark.parametrize(("index", "word"), [(0, "gzip"), (1, "zstd")])
def test_truncated_layer(tmp_path: Path, index: int, word: str) -> None:
    built = factory.build(SPEC)
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    blob = built.blobs[index]
    blob_file(layout, blob).write_bytes(blob[: len(blob) - 10])
    assert_one_line(f"oci:{layout}", f"layer {index}", f"truncated {word} stream")


@pytest.mark.parametrize(("index", "word"), [(0, "gzip"), (1, "zstd")])
def test_corrupt_layer(tmp_path: Path, index: int, word: str) -> None:
    built = factory.build(SPEC)
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    blob = bytearray(built.blobs[index])
    for i in range(20, 40):
        blob[i] ^= 0x5A
    blob_file(layout, built.blobs[index]).write_bytes(bytes(blob))
    assert_one_line(f"oci:{layout}", f"layer {index}", str(layout))


def test_bad_manifest_json(tmp_path: Path) -> None:
    built = factory.build(factory.uncompressed(SPEC))
    path = factory.write_docker_archive(built, tmp_path / "a.tar")
    _replace_member(path, "manifest.json", b"[{not json")
    assert_one_line(str(path), "manifest.json: invalid JSON")


def test_bad_index_json(tmp_path: Path) -> None:
    layout = factory.write_oci_dir(factory.build(SPEC), tmp_path / "layout")
    (layout / "index.json").write_bytes(b"{")
    assert_one_line(f"oci:{layout}", "index.json: invalid JSON")
    (layout / "index.json").write_bytes(b"[]")
    assert_one_line(f"oci:{layout}", "index.json: expected a JSON object")


def test_bad_config_json(tmp_path: Path) -> None:
    built = factory.with_config(factory.build(SPEC), b'{"rootfs": ')
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    assert_one_line(f"oci:{layout}", "config", "invalid JSON")
    path = factory.write_docker_archive(built, tmp_path / "a.tar", layout="legacy")
    assert_one_line(str(path), "invalid JSON")


def test_config_without_diff_ids(tmp_path: Path) -> None:
    built = factory.with_config(factory.build(SPEC), {"os": "linux", "architecture": "amd64"})
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    assert_one_line(f"oci:{layout}", "no rootfs.diff_ids")


def test_diff_id_mismatch_of_an_uncompressed_layer(tmp_path: Path) -> None:
    """An uncompressed blob is its own tar: its digest is what the diff_id must be."""
    built = factory.build(factory.uncompressed(SPEC))
    config = json.loads(built.config)
    config["rootfs"]["diff_ids"][1] = factory.sha256(b"a lie")
    built = factory.with_config(built, config)
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    assert_one_line(f"oci:{layout}", "layer 1", "diff_id mismatch", factory.sha256(b"a lie"))


def test_a_compressed_layer_is_read_whatever_diff_id_the_config_claims(tmp_path: Path) -> None:
    """The blob digest fixes the bytes; the diff_id of a compressed blob is the config's
    claim, not hashed (auditor/layers.py `_verify`; tests/test_cache.py shows the claim
    cannot reach another image's scan)."""
    built = factory.build(SPEC)
    config = json.loads(built.config)
    config["rootfs"]["diff_ids"][1] = factory.sha256(b"a lie")
    built = factory.with_config(built, config)
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    code, out, err = run(f"oci:{layout}", "--format", "json")
    assert code in (0, 1), err
    report = json.loads(out)
    assert report["image"]["layers"][1]["diff_id"] == factory.sha256(b"a lie")
    assert report["image"]["layers"][1]["size"] == len(b"x = 1\n" * 300)  # its blob, read


def test_blob_digest_mismatch(tmp_path: Path) -> None:
    built = factory.build(SPEC)
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    # A valid layer, but not the one the manifest names.
    other = factory.compress(factory.layer_tar(Layer([File("x", b"y")])), "gzip")
    blob_file(layout, built.blobs[0]).write_bytes(other)
    assert_one_line(
        f"oci:{layout}", "layer 0", "digest mismatch", f"expected {factory.sha256(built.blobs[0])}"
    )


def test_manifest_digest_mismatch(tmp_path: Path) -> None:
    built = factory.build(SPEC)
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    blob_file(layout, built.manifest).write_bytes(built.manifest + b" ")
    assert_one_line(f"oci:{layout}", "manifest", "digest mismatch")


def test_missing_blob_is_named(tmp_path: Path) -> None:
    built = factory.build(SPEC)
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    blob_file(layout, built.blobs[1]).unlink()
    assert_one_line(f"oci:{layout}", f"blob {factory.sha256(built.blobs[1])} is missing")
    archive = tmp_path / "o.tar"
    with tarfile.open(archive, "w") as tar:
        for p in sorted(layout.rglob("*")):
            if p.is_file():
                tar.add(p, str(p.relative_to(layout)))
    assert_one_line(f"oci-archive:{archive}", f"blob {factory.sha256(built.blobs[1])} is missing")


def test_missing_foreign_layer_is_named(tmp_path: Path) -> None:
    built = factory.build(SPEC)
    manifest = json.loads(built.manifest)
    manifest["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    manifest["layers"][0]["urls"] = ["https://example.com/base.tar.gz"]
    built.manifest = json.dumps(manifest).encode()
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    blob_file(layout, built.blobs[0]).unlink()
    assert_one_line(
        f"oci:{layout}",
        f"layer 0 ({factory.sha256(built.blobs[0])}) is a foreign layer",
        "https://example.com/base.tar.gz",
    )


def test_errors_from_worker_processes_are_one_line(tmp_path: Path) -> None:
    built = factory.build(SPEC)
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    blob = built.blobs[1]
    blob_file(layout, blob).write_bytes(blob[:-10])
    code, _, err = run(f"oci:{layout}", "--jobs", "2")
    assert code == 2 and err.count("\n") == 1 and "truncated zstd stream" in err, err


def test_missing_layer_in_docker_archive(tmp_path: Path) -> None:
    built = factory.build(factory.uncompressed(SPEC))
    path = factory.write_docker_archive(built, tmp_path / "a.tar")
    manifest = json.loads(_read_member(path, "manifest.json"))
    manifest[0]["Layers"][1] = "deadbeef/layer.tar"
    _replace_member(path, "manifest.json", json.dumps(manifest).encode())
    assert_one_line(str(path), "missing deadbeef/layer.tar")


@pytest.mark.parametrize(
    "ref", ["foo-archive:x.tar", "docker-dir:/tmp/x", "containers-storage:img"]
)
def test_unknown_transport(ref: str) -> None:
    assert_one_line(ref, "unknown transport", "known: ")


def test_dir_transport_without_the_directory(tmp_path: Path) -> None:
    assert_one_line(f"dir:{tmp_path / 'absent'}", "no such directory")
    (tmp_path / "empty").mkdir()
    assert_one_line(f"dir:{tmp_path / 'empty'}", "no manifest.json")


def test_tag_not_in_the_archive(tmp_path: Path) -> None:
    built = factory.build(SPEC)
    oci = factory.write_oci_archive(built, tmp_path / "o.tar")
    assert_one_line(f"oci-archive:{oci}:v9", "no image tagged 'v9'", "example.org/test/image:1.0")
    docker = factory.write_docker_archive(built, tmp_path / "d.tar", layout="oci")
    assert_one_line(f"docker-archive:{docker}:other:1", "no image tagged 'other:1'")


def test_platform_not_available(tmp_path: Path) -> None:
    layout = factory.write_oci_dir(factory.build(SPEC), tmp_path / "l")
    code, _, err = run(f"oci:{layout}", "--platform", "linux/arm64")
    assert code == 2 and err.count("\n") == 1 and "not linux/arm64" in err
    code, _, err = run(f"oci:{layout}", "--platform", "linux")
    assert code == 2 and err.count("\n") == 1 and "bad --platform" in err


@pytest.mark.parametrize(
    ("name", "what"),
    [("../../etc/passwd", "'..'"), ("/etc/passwd", "absolute path"), ("a/../../x", "'..'")],
)
def test_unsafe_tar_entries(tmp_path: Path, name: str, what: str) -> None:
    info = tarfile.TarInfo(name)
    info.size = 3
    spec = factory.ImageSpec(layers=[Layer([factory.Raw(info, b"bad")], auto_parents=False)])
    layout = factory.write_oci_dir(factory.build(spec), tmp_path / "l")
    err = assert_one_line(f"oci:{layout}", "layer 0", what)
    assert not (tmp_path / "etc").exists()
    assert name in err


def test_layer_that_is_not_a_tar(tmp_path: Path) -> None:
    built = factory.build(SPEC)
    junk = factory.compress(b"this is not a tar archive" * 40, "gzip")
    layout = factory.write_oci_dir(built, tmp_path / "l")
    blob_file(layout, built.blobs[0]).write_bytes(junk)
    assert_one_line(f"oci:{layout}", "layer 0")


def _read_member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        fh = tar.extractfile(name)
        assert fh is not None
        return fh.read()


def _replace_member(path: Path, name: str, data: bytes) -> None:
    import io

    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]  # type: ignore[union-attr]
    with tarfile.open(path, "w") as tar:
        for m, content in members:
            if m.name == name:
                content = data
                m.size = len(data)
            tar.addfile(m, io.BytesIO(content) if content is not None else None)
