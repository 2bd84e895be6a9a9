"""The layer reader's gzip path: ISA-L or zlib-ng when installed, the stdlib's zlib otherwise.

Both must give byte-identical output and the same digests on real layer bytes
(single- and multi-member gzip, as estargz / pigz --independent write), and both
must turn corrupt or truncated input into CorruptInput, never a traceback.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from zlib_ng import zlib_ng

from auditor import layers
from auditor.errors import CorruptInput

# isal and zlib-ng are dependencies (imgaudit falls back from one to the next, then to
# zlib): all must agree.
INFLATERS: list[tuple[str, Any]] = [("zlib", zlib), ("zlib_ng", zlib_ng)]
try:
    from isal import isal_zlib

    INFLATERS.append(("isal", isal_zlib))
except ImportError:  # a machine without an isal wheel: imgaudit uses zlib-ng there
    pass


def _real_tar() -> bytes:
    """A tar of real files from this host: the CPython stdlib's json package + an ELF."""
    import json
    import sys

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(str(Path(json.__file__).parent), arcname="usr/lib/python3/json")
        tar.add(str(Path(sys.executable).resolve()), arcname="usr/bin/python3")
    return buf.getvalue()


@pytest.fixture(params=[name for name, _ in INFLATERS])
def inflate(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    module = dict(INFLATERS)[request.param]
    monkeypatch.setattr(layers, "_inflate", module)
    return str(request.param)


def _drain(blob: bytes, chunk_limit: int | None = None) -> tuple[bytes, layers._DigestingReader]:
    reader = layers._DigestingReader(io.BytesIO(blob), "layer 0", 1000)
    out = bytearray()
    while True:
        data = reader.read(chunk_limit or 65536)
        if not data:
            break
        out += data
    return bytes(out), reader


def test_single_member_gzip_round_trips(inflate: str) -> None:
    tar = _real_tar()
    blob = gzip.compress(tar, compresslevel=6)
    out, reader = _drain(blob)
    assert out == tar
    assert reader.compression == "gzip"
    assert reader.blob_digest == "sha256:" + hashlib.sha256(blob).hexdigest()


def test_multi_member_gzip_round_trips(inflate: str) -> None:
    tar = _real_tar()
    cuts = sorted(random.Random(8).sample(range(1, len(tar)), 5))
    parts = [tar[a:b] for a, b in zip([0, *cuts], [*cuts, len(tar)])]
    blob = b"".join(gzip.compress(p) for p in parts)
    out, reader = _drain(blob, chunk_limit=4096)
    assert out == tar
    assert reader.blob_digest == "sha256:" + hashlib.sha256(blob).hexdigest()


def test_both_inflaters_agree_on_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from auditor.sources.interface import FileSlice, Layer

    tar = _real_tar()
    blob = gzip.compress(tar)
    path = tmp_path / "layer.tar.gz"
    path.write_bytes(blob)
    layer = Layer(
        index=0,
        diff_id="sha256:" + hashlib.sha256(tar).hexdigest(),
        digest="sha256:" + hashlib.sha256(blob).hexdigest(),
        media_type="application/vnd.oci.image.layer.v1.tar+gzip",
        size=len(blob),
        locator=FileSlice(path=str(path), size=len(blob)),
    )
    indexes = []
    for _name, module in INFLATERS:
        monkeypatch.setattr(layers, "_inflate", module)
        indexes.append(layers.index_layer(layer).to_json())
    assert all(ix == indexes[0] for ix in indexes)
    assert "usr/bin/python3" in indexes[0]["elf"]
    assert any(e[0] == "usr/lib/python3/json/__init__.py" for e in indexes[0]["entries"])


def test_corrupt_gzip_is_corrupt_input(inflate: str) -> None:
    blob = bytearray(gzip.compress(_real_tar()))
    mid = len(blob) // 2
    blob[mid : mid + 64] = bytes(64)
    with pytest.raises(CorruptInput, match="corrupt gzip data"):
        _drain(bytes(blob))


def test_truncated_gzip_is_corrupt_input(inflate: str) -> None:
    blob = gzip.compress(_real_tar())
    with pytest.raises(CorruptInput, match="truncated gzip"):
        _drain(blob[: len(blob) // 2])


def test_uncompressed_blob_digest_is_the_diff_id() -> None:
    """An uncompressed blob is its tar: its one hash is both digests."""
    tar = _real_tar()
    out, reader = _drain(tar)
    assert out == tar and reader.compression == "none"
    expected = "sha256:" + hashlib.sha256(tar).hexdigest()
    assert reader.blob_digest == expected


def test_uncompressed_digest_mismatch_is_detected(tmp_path: Path) -> None:
    from auditor.sources.interface import FileSlice, Layer

    tar = _real_tar()
    path = tmp_path / "layer.tar"
    path.write_bytes(tar)
    good = "sha256:" + hashlib.sha256(tar).hexdigest()
    bad = "sha256:" + hashlib.sha256(b"other").hexdigest()
    for diff_id, digest, message in ((good, bad, "digest mismatch"), (bad, good, "diff_id")):
        layer = Layer(0, diff_id, digest, "", len(tar), FileSlice(path=str(path), size=len(tar)))
        with pytest.raises(CorruptInput, match=message):
            layers.index_layer(layer)
    layer = Layer(0, good, good, "", len(tar), FileSlice(path=str(path), size=len(tar)))
    assert layers.index_layer(layer).tar_size == len(tar)
