"""Fuzz the layer reader: any bytes as a layer blob (gzip, zstd or plain tar), then
the merged filesystem model over the index (links resolved, waste, sizes).

Digest checks are switched off here (a fuzzer cannot forge sha256) so the inputs
reach the tar parsing and the model; tests cover the checks themselves.
"""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

from harness import instrumented, main

with instrumented():
    from auditor import layers
    from auditor.errors import InputError
    from auditor.fs import FileSystem
    from auditor.layerindex import LayerIndex
    from auditor.sources.interface import BlobLocator, Layer


class Bytes(BlobLocator):
    def __init__(self, data: bytes) -> None:
        self.data = data

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data)

    def describe(self) -> str:
        return "fuzz input"


def _no_verify(*args: object) -> None:
    return None


def one_input(data: bytes) -> None:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    layer = Layer(0, digest, digest, "", len(data), Bytes(data))
    verify, layers._verify = layers._verify, _no_verify  # type: ignore[assignment]
    try:
        index = layers.index_layer(layer, max_ratio=100, max_entries=20_000)
    except InputError:
        return
    finally:
        layers._verify = verify
    fs = FileSystem([index, index])  # twice: the second layer overwrites the first
    for path in list(fs.nodes)[:200]:
        real = fs.resolve(path)
        assert real is None or real == "" or real in fs.nodes, (path, real)
        fs.read(path)
    assert fs.total_bytes + fs.wasted_bytes == fs.written_bytes
    fs.directory_sizes()
    LayerIndex.from_json(index.to_json())


if __name__ == "__main__":
    main(one_input)
