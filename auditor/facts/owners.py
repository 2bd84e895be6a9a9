"""Who owns a file: the dpkg package (var/lib/dpkg/info/*.list) or the Python
distribution (site-packages top-level directory / *.dist-info/RECORD).

Findings about an ELF name its owner, because the remedy is about the package (install
libgl1, use opencv-python-headless), not about the file. `python_distribution` is a
small function on purpose: the Python facts (issue 5) can replace it by their own
distribution index without touching the checks.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from auditor.facts.distributions import wheel_tag_lines
from auditor.facts.dpkg import DpkgDb
from auditor.fs import FILE, FileSystem


@dataclass
class Owners:
    dpkg_db: DpkgDb = field(default_factory=DpkgDb)
    record: dict[str, str] = field(default_factory=dict)  # path -> distribution name
    record_tops: dict[str, str] = field(default_factory=dict)  # site-packages/top -> dist
    dist_info: dict[str, str] = field(default_factory=dict)  # path -> its *.dist-info dir
    dist_names: dict[str, str] = field(default_factory=dict)  # *.dist-info dir -> name
    # site-packages/top -> its *.dist-info dir (as record_tops, for the dir's facts)
    record_top_dirs: dict[str, str] = field(default_factory=dict)
    # *.dist-info dir -> the package manager that installed it (conda, rpm), if one did
    package_managers: dict[str, str] = field(default_factory=dict)

    def dpkg(self, path: str) -> str | None:
        """The package that lists the file at real path `path` (the dpkg fact resolves
        merged-/usr spellings through the image's own links)."""
        return self.dpkg_db.files.get(path.lstrip("/"))

    def package_bytes(self, fs: FileSystem, package: str) -> int:
        """Bytes of the package's regular files still present in the image."""
        total = 0
        seen: set[str] = set()
        for p in self.dpkg_db.lists.get(package, []):
            real = fs.resolve(p, follow_last=False)  # /lib/x with /lib -> usr/lib
            if real is None or real in seen:
                continue
            seen.add(real)
            node = fs.get(real)
            if node is not None and node.entry.kind == FILE:
                total += node.entry.size
        return total

    def python_distribution(self, path: str) -> str | None:
        path = path.lstrip("/")
        if path in self.record:
            return self.record[path]
        sp = _site_packages_top(path)
        return self.record_tops.get(sp) if sp else None

    def package_manager(self, path: str) -> str | None:
        """The package manager (conda, rpm) that installed the Python distribution owning
        `path` (auditor/facts/distributions.py, PACKAGE_MANAGERS); None for a file of a
        distribution pip and the like installed, or of none."""
        path = path.lstrip("/")
        meta_dir = self.dist_info.get(path)
        if meta_dir is None:
            sp = _site_packages_top(path)
            meta_dir = self.record_top_dirs.get(sp) if sp else None
        return self.package_managers.get(meta_dir) if meta_dir is not None else None


def wheel_tags(fs: FileSystem, dist_info: str) -> list[str]:
    """`Tag:` lines of a distribution's WHEEL file (manylinux_2_17_x86_64, ...)."""
    return list(wheel_tag_lines(fs.read(posixpath.join(dist_info, "WHEEL"))))


def in_site_directory(path: str) -> bool:
    """Whether `path` lies inside a site-packages or dist-packages directory: a Python
    package's own file (a wheel's program or static library), not one on PATH."""
    return _site_packages_top(path.lstrip("/")) is not None


def _site_packages_top(path: str) -> str | None:
    """'venv/lib/python3.11/site-packages/cv2/x.so' -> '.../site-packages/cv2'."""
    parts = path.split("/")
    for i, part in enumerate(parts[:-1]):
        if part in ("site-packages", "dist-packages"):
            return "/".join(parts[: i + 2])
    return None


MODULE_RE = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\.(?:cpython-[^.]+|abi3|pypy[^.]*|cp\d+[^.]*))?\.so$"
)
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def import_name(path: str, roots: Collection[str] = ()) -> str | None:
    """The Python import that loads extension module `path`, or None when it is not one:
    'site-packages/cv2/cv2.abi3.so' -> 'cv2.cv2'; 'lib-dynload/_sqlite3.cpython-311-
    x86_64-linux-gnu.so' -> '_sqlite3'. Vendored libraries (libfoo.so.1, `*.libs/`) and
    untagged lib*.so plugins are not modules. `roots`: other sys.path directories (no
    leading slash) imports start from: PYTHONPATH's, those a .pth file adds."""
    parts = path.lstrip("/").split("/")
    for i, part in enumerate(parts[:-1]):
        if part not in ("site-packages", "dist-packages", "lib-dynload"):
            continue
        return _module(parts[-1], [] if part == "lib-dynload" else parts[i + 1 : -1])
    for i in range(len(parts) - 1, 0, -1) if roots else ():  # the innermost root first
        if "/".join(parts[:i]) in roots:
            return _module(parts[-1], parts[i:-1])
    return None


def _module(base: str, package: list[str]) -> str | None:
    m = MODULE_RE.match(base)
    if m is None or (base.startswith("lib") and base.count(".") == 1):
        return None
    if not all(IDENTIFIER_RE.match(p) for p in package):
        return None  # a `*.libs` directory, a data directory: not importable
    return ".".join([*package, m.group("name")])


def load(dpkg_db: DpkgDb, dists: Iterable[Any]) -> Owners:
    """Owners from the dpkg fact and the Python facts' distribution index
    (auditor/facts/distributions.py, which has read every RECORD already): one index
    for every check, with PEP 503 names (opencv-python)."""
    owners = Owners(dpkg_db)
    record, dist_info, record_tops = owners.record, owners.dist_info, owners.record_tops
    for d in dists:
        # a distribution whose metadata has no Name still owns its files: it is named
        # by its metadata directory (a path, not a package name made up from it)
        name, meta_dir = d.name or d.meta_dir.rsplit("/", 1)[-1], d.meta_dir
        owners.dist_names[meta_dir] = name
        if d.package_manager is not None:
            owners.package_managers[meta_dir] = d.package_manager
        base = d.location + "/"
        cut = len(base)
        seen: set[str] = set()  # tops of this distribution already indexed
        record.update(dict.fromkeys(d.files, name))  # C loops: one dict per distribution
        dist_info.update(dict.fromkeys(d.files, meta_dir))
        for f in d.files:
            if not f.startswith(base):
                continue
            top, sep, _ = f[cut:].partition("/")
            if sep and top not in seen:
                seen.add(top)
                if not top.endswith((".dist-info", ".data")):
                    where = posixpath.join(d.location, top)
                    record_tops.setdefault(where, name)
                    owners.record_top_dirs.setdefault(where, meta_dir)
    return owners
