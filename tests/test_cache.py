"""The layer-index cache: a layer seen once is never read again."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from auditor import layers
from auditor.cache import LayerCache, default_cache_dir
from auditor.capture import DEFAULT_POLICY
from auditor.cli import main
from auditor.layerindex import LayerIndex
from auditor.loading import LoadOptions, load_image
from auditor.sources.interface import FileSlice
from auditor.sources.interface import Layer as SourceLayer
from tests import factory
from tests.factory import File, Layer

BASE = [
    Layer([File("etc/os-release", b"ID=debian\n"), File("usr/lib/libc.so", b"c" * 4000)], "ADD /"),
    Layer([File("usr/lib/python3/x.py", b"x" * 300)], "RUN apt-get install python3"),
]


def image(extra: bytes, name: str = "example.org/app:1") -> factory.BuiltImage:
    layers = [*BASE, Layer([File("app/main.py", extra)], "COPY . /app", compression="zstd")]
    return factory.build(factory.ImageSpec(layers=layers, name=name))


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every layer blob opened for reading, by path (scans here run with jobs=1)."""
    seen: list[str] = []
    original = layers.index_layer

    def counting(layer: SourceLayer, *args: Any) -> LayerIndex:
        assert isinstance(layer.locator, FileSlice)
        seen.append(layer.locator.path)
        return original(layer, *args)

    monkeypatch.setattr(layers, "index_layer", counting)
    return seen


def scan(ref: str, cache_dir: Path) -> dict:  # type: ignore[type-arg]
    loaded = load_image(ref, LoadOptions(cache_dir=cache_dir, jobs=1))
    from auditor.report.sections import build_report

    return build_report(loaded).to_json()


def test_second_scan_reads_no_layer(tmp_path: Path, opened: list[str]) -> None:
    built = image(b"print(1)\n")
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    cache = tmp_path / "cache"
    first = scan(f"oci:{layout}", cache)
    layer_paths = {str(layout / "blobs/sha256" / factory.sha256(b)[7:]) for b in built.blobs}
    assert set(opened) == layer_paths
    opened.clear()
    # Make every layer blob unreadable garbage: a scan that read one would fail.
    for path in layer_paths:
        Path(path).write_bytes(b"garbage")
    second = scan(f"oci:{layout}", cache)
    assert opened == []
    assert second == first


def test_second_scan_opens_no_layer_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same proof at the lowest level: no layer blob file is even opened."""
    built = image(b"print(1)\n")
    layout = factory.write_oci_dir(built, tmp_path / "layout")
    scan(f"oci:{layout}", tmp_path / "cache")
    blobs = {str(layout / "blobs/sha256" / factory.sha256(b)[7:]) for b in built.blobs}
    seen: list[str] = []
    original = FileSlice.open

    def counting(self: FileSlice) -> Any:
        seen.append(self.path)
        return original(self)

    monkeypatch.setattr(FileSlice, "open", counting)
    scan(f"oci:{layout}", tmp_path / "cache")
    assert not blobs & set(seen)


def test_image_sharing_base_layers_reads_only_its_new_layer(
    tmp_path: Path, opened: list[str]
) -> None:
    cache = tmp_path / "cache"
    a, b = image(b"print(1)\n"), image(b"print(2)\n", "example.org/app:2")
    scan(f"oci:{factory.write_oci_dir(a, tmp_path / 'a')}", cache)
    opened.clear()
    layout_b = factory.write_oci_dir(b, tmp_path / "b")
    loaded = load_image(f"oci:{layout_b}", LoadOptions(cache_dir=cache, jobs=1))
    assert opened == [str(layout_b / "blobs/sha256" / factory.sha256(b.blobs[2])[7:])]
    assert (loaded.cache_hits, loaded.layers_read) == (2, 1)
    assert loaded.fs.read("app/main.py") is None  # not captured: only metadata
    assert loaded.fs.read("etc/os-release") == b"ID=debian\n"  # from the cached index


def test_cache_is_shared_across_transports(tmp_path: Path, opened: list[str]) -> None:
    built = factory.build(factory.uncompressed(factory.ImageSpec(layers=BASE)))
    cache = tmp_path / "cache"
    scan(f"docker-archive:{factory.write_docker_archive(built, tmp_path / 'a.tar')}", cache)
    opened.clear()
    scan(f"oci-archive:{factory.write_oci_archive(built, tmp_path / 'o.tar')}", cache)
    assert opened == []


def test_an_engine_export_serves_the_compressed_image_but_not_the_reverse(
    tmp_path: Path, opened: list[str]
) -> None:
    """An uncompressed layer's digest is its diff_id: its index serves the same layer
    gzip'd. A gzip blob's index is filed under the gzip blob only (its diff_id is not
    hashed), so the export reads its layers again."""
    spec = factory.ImageSpec(layers=BASE)
    gz, tar = factory.build(spec), factory.build(factory.uncompressed(spec))
    first = tmp_path / "export-first"
    export = scan(f"docker-archive:{factory.write_docker_archive(tar, tmp_path / 'a.tar')}", first)
    opened.clear()
    registry_like = f"oci:{factory.write_oci_dir(gz, tmp_path / 'gz')}"
    assert (
        scan(registry_like, first)["image"]["layers"][0]["diff_id"]
        == (export["image"]["layers"][0]["diff_id"])
    )
    assert opened == []
    second = tmp_path / "gzip-first"
    scan(registry_like, second)
    opened.clear()
    scan(f"docker-archive:{tmp_path / 'a.tar'}", second)
    assert len(opened) == 2


def test_no_cache_reads_everything_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], opened: list[str], _private_cache: Path
) -> None:
    built = image(b"print(1)\n")
    ref = f"oci:{factory.write_oci_dir(built, tmp_path / 'layout')}"
    for _ in range(2):
        opened.clear()
        assert (
            main(
                [
                    "scan",
                    ref,
                    "--no-cache",
                    "--jobs",
                    "1",
                    "--format",
                    "json",
                    "--disable",
                    "SEC001",
                ]
            )
            == 0
        )
        assert len(opened) == 3
    assert [p for p in _private_cache.rglob("*") if p.is_file()] == []  # nor results
    assert main(["scan", ref, "--jobs", "1", "--format", "json", "--disable", "SEC001"]) == 0
    assert len(list((_private_cache / "layers").rglob("*.index"))) == 3
    capsys.readouterr()


def test_cache_dir_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    built = image(b"print(1)\n")
    ref = f"oci:{factory.write_oci_dir(built, tmp_path / 'layout')}"
    assert main(["scan", ref, "--jobs", "1", "--disable", "SEC001"]) == 0
    capsys.readouterr()
    names = sorted(p.name for p in (tmp_path / "elsewhere" / "layers").rglob("*.index"))
    assert names == sorted(d.replace(":", "-") + ".index" for d in map(factory.sha256, built.blobs))


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("IMGAUDIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "imgaudit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "imgaudit"


@pytest.mark.parametrize(
    "damage",
    [
        b"not gzip at all",
        gzip.compress(b"{not json"),
        gzip.compress(json.dumps({"format": 1}).encode()),
        gzip.compress(json.dumps({"format": 999}).encode()),
        gzip.compress(b"[]"),
        gzip.compress(b'{"format": 1, "diff_id": "x", "entries": [[1]], "whiteouts": []}'),
        b"",
    ],
)
def test_a_corrupt_entry_is_a_miss(tmp_path: Path, damage: bytes, opened: list[str]) -> None:
    built = image(b"print(1)\n")
    ref = f"oci:{factory.write_oci_dir(built, tmp_path / 'layout')}"
    cache = tmp_path / "cache"
    first = scan(ref, cache)
    entries = sorted(cache.rglob("*.index"))
    assert len(entries) == 3
    entries[0].write_bytes(damage)
    opened.clear()
    assert scan(ref, cache) == first
    assert len(opened) == 1
    opened.clear()
    scan(ref, cache)  # the entry was rewritten
    assert opened == []


def _layer(digest: str, diff_id: str) -> SourceLayer:
    return SourceLayer(0, diff_id, digest, "", None, FileSlice("/nonexistent", 0, 0))


def test_an_entry_under_the_wrong_key_is_a_miss(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path, DEFAULT_POLICY)
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    cache.put(LayerIndex(diff_id=a, digest=a))
    cache._path(a).rename(cache._path(b))
    assert cache.get(_layer(b, b)) is None
    assert cache.misses == 1


def test_an_index_is_found_by_its_blob_or_by_the_diff_id_an_uncompressed_blob_verified(
    tmp_path: Path,
) -> None:
    """Filed under the blob it was read from; found by a compressed layer of another
    image through the diff_id only when that blob was the uncompressed tar itself."""
    cache = LayerCache(tmp_path, DEFAULT_POLICY)
    tar, gz, other_gz = ("sha256:" + c * 64 for c in "abc")
    cache.put(LayerIndex(diff_id=tar, digest=tar, tar_size=1))  # an engine export's layer
    found = cache.get(_layer(gz, tar))  # the same layer gzip'd in a registry
    assert found is not None and found.tar_size == 1 and found.diff_id == tar

    cache.put(LayerIndex(diff_id=tar, digest=gz, tar_size=2))  # read from a gzip blob
    assert cache.get(_layer(gz, tar)).tar_size == 2  # type: ignore[union-attr]
    cache._path(tar).unlink()
    # another blob claiming the same diff_id: the gzip blob's index is not its content
    assert cache.get(_layer(other_gz, tar)) is None
    assert cache.get(_layer(tar, tar)) is None  # nor the tar's, read uncompressed


def test_the_key_includes_the_capture_policy(tmp_path: Path) -> None:
    from auditor.capture import Capture, CapturePolicy

    other = CapturePolicy(captures=(*DEFAULT_POLICY.captures, Capture("etc/new")))
    assert LayerCache(tmp_path, other).dir != LayerCache(tmp_path, DEFAULT_POLICY).dir
