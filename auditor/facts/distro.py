"""Where the image's distribution stands in its life cycle: release, end of life, rolling.

The dates are package data (`auditor/data/distros.json`, with its sources and as-of
date) so refreshing them is a data change, not a code change. Distroless images are
Debian underneath; they are recognised by their per-package dpkg files
(`/var/lib/dpkg/status.d/`) and the missing shell, and share Debian's dates.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from auditor.facts.osinfo import OsInfo
from auditor.fs import FileSystem

SHELLS = ("bin/sh", "bin/bash", "bin/ash", "bin/busybox", "usr/bin/sh", "usr/bin/bash")


@dataclass(frozen=True)
class Release:
    version: str
    released: dt.date
    eol: dt.date
    lts: bool
    codename: str = ""


@dataclass(frozen=True)
class DistroStatus:
    key: str | None  # the table's key: debian, ubuntu, centos-stream, ...
    name: str | None  # human name from the table
    version: str | None  # the version as matched against the table
    release: Release | None  # None: unknown distro or version not in the table
    rolling: str | None  # why it counts as rolling, or None
    distroless: bool
    as_of: str  # the table's as-of date

    @property
    def known(self) -> bool:
        return self.key is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "version": self.version,
            "released": self.release.released.isoformat() if self.release else None,
            "eol": self.release.eol.isoformat() if self.release else None,
            "lts": self.release.lts if self.release else None,
            "rolling": self.rolling,
            "distroless": self.distroless,
            "table_as_of": self.as_of,
        }


@lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    text = resources.files("auditor").joinpath("data/distros.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _key(info: OsInfo) -> str | None:
    data = table()
    ident = (info.id or "").lower()
    if ident == "centos" and "stream" in (info.fields.get("NAME", "") or "").lower():
        return "centos-stream"
    ident = data["aliases"].get(ident, ident)
    # Derivatives (ID_LIKE=debian) are NOT judged by their parent: their release cycle
    # is their own, so an unlisted ID stays unknown (OS001 says so).
    return str(ident) if ident in data["distros"] else None


def _match(version: str, how: str) -> str:
    parts = version.split(".")
    if how == "major":
        return parts[0]
    if how == "major.minor":
        return ".".join(parts[:2])
    return version


def is_distroless(fs: FileSystem) -> bool:
    """Distroless: dpkg per-package status files and no shell at all."""
    has_status_d = bool(fs.listdir("var/lib/dpkg/status.d"))
    return has_status_d and not any(fs.resolve(s) is not None for s in SHELLS)


def lookup(info: OsInfo, fs: FileSystem) -> DistroStatus:
    data = table()
    distroless = is_distroless(fs)
    key = _key(info)
    if key is None:
        return DistroStatus(None, None, info.version_id, None, None, distroless, data["as_of"])
    entry = data["distros"][key]
    name = entry["name"]
    rolling: str | None = entry.get("rolling")
    raw = info.version_id
    if not raw:
        rolling = rolling or entry.get("unversioned_is_rolling")
        return DistroStatus(key, name, None, None, rolling, distroless, data["as_of"])
    for marker, why in entry.get("rolling_versions", {}).items():
        if marker in raw.lower():
            rolling = why
    version = _match(raw, entry.get("match", "exact"))
    release = None
    for r in entry["releases"]:
        if r["version"] == version:
            release = Release(
                r["version"],
                dt.date.fromisoformat(r["released"]),
                dt.date.fromisoformat(r["eol"]),
                bool(r["lts"]),
                r.get("codename", ""),
            )
    if release is not None and not release.lts and entry.get("interim_is_rolling"):
        rolling = rolling or entry["interim_is_rolling"]
    return DistroStatus(key, name, version, release, rolling, distroless, data["as_of"])
