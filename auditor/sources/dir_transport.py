"""`dir:DIR`: skopeo's directory transport, also podman's `save --format docker-dir`.

A common way to move images offline. The layout (containers/image, dir/): a `version`
file ("Directory Transport Version: 1.1"), `manifest.json` (the image manifest as the
source served it, or an index after `skopeo copy --all`), each blob in a file named by
its digest's hex part, and each per-platform manifest of an index in
`<hex>.manifest.json`. No tags: a directory holds one image (or one index).
"""

from __future__ import annotations

import os

from auditor.errors import CorruptInput, InputError
from auditor.sources.interface import (
    BlobLocator,
    FileSlice,
    Image,
    SourceInfo,
    parse_json,
    require_dict,
    sha256_digest,
)
from auditor.sources.oci_layout_dir import read_limited
from auditor.sources.ocilayout import (
    INDEX_TYPES,
    BlobStore,
    blob_path,
    image_from_manifest,
    pick_from_index,
)
from auditor.sources.platform import Platform

TRANSPORT = "dir"
VERSION_PREFIX = "Directory Transport Version: 1."


def is_dir_layout(path: str) -> bool:
    """A directory skopeo's `dir:` (or podman's docker-dir) wrote: `manifest.json`, no
    `index.json` (that would be an OCI layout)."""
    return os.path.isfile(os.path.join(path, "manifest.json")) and not os.path.isfile(
        os.path.join(path, "index.json")
    )


class DirStore(BlobStore):
    """Blobs named by their digest's hex part, manifests of an index by `<hex>.manifest.json`."""

    def __init__(self, root: str, display: str) -> None:
        self.root = os.path.realpath(root)
        self.display = display

    def _blob_file(self, digest: str) -> str:
        # blob_path validates the digest (alphanumeric algorithm and hex): no path
        # separators can come from the image's documents.
        hexpart = blob_path(digest).rsplit("/", 1)[1]
        return os.path.join(self.root, hexpart)

    def has_file(self, name: str) -> bool:
        return os.path.isfile(os.path.join(self.root, name))

    def read_file(self, name: str) -> bytes:
        return read_limited(os.path.join(self.root, name), f"{self.display}: {name}")

    def locate(self, digest: str) -> BlobLocator:
        path = self._blob_file(digest)
        if not os.path.isfile(path):
            raise CorruptInput(f"{self.display}: blob {digest} is missing")
        return FileSlice(path, 0, None, f"{self.display}/{os.path.basename(path)}")

    def read_blob(self, digest: str) -> bytes:
        # A per-platform manifest of an index is stored beside the blobs, not as one.
        manifest = self._blob_file(digest) + ".manifest.json"
        path = manifest if os.path.isfile(manifest) else self._blob_file(digest)
        if not os.path.isfile(path):
            raise CorruptInput(f"{self.display}: blob {digest} is missing")
        return read_limited(path, f"{self.display}: blob {digest}")


def open_dir(path: str, platform: Platform | None, display: str) -> Image:
    if not os.path.isdir(path):
        raise InputError(f"{display}: no such directory")
    store = DirStore(path, display)
    if not store.has_file("manifest.json"):
        raise InputError(f"{display}: not a dir: image (no manifest.json)")
    if store.has_file("version"):
        version = store.read_file("version").decode("utf-8", "replace").strip()
        if not version.startswith(VERSION_PREFIX):
            raise InputError(f"{display}: unsupported directory transport version {version!r}")
    raw = store.read_file("manifest.json")
    what = f"{display}: manifest.json"
    document = require_dict(parse_json(raw, what), what)
    if document.get("schemaVersion") == 1:
        raise InputError(
            f"{display}: a Docker schema 1 manifest; copy it again with "
            "`skopeo copy --format v2s2` (schema 1 has no image config)"
        )
    source = SourceInfo(TRANSPORT, display, path)
    if document.get("mediaType") in INDEX_TYPES or "manifests" in document:
        manifest_digest = pick_from_index(store, document, platform, what)
        manifest = require_dict(store.read_verified(manifest_digest, "manifest"), "manifest")
    else:
        manifest_digest = sha256_digest(raw)
        manifest = document
    return image_from_manifest(store, manifest, manifest_digest, "", platform, source)
