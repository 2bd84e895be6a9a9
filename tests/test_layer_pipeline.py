"""The layer reader's producer thread (auditor/layers.py `_Producer`).

A layer is read, hashed and decompressed by a thread of its own while the tar parse
runs in the caller's. What must not change with the thread: the bytes the parse sees,
both digests (blob and diff_id) verified before an index is returned, every
CorruptInput path (corrupt, truncated, bombs, bad tar headers), errors of the stored
stream itself, and memory bounded by a few pieces whatever the layer's size. And the
thread must be gone when `index_layer` returns or raises.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import tarfile
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from auditor import layers
from auditor.errors import CorruptInput
from auditor.sources.interface import BlobLocator, FileSlice, Layer
from tests import factory

COMPRESSIONS = ["none", "gzip", "zstd", "estargz"]


def _producers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "imgaudit-inflate"]


def _mixed_tar(seed: int = 1, files: int = 40) -> bytes:
    """A tar with incompressible and compressible files of many sizes (several MiB)."""
    rng = random.Random(seed)
    items: list[factory.Item] = []
    for i in range(files):
        size = rng.choice([0, 1, 511, 512, 513, 4096, 70_000, 300_000])
        data = os.urandom(size) if i % 2 else bytes([i]) * size
        items.append(factory.File(f"d{i % 5}/f{i}", data))
    return factory.layer_tar(factory.Layer(items))


def _layer(tmp_path: Path, blob: bytes, diff: bytes, digest: str | None = None) -> Layer:
    path = tmp_path / f"blob-{hashlib.sha256(blob).hexdigest()[:12]}"
    path.write_bytes(blob)
    return Layer(
        index=0,
        diff_id=factory.sha256(diff),
        digest=digest or factory.sha256(blob),
        media_type="",
        size=len(blob),
        locator=FileSlice(str(path)),
    )


def _read_all(reader: layers._DigestingReader, sizes: list[int]) -> bytes:
    out = bytearray()
    i = 0
    while True:
        data = reader.read(sizes[i % len(sizes)])
        i += 1
        if not data:
            return bytes(out)
        out += data


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_threaded_reader_gives_the_serial_readers_bytes_and_digests(compression: str) -> None:
    diff = _mixed_tar()
    blob = factory.compress(diff, compression)  # type: ignore[arg-type]
    results = []
    for threaded in (False, True):
        reader = layers._DigestingReader(io.BytesIO(blob), "layer 0", 1000, threaded=threaded)
        try:
            out = _read_all(reader, [512, 1, 100_000, 3 << 20, 7])
        finally:
            reader.close()
        results.append((out, reader.blob_digest, reader.produced))
    assert results[0] == results[1]
    assert results[1][0] == diff
    assert results[1][1] == factory.sha256(blob)
    assert not _producers()


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_index_is_the_same_with_and_without_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str
) -> None:
    items = [*factory.host_libraries([Path("/bin/ls").resolve()]), factory.File("etc/x", b"x")]
    diff = factory.layer_tar(factory.Layer(items)) + _mixed_tar()[:0]
    layer = _layer(tmp_path, factory.compress(diff, compression), diff)  # type: ignore[arg-type]
    indexes = []
    for threaded in (False, True):
        monkeypatch.setattr(layers, "THREADED", threaded)
        indexes.append(layers.index_layer(layer).to_json())
    assert indexes[0] == indexes[1]
    assert indexes[1]["elf"], "the ELF file was parsed through the threaded reader"
    assert not _producers()


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_the_blob_digest_is_verified_with_the_thread(tmp_path: Path, compression: str) -> None:
    diff = _mixed_tar()
    blob = factory.compress(diff, compression)  # type: ignore[arg-type]
    assert layers.THREADED
    good = _layer(tmp_path, blob, diff)
    assert layers.index_layer(good).tar_size == len(diff)
    # a compressed blob's diff_id is the config's claim, not hashed (layers._verify)
    claimed = layers.index_layer(_layer(tmp_path, blob, diff + b"x"))
    assert claimed.diff_id == factory.sha256(diff + b"x") and claimed.tar_size == len(diff)
    with pytest.raises(CorruptInput, match="digest mismatch"):
        layers.index_layer(_layer(tmp_path, blob, diff, digest=factory.sha256(b"other")))
    assert not _producers()


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("bad", ["second", "last"])
def test_a_bad_header_stops_the_thread(tmp_path: Path, compression: str, bad: str) -> None:
    """The parse fails while the producer is blocked on a full queue (a bad header at
    the start of a big layer) or after it (at the end): `close` must unblock it, or
    index_layer would hang or leave a thread holding the blob."""
    big = 4 * (layers._AHEAD + 2) * layers.PIECE
    items = [factory.File("a", b"a" * 100), factory.File("big", os.urandom(big)),
             factory.File("z", b"z" * 100)]  # fmt: skip
    diff = bytearray(factory.layer_tar(factory.Layer(items, auto_parents=False)))
    with tarfile.open(fileobj=io.BytesIO(bytes(diff))) as tar:
        members = tar.getmembers()
    offset = members[1 if bad == "second" else -1].offset
    diff[offset + 148 : offset + 156] = b"0000000\0"  # a wrong checksum
    blob = factory.compress(bytes(diff), compression)  # type: ignore[arg-type]
    with pytest.raises(CorruptInput, match="not a readable tar stream"):
        layers.index_layer(_layer(tmp_path, blob, bytes(diff)))
    assert not _producers()


@pytest.mark.parametrize("compression", ["gzip", "zstd", "estargz"])
def test_truncated_and_corrupt_blobs_are_corrupt_input_with_the_thread(
    tmp_path: Path, compression: str
) -> None:
    diff = _mixed_tar()
    blob = factory.compress(diff, compression)  # type: ignore[arg-type]
    cut = blob[: len(blob) * 2 // 3]
    with pytest.raises(CorruptInput, match=r"truncated (gzip|zstd) stream"):
        layers.index_layer(_layer(tmp_path, cut, diff, digest=factory.sha256(cut)))
    damaged = bytearray(blob)
    for i in range(len(blob) // 3, len(blob) // 3 + 64):
        damaged[i] ^= 0x5A
    with pytest.raises(CorruptInput, match="layer 0"):
        layers.index_layer(_layer(tmp_path, bytes(damaged), diff, digest=factory.sha256(damaged)))
    assert not _producers()


def test_a_decompression_bomb_is_stopped_with_the_thread(tmp_path: Path) -> None:
    diff = factory.layer_tar(factory.Layer([factory.File("zeros", bytes(300 << 20))]))
    blob = factory.compress(diff, "gzip")
    layer = _layer(tmp_path, blob, diff)
    with pytest.raises(CorruptInput, match="decompression bomb"):
        layers.index_layer(layer, max_ratio=100)
    assert not _producers()


class _Failing(io.RawIOBase):
    """A stored stream that fails after `good` bytes, as a dropped download does."""

    def __init__(self, data: bytes, good: int) -> None:
        self._data = io.BytesIO(data)
        self._good = good

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._data.tell() >= self._good:
            raise OSError(104, "Connection reset by peer")
        return self._data.read(min(n, self._good - self._data.tell()) if n >= 0 else n)


class _FailingLocator(BlobLocator):
    def __init__(self, data: bytes, good: int) -> None:
        self.data, self.good = data, good

    def open(self) -> IO[bytes]:  # type: ignore[override]
        return _Failing(self.data, self.good)

    def describe(self) -> str:
        return "a flaky download"


def test_an_error_of_the_stored_stream_is_raised_as_without_the_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    diff = _mixed_tar()
    blob = factory.compress(diff, "gzip")
    layer = Layer(0, factory.sha256(diff), factory.sha256(blob), "", len(blob),
                  _FailingLocator(blob, len(blob) // 2))  # fmt: skip
    errors = []
    for threaded in (False, True):
        monkeypatch.setattr(layers, "THREADED", threaded)
        with pytest.raises(OSError) as caught:
            layers.index_layer(layer)
        errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1]
    assert "Connection reset" in errors[1][1]
    assert not _producers()


def test_the_producer_stays_a_few_pieces_ahead() -> None:
    """Memory is bounded: with the parse stalled, the thread stops after `_AHEAD`
    pieces (plus the one it is making), however much of the blob is left."""
    diff = os.urandom(40 * layers.PIECE)
    reader = layers._DigestingReader(io.BytesIO(diff), "layer 0", 1000, threaded=True)
    try:
        assert reader.read(10) == diff[:10]
        last, deadline = -1, time.monotonic() + 10
        while reader.produced != last and time.monotonic() < deadline:
            last = reader.produced
            time.sleep(0.2)
        assert reader.produced <= (layers._AHEAD + 3) * layers.PIECE
        assert _read_all(reader, [1 << 16]) == diff[10:]
    finally:
        reader.close()
    assert reader.produced == len(diff)
    assert not _producers()
