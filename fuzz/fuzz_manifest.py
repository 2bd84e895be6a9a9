"""Fuzz manifest, index and config parsing through the OCI layout loader.

The input is documents separated by NUL bytes: document 0 is index.json, the others
are blobs. In any document, `@N` is replaced by the digest of document N (N > the
document's own number), so a fuzzer can build linked indexes, manifests and configs
without forging hashes. Anything but InputError escaping is a crash.
"""

from __future__ import annotations

import hashlib
import io
import re
from typing import BinaryIO

from harness import instrumented, main

with instrumented():
    from auditor.errors import InputError
    from auditor.history import created_by_per_layer
    from auditor.sources.interface import BlobLocator, SourceInfo
    from auditor.sources.ocilayout import BlobStore, load_image
    from auditor.sources.platform import Platform

_REF = re.compile(rb"@(\d)")


class Bytes(BlobLocator):
    def __init__(self, data: bytes) -> None:
        self.data = data

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data)

    def describe(self) -> str:
        return "fuzz blob"


class MemoryStore(BlobStore):
    display = "fuzz"

    def __init__(self, index: bytes, blobs: dict[str, bytes]) -> None:
        self.index = index
        self.blobs = blobs

    def read_file(self, name: str) -> bytes:
        if name != "index.json":
            raise InputError(f"no {name}")
        return self.index

    def has_file(self, name: str) -> bool:
        return name == "index.json"

    def locate(self, digest: str) -> BlobLocator:
        if digest not in self.blobs:
            raise InputError(f"blob {digest} is missing")
        return Bytes(self.blobs[digest])

    def read_blob(self, digest: str) -> bytes:
        return self.locate(digest).data  # type: ignore[attr-defined]


def link(data: bytes) -> tuple[bytes, dict[str, bytes]]:
    docs = data.split(b"\0")[:8]
    digests: dict[int, str] = {}
    for i in range(len(docs) - 1, -1, -1):

        def sub(m: re.Match[bytes], i: int = i) -> bytes:
            n = int(m.group(1))
            return digests[n].encode() if n > i and n in digests else m.group(0)

        docs[i] = _REF.sub(sub, docs[i])
        digests[i] = "sha256:" + hashlib.sha256(docs[i]).hexdigest()
    return docs[0], {digests[i]: docs[i] for i in range(1, len(docs))}


def one_input(data: bytes) -> None:
    index, blobs = link(data)
    store = MemoryStore(index, blobs)
    for platform in (None, Platform.parse("linux/arm64")):
        try:
            image = load_image(store, None, platform, SourceInfo("oci", "fuzz"))
        except InputError:
            continue
        assert all(isinstance(ly.diff_id, str) for ly in image.layers)
        assert len(created_by_per_layer(image.config, len(image.layers))) == len(image.layers)
        image.architecture  # noqa: B018 - computed from the config: must not raise


if __name__ == "__main__":
    main(one_input)
