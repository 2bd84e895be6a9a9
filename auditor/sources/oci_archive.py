"""`oci-archive:PATH[:tag]`: an OCI image layout packed in a tar file."""

from __future__ import annotations

import dataclasses

from auditor.errors import CorruptInput
from auditor.sources.archive import TarArchive, check_is_file
from auditor.sources.interface import BlobLocator, Image, SourceInfo
from auditor.sources.ocilayout import BlobStore, blob_path, load_image
from auditor.sources.platform import Platform

TRANSPORT = "oci-archive"


class ArchiveStore(BlobStore):
    def __init__(self, archive: TarArchive) -> None:
        self.archive = archive
        self.display = archive.display

    def has_file(self, name: str) -> bool:
        return self.archive.has(name)

    def read_file(self, name: str) -> bytes:
        return self.archive.read(name)

    def locate(self, digest: str) -> BlobLocator:
        rel = blob_path(digest)
        if not self.archive.has(rel):
            raise CorruptInput(f"{self.display}: blob {digest} is missing ({rel})")
        return self.archive.locate(rel)

    def read_blob(self, digest: str) -> bytes:
        rel = blob_path(digest)
        if not self.archive.has(rel):
            raise CorruptInput(f"{self.display}: blob {digest} is missing ({rel})")
        return self.archive.read(rel)


def open_archive(
    path: str,
    tag: str | None,
    platform: Platform | None,
    display: str,
    archive: TarArchive | None = None,
) -> Image:
    if archive is None:
        check_is_file(path, display)
        archive = TarArchive(path, display)
    store = ArchiveStore(archive)
    image = load_image(store, tag, platform, SourceInfo(TRANSPORT, display, path))
    # The layer locators point into the archive (or its decompressed copy): keep it.
    return dataclasses.replace(image, keepalive=(archive,))
