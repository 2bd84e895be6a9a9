"""Which dpkg package owns a path: /var/lib/dpkg/info/<pkg>[:arch].list files.

A small, self-contained reader so the Python facts can tell a distro interpreter from
a source build without waiting for the full dpkg fact. `owners(fs)` is the only entry
point: swap it for the dpkg fact's file index when that lands.

Paths are image-relative without a leading slash. Debian's merged /usr means the list
may say "/bin/x" while the image stores "usr/bin/x" (or the reverse): both spellings
are recorded, and lookups also try the path with symlinks resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.fs import FileSystem

INFO_DIR = "var/lib/dpkg/info"


@dataclass(frozen=True)
class DpkgFiles:
    owner: dict[str, str]  # path -> package name (without :arch)
    has_database: bool
    versions: dict[str, str] = field(default_factory=dict)  # package -> Version (status)

    def package_of(self, fs: FileSystem, path: str) -> str | None:
        path = path.strip("/")
        found = self.owner.get(path)
        if found is None:
            real = fs.resolve(path)
            if real is not None:
                found = self.owner.get(real)
        return found


def owners(fs: FileSystem) -> DpkgFiles:
    owner: dict[str, str] = {}
    has_db = fs.get(INFO_DIR) is not None or fs.get("var/lib/dpkg/status") is not None
    for path, data in fs.captured(lambda p: p.startswith(INFO_DIR + "/") and p.endswith(".list")):
        name = path.rsplit("/", 1)[1][: -len(".list")].split(":", 1)[0]
        for line in data.decode("utf-8", "replace").splitlines():
            p = line.strip().strip("/")
            if not p or p == ".":
                continue
            owner.setdefault(p, name)
            if p.startswith(("bin/", "sbin/", "lib/", "lib64/")):
                owner.setdefault("usr/" + p, name)
            elif p.startswith(("usr/bin/", "usr/sbin/", "usr/lib/", "usr/lib64/")):
                owner.setdefault(p[4:], name)
    return DpkgFiles(owner, has_db, _versions(fs.read("var/lib/dpkg/status") or b""))


def _versions(status: bytes) -> dict[str, str]:
    """Package -> Version of installed packages in a dpkg status file."""
    out: dict[str, str] = {}
    for stanza in status.decode("utf-8", "replace").split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line[:1].isspace():
                fields[key.strip().lower()] = value.strip()
        if "package" in fields and "version" in fields and "installed" in fields.get("status", ""):
            out[fields["package"]] = fields["version"]
    return out


def upstream_version(version: str) -> str:
    """`1:3.11.2-6+deb12u6` -> `3.11.2` (no epoch, no Debian revision)."""
    version = version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version
