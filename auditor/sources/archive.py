"""Random access to the members of a tar archive (docker save output, OCI archives).

The archive is scanned once for its headers; member data is then read in place
(`FileSlice`) because tar stores each member contiguously. A compressed archive
(`docker save | gzip`) is first decompressed into a private temporary file, since
docker save output is not ordered for streaming.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from typing import Any, BinaryIO

from auditor.errors import CorruptInput, InputError
from auditor.sources.interface import FileSlice

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # manifests, indexes and configs are small JSON
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class _Member:
    offset: int
    size: int
    link: str | None  # symlink or hard link target (archive-relative), for layer.tar links


class TarArchive:
    """Header table of an uncompressed tar file, read once."""

    def __init__(self, path: str, display: str | None = None) -> None:
        self.display = display or path
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self.path = self._uncompressed(path)
        self._members: dict[str, _Member] = {}
        try:
            with tarfile.open(self.path, "r:") as tar:
                for info in tar:
                    name = _clean(info.name)
                    if info.issym():
                        link = posixpath.normpath(
                            posixpath.join(posixpath.dirname(name), info.linkname)
                        )
                        self._members[name] = _Member(0, 0, link)
                    elif info.islnk():
                        self._members[name] = _Member(0, 0, _clean(info.linkname))
                    elif info.isfile():
                        self._members[name] = _Member(info.offset_data, info.size, None)
        except (tarfile.TarError, EOFError, OSError) as exc:
            self.close()
            raise CorruptInput(f"{self.display}: not a readable tar archive ({exc})") from None
        if not self._members:
            self.close()
            raise CorruptInput(f"{self.display}: empty or not a tar archive")
        size = os.path.getsize(self.path)
        for name, m in self._members.items():
            if m.link is None and m.offset + m.size > size:
                self.close()
                raise CorruptInput(f"{self.display}: truncated archive (member {name} is cut off)")

    def _uncompressed(self, path: str) -> str:
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic[:2] != _GZIP_MAGIC and magic != _ZSTD_MAGIC:
            return path
        # deferred: a plain tar (nearly every archive) needs neither zstandard nor the
        # `platform` module it imports (start-up time, see README "Performance")
        import zstandard

        self._tmpdir = tempfile.TemporaryDirectory(prefix="imgaudit-archive-")
        target = os.path.join(self._tmpdir.name, "archive.tar")
        try:
            with open(path, "rb") as raw, open(target, "wb") as out:
                if magic[:2] == _GZIP_MAGIC:
                    shutil.copyfileobj(gzip.GzipFile(fileobj=raw), out, 1 << 20)
                else:
                    _unzstd(raw, out)
        except (OSError, EOFError, zstandard.ZstdError) as exc:
            raise CorruptInput(f"{self.display}: cannot decompress archive ({exc})") from None
        return target

    def close(self) -> None:
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def has(self, name: str) -> bool:
        return self._resolve(name) is not None

    def _resolve(self, name: str) -> _Member | None:
        name = _clean(name)
        for _ in range(8):
            member = self._members.get(name)
            if member is None or member.link is None:
                return member
            name = member.link
        return None

    def locate(self, name: str) -> FileSlice:
        member = self._resolve(name)
        if member is None:
            raise CorruptInput(f"{self.display}: missing {name} in the archive")
        return FileSlice(self.path, member.offset, member.size, f"{self.display}:{_clean(name)}")

    def read(self, name: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
        member = self._resolve(name)
        if member is None:
            raise CorruptInput(f"{self.display}: missing {name} in the archive")
        if member.size > limit:
            raise CorruptInput(
                f"{self.display}: {name} is {member.size} bytes, over the {limit} limit"
            )
        with self.locate(name).open() as fh:
            return fh.read()


def _unzstd(raw: BinaryIO, out: BinaryIO) -> None:
    """Decompress every zstd frame of `raw` into `out`; a stream cut inside a frame is an
    error (zstandard's stream reader would end quietly)."""
    import zstandard  # deferred, see `_uncompressed`

    decoder: Any = None
    pending = b""
    while True:
        data = pending or raw.read(1 << 16)
        pending = b""
        if not data:
            if decoder is not None:
                raise EOFError("truncated zstd stream")
            return
        if decoder is None:
            decoder = zstandard.ZstdDecompressor(max_window_size=1 << 27).decompressobj()
        out.write(decoder.decompress(data))
        if decoder.eof:
            pending = decoder.unused_data
            decoder = None


def _clean(name: str) -> str:
    name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def check_is_file(path: str, display: str) -> None:
    if not os.path.exists(path):
        raise InputError(f"{display}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{display}: is a directory (use oci:DIR for an OCI layout directory)")
