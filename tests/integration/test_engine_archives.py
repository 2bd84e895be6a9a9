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
    # The synthetic image fails the default gate (python3 without its libraries: EL001),
    # whichever way it was exported.
    assert main(["scan", ref, "--format", "json", "--no-cache", "--jobs", "1"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert {f["check_id"] for f in out["findings"] if f["severity"] == "error"} == {"EL001"}
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
            pytest.skip("skopeo is not installed (apt-get install skopeo)")
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
        # minbase + USER 1000: no error-level finding, so the gate passes
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


def tricky_spec(tag: str) -> factory.ImageSpec:
    """Whiteouts, opaque dirs, re-creation, type changes, links: what the merge must get
    right, in layers written with explicit parents (engines differ on implicit ones)."""
    return factory.ImageSpec(
        layers=[
            Layer(
                [
                    File("srv/a/1", b"1" * 10),
                    File("srv/a/b/2", b"2" * 20),
                    File("srv/keep", b"k"),
                    File("opt/lower/x", b"x" * 30),
                    File("opt/lower2", b"y"),
                    File("usr/file-then-dir", b"f" * 40),
                    factory.Dir("usr/dir-then-file"),
                    File("usr/dir-then-file/inner", b"i" * 5),
                    File("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
                    Hardlink("etc/passwd-", "etc/passwd"),
                    Symlink("bin", "usr/bin"),
                ],
                compression="none",
            ),
            Layer(
                [
                    Whiteout("srv/a"),
                    Opaque("opt"),
                    File("opt/new", b"n" * 3),
                    Whiteout("usr/file-then-dir"),
                    File("usr/file-then-dir/x", b"d"),
                    Whiteout("usr/dir-then-file"),
                    File("usr/dir-then-file", b"now a file"),
                ],
                "RUN change",
                compression="none",
            ),
            Layer(
                [
                    File("srv/a/again", b"again"),
                    File("etc/passwd", b"root:x:0:0::/root:/bin/bash\n"),
                ],
                "RUN again",
                compression="none",
            ),
        ],
        name=tag,
    )


def test_merged_view_matches_the_engine(docker_engine: DockerEngine, tmp_path: Path) -> None:
    """The engine's own merged rootfs (`docker export` of a created, never started
    container) holds exactly the paths, kinds and sizes our FileSystem has."""
    import io
    import tarfile

    from auditor.loading import LoadOptions, load_image

    tag = f"imgaudit-test/foundation-merge:p{os.getpid()}"
    built = factory.build(tricky_spec(tag))
    archive = factory.write_docker_archive(built, tmp_path / "t.tar")
    loaded = load_image(str(archive), LoadOptions(use_cache=False, jobs=1))
    ours = {}
    for path, node in loaded.fs.nodes.items():
        kind = "f" if node.entry.kind == "h" else node.entry.kind
        ours[path] = (kind, loaded.fs.file_size(path) or 0 if kind == "f" else 0)

    client = docker_engine.client()
    try:
        client.images.load(archive.read_bytes())
        container = client.containers.create(tag, command=["none"])
        try:
            exported = b"".join(container.export())
        finally:
            container.remove(force=True)
        engine: dict[str, tuple[str, int]] = {}
        with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
            for info in tar:
                name = info.name.strip("/")
                top = name.split("/")[0]
                runtime_added = top in ("dev", "proc", "sys", ".dockerenv") or (
                    top == "etc" and not name.startswith("etc/passwd")
                )
                if not name or runtime_added:
                    continue  # the runtime adds these (/.dockerenv, /etc/hosts, ...)
                kind = {tarfile.DIRTYPE: "d", tarfile.SYMTYPE: "l"}.get(info.type, "f")
                if info.type == tarfile.LNKTYPE:
                    kind = "f"
                    size = next(m.size for m in tar.getmembers() if m.name == info.linkname)
                else:
                    size = info.size if kind == "f" else 0
                engine[name] = (kind, size)
    finally:
        client.images.remove(tag, force=True)
        client.close()
    ours.pop("etc", None)
    assert ours == engine
    assert sorted(p for p, _ in loaded.fs.walk_files()) == sorted(
        p for p, (k, _) in engine.items() if k != "d"
    )
