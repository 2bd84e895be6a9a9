"""Manifests, indexes and configs that lie or have the wrong shape: one line and exit 2
when the image cannot be modelled faithfully, a normal report when only free-text
metadata (history, created, os) is odd. Never a traceback, never a long walk."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import InputError
from auditor.sources import SourceOptions, open_image
from auditor.sources.oci_layout_dir import DirectoryStore
from tests import factory
from tests.factory import File, Layer
from tests.test_bad_input import REPO
from tests.test_hostile_tar import one_line, scan_json

SPEC = factory.ImageSpec(
    layers=[Layer([File("etc/os-release", b"ID=debian\n")]), Layer([File("app/a", b"1")])]
)
BASE = factory.build(SPEC)
INDEX_MEDIA = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA = "application/vnd.oci.image.manifest.v1+json"


def with_manifest(mutate: Callable[[dict[str, Any]], Any]) -> factory.BuiltImage:
    manifest = json.loads(BASE.manifest)
    mutate(manifest)
    return factory.BuiltImage(
        BASE.spec, BASE.diffs, BASE.blobs, BASE.config, json.dumps(manifest).encode()
    )


def with_config(mutate: Callable[[dict[str, Any]], Any]) -> factory.BuiltImage:
    config = json.loads(BASE.config)
    mutate(config)
    return factory.with_config(BASE, config)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            doc = doc[int(p)] if p.isdigit() else doc[p]  # type: ignore[index]
        doc[last] = value

    return mutate


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.pop(key)


@pytest.mark.parametrize(
    ("built", "message"),
    [
        (with_manifest(_set("layers", "abc")), "no layers list"),
        (with_manifest(_set("config", [1])), "no config descriptor"),
        (with_manifest(_drop("config")), "no config descriptor"),
        (with_manifest(_drop("layers")), "no layers list"),
        (with_manifest(_set("layers.0.digest", 5)), "descriptor without a valid digest"),
        (with_manifest(_set("layers.0.digest", "sha256:../../../etc/passwd")), "bad digest"),
        (with_config(_set("rootfs.diff_ids", [1, 2])), "bad diff_id 1 in config"),
        (with_config(_set("rootfs.diff_ids", "sha256:abc")), "config has no rootfs.diff_ids"),
        (with_config(_set("rootfs", [])), "config has no rootfs.diff_ids"),
        (with_config(lambda c: c["rootfs"]["diff_ids"].pop()), "config has 1 diff_ids"),
        (with_config(_set("config", [])), "config.config: expected a JSON object"),
        (with_config(_set("config", {"User": 0})), "config.config.User: expected a string"),
        (with_config(_set("config", {"Env": "A=1"})), "config.config.Env: expected a list"),
        (with_config(_set("config", {"Env": [1]})), "config.config.Env: expected a list"),
        (with_config(_set("config", {"Labels": ["a"]})), "config.config.Labels: expected"),
        (with_config(_set("config", {"Labels": {"a": 1}})), "Labels: values must be strings"),
        (with_config(_set("config", {"WorkingDir": []})), "WorkingDir: expected a string"),
        (factory.with_config(BASE, b"null"), "config: expected a JSON object, got NoneType"),
        (factory.with_config(BASE, b'{"rootfs": 1e999999}'), "config"),
    ],
)
def test_wrong_shapes_are_one_line(tmp_path: Path, built: factory.BuiltImage, message: str) -> None:
    for transport, ref in (
        ("oci", f"oci:{factory.write_oci_dir(built, tmp_path / 'l')}"),
        ("docker", f"docker-archive:{factory.write_docker_archive(built, tmp_path / 'd.tar')}"),
    ):
        if transport == "docker" and built.config == BASE.config:
            continue  # a damaged OCI manifest: docker-archive's manifest.json is not one
        err = one_line(ref)
        assert message in err, (transport, err)


def test_cmd_as_a_string_is_what_docker_accepts(tmp_path: Path) -> None:
    built = with_config(_set("config", {"Cmd": "python app.py", "Entrypoint": None}))
    report = scan_json(f"oci:{factory.write_oci_dir(built, tmp_path / 'l')}")
    assert report["image"]["cmd"] == ["python app.py"]
    assert report["image"]["entrypoint"] is None


@pytest.mark.parametrize(
    "history",
    [
        [],  # no history at all
        [{"created_by": "RUN x"}] * 40,  # far more steps than layers
        "not a list",
        [1, "x", None, {"created_by": 5, "empty_layer": "yes"}],
    ],
)
def test_history_that_does_not_match_still_reports(tmp_path: Path, history: Any) -> None:
    built = with_config(_set("history", history))
    report = scan_json(f"oci:{factory.write_oci_dir(built, tmp_path / 'l')}")
    layers = report["image"]["layers"]
    assert [ly["index"] for ly in layers] == [0, 1]
    assert all(ly["created_by"] is None or isinstance(ly["created_by"], str) for ly in layers)
    if history and isinstance(history, list) and isinstance(history[0], dict):
        assert [ly["created_by"] for ly in layers] == ["RUN x", "RUN x"]


@pytest.mark.parametrize(("field", "value"), [("created", 12345), ("os", []), ("created", "x")])
def test_odd_free_text_fields_still_report(tmp_path: Path, field: str, value: Any) -> None:
    built = with_config(_set(field, value))
    ref = f"oci:{factory.write_oci_dir(built, tmp_path / 'l')}"
    for fmt in ("json", "html", "sarif", "junit", "markdown", "table"):
        proc = subprocess.run(
            [sys.executable, "-m", "auditor", "scan", "--no-cache", "-q", "--format", fmt, ref],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, (fmt, proc.stderr)


def _put(layout: Path, data: bytes) -> dict[str, Any]:
    (layout / "blobs" / "sha256" / factory.sha256(data)[7:]).write_bytes(data)
    return {"mediaType": INDEX_MEDIA, "digest": factory.sha256(data), "size": len(data)}


def _index(manifests: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {"schemaVersion": 2, "mediaType": INDEX_MEDIA, "manifests": manifests}
    ).encode()


def _blob_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count, per digest, the blobs an OCI layout directory source reads from now on."""
    reads: dict[str, int] = {}
    real = DirectoryStore.read_blob

    def counted(self: DirectoryStore, digest: str) -> bytes:
        reads[digest] = reads.get(digest, 0) + 1
        return real(self, digest)

    monkeypatch.setattr(DirectoryStore, "read_blob", counted)
    return reads


@pytest.mark.timeout(300)  # only a hang: 12**7 walks would never end
def test_index_fan_out_bomb_is_walked_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seven levels of indexes, each listing the next one 12 times: 12**7 walks unless
    each index is visited once. (A true cycle cannot exist: digests are verified.)"""
    layout = factory.write_oci_dir(BASE, tmp_path / "l")
    desc = {"mediaType": MANIFEST_MEDIA, "digest": BASE.manifest_digest, "size": len(BASE.manifest)}
    for _ in range(7):
        desc = _put(layout, _index([desc] * 12))
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    report = scan_json(f"oci:{layout}")  # a subprocess, with a hang timeout
    assert report["image"]["digest"] == BASE.config_digest
    # bounded work, in process: each index blob is read once, not once per path to it
    reads = _blob_reads(monkeypatch)
    image = open_image(f"oci:{layout}", SourceOptions())
    assert image.config_digest == BASE.config_digest
    assert len(reads) >= 8 and max(reads.values()) == 1, reads


def test_indexes_nested_too_deep(tmp_path: Path) -> None:
    layout = factory.write_oci_dir(BASE, tmp_path / "l")
    desc = {"mediaType": MANIFEST_MEDIA, "digest": BASE.manifest_digest, "size": len(BASE.manifest)}
    for _ in range(12):
        desc = _put(layout, _index([desc]))
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    assert "indexes nested deeper than 8" in one_line(f"oci:{layout}")


def test_an_index_naming_itself_is_a_digest_mismatch(tmp_path: Path) -> None:
    """An index cannot contain its own digest; a store that serves it anyway under
    that name is caught by digest verification, not followed round."""
    layout = factory.write_oci_dir(BASE, tmp_path / "l")
    fake = factory.sha256(b"placeholder")
    data = _index([{"mediaType": INDEX_MEDIA, "digest": fake, "size": 10}])
    (layout / "blobs" / "sha256" / fake[7:]).write_bytes(data)
    (layout / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": INDEX_MEDIA, "digest": fake}]})
    )
    assert "digest mismatch" in one_line(f"oci:{layout}")


@pytest.mark.timeout(300)  # only a hang
def test_thousands_of_layers_are_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 5000
    manifest = json.loads(BASE.manifest)
    manifest["layers"] = [manifest["layers"][0]] * n
    config = json.loads(BASE.config)
    config["rootfs"]["diff_ids"] = [config["rootfs"]["diff_ids"][0]] * n
    built = factory.with_config(BASE, config)
    m2 = json.loads(built.manifest)
    m2["layers"] = manifest["layers"]
    built.manifest = json.dumps(m2).encode()
    layout = factory.write_oci_dir(built, tmp_path / "l")
    err = one_line(f"oci:{layout}")
    assert f"{n} layers, over the limit of 1000" in err
    # bounded work, in process: refused on opening, before any layer is located or read
    reads = _blob_reads(monkeypatch)
    located: list[str] = []
    monkeypatch.setattr(DirectoryStore, "locate", lambda self, d: located.append(d))
    with pytest.raises(InputError, match=f"{n} layers, over the limit of 1000"):
        open_image(f"oci:{layout}", SourceOptions())
    layer_digest = manifest["layers"][0]["digest"]
    assert layer_digest not in reads and located == [], (reads, located)


def test_descriptor_media_type_of_the_wrong_type(tmp_path: Path) -> None:
    """Found by fuzz/fuzz_manifest.py: a mediaType that is an object crashed the
    index walk with TypeError (unhashable dict)."""
    layout = factory.write_oci_dir(BASE, tmp_path / "l")
    inner = _put(layout, _index([{"mediaType": {"os": "linux"}, "digest": BASE.manifest_digest}]))
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [inner]}))
    assert "a descriptor's mediaType is not a string" in one_line(f"oci:{layout}")
