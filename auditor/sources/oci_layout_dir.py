"""`oci:DIR[:tag]`: an OCI image layout directory (skopeo, buildah, umoci write these)."""

from __future__ import annotations

import os

from auditor.errors import CorruptInput, InputError
from auditor.sources.archive import MAX_DOCUMENT_BYTES
from auditor.sources.interface import BlobLocator, FileSlice, Image, SourceInfo
from auditor.sources.ocilayout import BlobStore, blob_path, load_image
from auditor.sources.platform import Platform

TRANSPORT = "oci"


class DirectoryStore(BlobStore):
    def __init__(self, root: str, display: str) -> None:
        self.root = os.path.realpath(root)
        self.display = display

    def _path(self, rel: str) -> str:
        # Names come from our own digest parser (blob_path), never from raw input.
        return os.path.join(self.root, *rel.split("/"))

    def has_file(self, name: str) -> bool:
        return os.path.isfile(self._path(name))

    def read_file(self, name: str) -> bytes:
        return read_limited(self._path(name), f"{self.display}: {name}")

    def locate(self, digest: str) -> BlobLocator:
        rel = blob_path(digest)
        path = self._path(rel)
        if not os.path.isfile(path):
            raise CorruptInput(f"{self.display}: blob {digest} is missing ({rel})")
        return FileSlice(path, 0, None, f"{self.display}/{rel}")

    def read_blob(self, digest: str) -> bytes:
        rel = blob_path(digest)
        path = self._path(rel)
        if not os.path.isfile(path):
            raise CorruptInput(f"{self.display}: blob {digest} is missing ({rel})")
        return read_limited(path, f"{self.display}: blob {digest}")


def read_limited(path: str, what: str) -> bytes:
    """A whole small file (a JSON document), refusing one over MAX_DOCUMENT_BYTES."""
    try:
        size = os.path.getsize(path)
        if size > MAX_DOCUMENT_BYTES:
            raise CorruptInput(f"{what}: {size} bytes, over the {MAX_DOCUMENT_BYTES} limit")
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise CorruptInput(f"{what}: cannot read ({exc.strerror})") from None


def open_layout(path: str, tag: str | None, platform: Platform | None, display: str) -> Image:
    if not os.path.isdir(path):
        raise InputError(f"{display}: no such directory")
    store = DirectoryStore(path, display)
    return load_image(store, tag, platform, SourceInfo(TRANSPORT, display, path))
