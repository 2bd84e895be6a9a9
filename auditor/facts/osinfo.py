"""Which distribution the image is built on, from os-release and friends."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from auditor.fs import FileSystem


@dataclass(frozen=True)
class OsInfo:
    id: str | None = None  # os-release ID: debian, ubuntu, alpine, rhel, ...
    version_id: str | None = None
    version_codename: str | None = None
    pretty_name: str | None = None
    id_like: tuple[str, ...] = ()
    source: str | None = None  # the file it was read from
    libc: str | None = None  # glibc | musl | None (unknown)
    fields: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version_id": self.version_id,
            "version_codename": self.version_codename,
            "pretty_name": self.pretty_name,
            "libc": self.libc,
            "source": self.source,
        }


def parse_os_release(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value, posix=True)
            out[key.strip()] = parts[0] if parts else ""
        except ValueError:
            out[key.strip()] = value.strip().strip("\"'")
    return out


def detect(fs: FileSystem) -> OsInfo:
    libc = _libc(fs)
    for path in ("etc/os-release", "usr/lib/os-release"):
        data = fs.read(path)
        if data:
            f = parse_os_release(data.decode("utf-8", "replace"))
            return OsInfo(
                id=f.get("ID") or None,
                version_id=f.get("VERSION_ID") or None,
                version_codename=f.get("VERSION_CODENAME") or None,
                pretty_name=f.get("PRETTY_NAME") or None,
                id_like=tuple(f.get("ID_LIKE", "").split()),
                source="/" + path,
                libc=libc,
                fields=f,
            )
    for path, distro in (("etc/alpine-release", "alpine"), ("etc/debian_version", "debian")):
        data = fs.read(path)
        if data:
            return OsInfo(
                id=distro,
                version_id=data.decode("utf-8", "replace").strip(),
                source="/" + path,
                libc=libc,
            )
    return OsInfo(libc=libc)


def _libc(fs: FileSystem) -> str | None:
    for d in ("lib", "usr/lib"):
        for name in fs.listdir(d):
            if name.startswith("ld-musl-"):
                return "musl"
    for d in (
        "lib64",
        "lib",
        "usr/lib64",
        "usr/lib",
        "lib/x86_64-linux-gnu",
        "lib/aarch64-linux-gnu",
        "usr/lib/x86_64-linux-gnu",
        "usr/lib/aarch64-linux-gnu",
    ):
        for name in fs.listdir(d):
            if name.startswith(("ld-linux", "libc.so.6")):
                return "glibc"
    return None
