"""A Debian `Packages` index the user passes (`--packages-index FILE`), for OS006.

The index is what the mirror offers now (e.g. `bookworm-updates` or
`bookworm-security/main/binary-amd64/Packages`, plain, .gz or .xz); a package whose
installed version is older than the index's newest version has an update pending.
Versions are compared the dpkg way (python-debian's `Version`), never as strings.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import InputError

# python-debian is imported in the functions below, not here: every scan imports this
# module (OS006), few give an index. Deferred: start-up time, see README "Performance".


@dataclass(frozen=True, eq=False)
class PackagesIndex:
    """A fact given from outside the image (OS006); the result cache names it by the
    digest of the file as given."""

    path: str
    digest: str  # sha256 of the file's bytes as read (compressed or not)
    newest: Mapping[str, str]  # package name -> newest version in the index

    @property
    def identity(self) -> str:
        return self.digest


def load(path: str | Path) -> PackagesIndex:
    """Newest version per package name in the index file."""
    from debian import deb822
    from debian.debian_support import Version

    p = Path(path)
    try:
        raw = p.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        elif raw[:6] == b"\xfd7zXZ\x00":
            raw = lzma.decompress(raw)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise InputError(f"cannot read packages index {p}: {exc}") from None
    newest: dict[str, str] = {}
    text = raw.decode("utf-8", "replace")
    for para in deb822.Deb822.iter_paragraphs(text.splitlines(keepends=True)):
        name, version = para.get("Package"), para.get("Version")
        if not name or not version:
            continue
        try:
            if name not in newest or Version(version) > Version(newest[name]):
                newest[name] = version
        except ValueError:
            continue
    if not newest:
        raise InputError(f"{p}: not a Debian Packages index (no Package/Version stanzas)")
    return PackagesIndex(str(p), digest, newest)


def outdated(installed: Mapping[str, str], index: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(package, installed version, available version) for every pending update."""
    from debian.debian_support import Version

    out = []
    for name in sorted(installed):
        avail = index.get(name)
        if avail is None:
            continue
        try:
            if Version(installed[name]) < Version(avail):
                out.append((name, installed[name], avail))
        except ValueError:
            continue
    return out
