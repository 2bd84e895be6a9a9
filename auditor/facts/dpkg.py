"""The dpkg database: installed packages and which package owns which file.

Read from `var/lib/dpkg/status` (or distroless's `var/lib/dpkg/status.d/<name>`, one
control stanza per package) with python-debian's deb822 parser, and from the file
lists: `var/lib/dpkg/info/*.list`, or distroless's `status.d/<name>.md5sums` (one
`<md5>  <path>` line per regular file the package ships; distroless keeps no
`info/` directory, so without these its files would look like nobody's).

Listed paths are written as the package ships them (`/bin/su`); on merged-/usr
images `/bin` is a link to `/usr/bin`, so every listed directory is resolved through
the image's own links before it is used as a key: `owner("/usr/bin/su")` finds
util-linux either way.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from auditor.fs import FileSystem

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d"
INFO = "var/lib/dpkg/info"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    architecture: str = ""
    priority: str = ""
    essential: bool = False
    source: str = ""
    installed_size_kb: int = 0
    # Relationship fields as the control stanza writes them (`libc6 (>= 2.34), zlib1g`):
    # the SBOM's dependency graph resolves them against the installed packages.
    depends: str = ""
    pre_depends: str = ""
    provides: str = ""

    @property
    def required(self) -> bool:
        """Part of every Debian system: Essential or Priority required."""
        return self.essential or self.priority == "required"

    def to_json(self) -> dict[str, Any]:
        """One entry of the report's `facts.dpkg.packages` (what an SBOM lists)."""
        return {
            "name": self.name,
            "version": self.version,
            "architecture": self.architecture,
            "source": self.source,
            "depends": self.depends,
            "pre_depends": self.pre_depends,
            "provides": self.provides,
        }


@dataclass
class DpkgDb:
    present: bool = False
    origin: str | None = None  # "/var/lib/dpkg/status" or "/var/lib/dpkg/status.d"
    packages: dict[str, Package] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # real image path (no leading /) -> package
    lists: dict[str, list[str]] = field(default_factory=dict)  # package -> paths as listed

    def owner(self, path: str) -> Package | None:
        name = self.files.get(path.strip("/"))
        return self.packages.get(name) if name else None

    def package_of(self, fs: FileSystem, path: str) -> str | None:
        """The package that lists `path`, also when `path` reaches the file through a link
        (`/usr/bin/python3` -> `python3.11`)."""
        path = path.strip("/")
        found = self.files.get(path)
        if found is None:
            real = fs.resolve(path)
            found = self.files.get(real) if real is not None else None
        return found

    def package_of_dir(self, fs: FileSystem, path: str) -> str | None:
        """The package that ships directory `path`: listed itself (info/*.list names
        directories), or through a file directly in it (md5sums name files only)."""
        found = self.package_of(fs, path)
        if found is not None:
            return found
        real = fs.resolve(path.strip("/"))
        if real is None:
            return None
        for child in fs.listdir(real):
            found = self.files.get(f"{real}/{child}" if real else child)
            if found is not None:
                return found
        return None

    @property
    def versions(self) -> dict[str, str]:
        """Installed package -> Version."""
        return {name: pkg.version for name, pkg in self.packages.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "origin": self.origin,
            "count": len(self.packages),
            "files": len(self.files),
            "packages": [self.packages[name].to_json() for name in sorted(self.packages)],
        }


def parse_status(text: str, require_installed: bool = True) -> dict[str, Package]:
    """Packages of a dpkg status text (several stanzas); only installed ones count."""
    # deferred: start-up time, see README "Performance" (python-debian is only needed
    # when a dpkg database is parsed, never on a warm scan)
    from debian import deb822

    out: dict[str, Package] = {}
    for para in deb822.Deb822.iter_paragraphs(text.splitlines(keepends=True)):
        name = para.get("Package")
        version = para.get("Version")
        if not name or not version:
            continue
        status = para.get("Status", "")
        if require_installed and status and not status.endswith(" installed"):
            continue
        try:
            size = int(para.get("Installed-Size", "0") or 0)
        except ValueError:
            size = 0
        arch = para.get("Architecture", "")
        pkg = Package(
            name=name,
            version=version,
            architecture=arch,
            priority=para.get("Priority", ""),
            essential=para.get("Essential", "").lower() == "yes",
            source=(para.get("Source", "") or name).split(" ")[0],
            installed_size_kb=size,
            depends=_one_line(para.get("Depends", "")),
            pre_depends=_one_line(para.get("Pre-Depends", "")),
            provides=_one_line(para.get("Provides", "")),
        )
        out[name] = pkg
    return out


def _one_line(value: str) -> str:
    """A folded control field on one line (`Depends` may continue on indented lines)."""
    return " ".join(value.split())


def upstream_version(version: str) -> str:
    """`1:3.11.2-6+deb12u6` -> `3.11.2` (no epoch, no Debian revision)."""
    version = version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def load(fs: FileSystem) -> DpkgDb:
    db = DpkgDb(present=fs.get(INFO) is not None)
    status = fs.read(STATUS)
    if status is not None:
        db.present, db.origin = True, "/" + STATUS
        db.packages.update(parse_status(status.decode("utf-8", "replace")))
    resolved: dict[str, str | None] = {}  # listed parent directory -> its real path
    for name in fs.listdir(STATUS_D):
        data = fs.read(f"{STATUS_D}/{name}")
        if data is None:
            continue
        text = data.decode("utf-8", "replace")
        if name.endswith(MD5SUMS):
            package = name[: -len(MD5SUMS)].split(":", 1)[0]
            _add_files(db, fs, package, md5sums_paths(text), resolved)
            continue
        db.present = True
        db.origin = db.origin or "/" + STATUS_D
        db.packages.update(parse_status(text))
    for name in fs.listdir(INFO):
        if not name.endswith(".list"):
            continue
        data = fs.read(f"{INFO}/{name}")
        if data is None:
            continue
        package = name[: -len(".list")].split(":", 1)[0]
        paths = (line.strip() for line in data.decode("utf-8", "replace").splitlines())
        _add_files(db, fs, package, paths, resolved)
    return db


MD5SUMS = ".md5sums"


def md5sums_paths(text: str) -> Iterator[str]:
    """The paths of an md5sums file: `<32 hex digits><two spaces><path>` per line (the
    path may hold spaces; a line of another shape is skipped)."""
    for line in text.splitlines():
        digest, sep, path = line.partition("  ")
        if sep and len(digest) == 32 and path.strip():
            yield path.strip()


def _add_files(
    db: DpkgDb,
    fs: FileSystem,
    package: str,
    paths: Iterable[str],
    resolved: dict[str, str | None],
) -> None:
    """Record `package` as the owner of `paths` (as the package lists them), keyed by the
    real path: each listed directory is resolved through the image's own links."""
    listed = db.lists.setdefault(package, [])
    for raw in paths:
        path = raw.strip("/")
        if not path or path == ".":
            continue
        listed.append(path)
        parent, base = posixpath.split(path)
        if parent not in resolved:
            resolved[parent] = fs.resolve(parent) if parent else ""
        real_parent = resolved[parent]
        if real_parent is None:
            continue
        key = f"{real_parent}/{base}" if real_parent else base
        db.files.setdefault(key, package)
