"""Installed Python distributions: every *.dist-info / *.egg-info in every site-packages
or dist-packages directory of the image (and any other directory holding a
*.dist-info, as `pip install --target` makes), with what pip and the wheel left behind.

Name and version come from METADATA / PKG-INFO (the directory name as fallback), the
name normalised per PEP 503. `wheel_tags` are the WHEEL file's `Tag:` lines: a
`linux_*` platform tag means the wheel was compiled during the image build from an
sdist. `editable` comes from direct_url.json `dir_info.editable`, an `*.egg-link` or a
`__editable__` finder. Size is the sum of RECORD's size column; entries without a size
are looked up in the image, and with no RECORD the top-level modules' files count.
"""

from __future__ import annotations

import csv
import json
import posixpath
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from auditor.fs import DIR, FILE, FileSystem

_SITE_NAMES = ("site-packages", "dist-packages")
_SITE_ENDS = (*_SITE_NAMES, ".dist-info")


@dataclass(frozen=True)
class Distribution:
    name: str  # normalised (PEP 503)
    display_name: str
    version: str | None
    location: str  # the site-packages directory
    meta_dir: str  # the .dist-info / .egg-info path
    installer: str | None
    wheel_tags: tuple[str, ...]
    editable: bool
    direct_url: dict[str, Any] | None
    size: int
    top_level: tuple[str, ...]
    files: tuple[str, ...]  # image paths from RECORD that exist

    @property
    def built_locally(self) -> bool:
        return any(t.rsplit("-", 1)[-1].startswith("linux_") for t in self.wheel_tags)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "location": "/" + self.location,
            "installer": self.installer,
            "wheel_tags": list(self.wheel_tags),
            "editable": self.editable,
            "size": self.size,
            "top_level": list(self.top_level),
        }


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def site_dirs(fs: FileSystem) -> list[str]:
    """site-packages and dist-packages directories, and any other directory holding a
    *.dist-info (`pip install --target /app/deps`, vendored trees). Found once per
    FileSystem (the distributions fact and PY006 both ask)."""
    found = _SITE_DIRS.get(fs)
    if found is None:
        found = _SITE_DIRS[fs] = _find_site_dirs(fs)
    return list(found)


# FileSystem -> its site_dirs; weak, so a scanned image's model is not kept alive
_SITE_DIRS: weakref.WeakKeyDictionary[FileSystem, list[str]] = weakref.WeakKeyDictionary()


def _find_site_dirs(fs: FileSystem) -> list[str]:
    out = set()
    for p, n in fs.nodes.items():
        if not p.endswith(_SITE_ENDS) or n.entry.kind != DIR:
            continue  # the name test first: cheaper, and almost no path passes it
        name = p.rsplit("/", 1)[-1]
        if name in _SITE_NAMES:
            out.add(p)
        elif name.endswith(".dist-info") and "/" in p:
            out.add(p.rsplit("/", 1)[0])
    return sorted(out)


def _text(data: bytes) -> str:
    """METADATA is UTF-8 by spec; old setuptools wrote Latin-1, which never fails."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.lstrip("\ufeff")


def _headers(data: bytes | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in _text(data or b"").splitlines():
        if not line.strip():
            break
        if line[:1] in " \t" or ":" not in line:
            continue
        key, _, value = line.partition(":")
        out.setdefault(key.strip().lower(), value.strip())
    return out


def find(fs: FileSystem) -> list[Distribution]:
    out = []
    for site in site_dirs(fs):
        names = fs.listdir(site)
        editable_finders = {n for n in names if n.startswith("__editable__")}
        for name in names:
            if name.endswith(".dist-info"):
                out.append(_dist_info(fs, site, name, editable_finders))
            elif name.endswith(".egg-info"):
                out.append(_egg_info(fs, site, name))
            elif name.endswith(".egg-link"):
                out.append(_egg_link(fs, site, name))
    return out


def _split_dir_name(name: str) -> tuple[str, str | None]:
    stem = name.rsplit(".", 1)[0]
    n, _, v = stem.partition("-")
    return n, (v.split("-py")[0] or None)


def _dist_info(fs: FileSystem, site: str, name: str, finders: set[str]) -> Distribution:
    d = f"{site}/{name}"
    meta = _headers(fs.read(f"{d}/METADATA"))
    dir_name, dir_version = _split_dir_name(name)
    display = meta.get("name") or dir_name
    installer = (fs.read(f"{d}/INSTALLER") or b"").decode("utf-8", "replace").strip() or None
    tags = tuple(
        line.partition(":")[2].strip()
        for line in (fs.read(f"{d}/WHEEL") or b"").decode("utf-8", "replace").splitlines()
        if line.lower().startswith("tag:")
    )
    direct_url = None
    raw = fs.read(f"{d}/direct_url.json")
    if raw:
        try:
            parsed = json.loads(raw)
            direct_url = parsed if isinstance(parsed, dict) else None
        except ValueError:
            direct_url = None
    editable = bool(direct_url and (direct_url.get("dir_info") or {}).get("editable"))
    norm = normalise(display)
    if any(normalise(f.removeprefix("__editable__").strip("_.")).startswith(norm) for f in finders):
        editable = True
    record = fs.read(f"{d}/RECORD")
    size, files, tops = _record(fs, site, record) if record else (0, [], set())
    top_txt = fs.read(f"{d}/top_level.txt")
    top = (
        tuple(t for t in top_txt.decode("utf-8", "replace").split() if t)
        if top_txt
        else tuple(sorted(tops))
    )
    return Distribution(
        norm, display, meta.get("version") or dir_version, site, d, installer, tags, editable,
        direct_url, size, top, tuple(files),
    )  # fmt: skip


def _record(fs: FileSystem, site: str, data: bytes) -> tuple[int, list[str], set[str]]:
    total = 0
    files = []
    tops: set[str] = set()
    firsts: set[str] = set()  # first path components already looked at
    # fs.get without its strip when there is nothing to strip: `site` is a stored path,
    # and a RECORD path that could add a slash at either end goes through normpath
    get = fs.nodes.get if site[:1] != "/" else fs.get
    for row in _record_rows(data):
        if not row:
            continue
        rel = row[0]
        if not rel:
            continue
        if rel[0] == "." or "/." in rel or "//" in rel or rel[-1] == "/":
            path = posixpath.normpath(f"{site}/{rel}")  # only when there is something to do
            node = fs.get(path)
        else:
            path = f"{site}/{rel}"
            node = get(path)
        first = rel.partition("/")[0]
        if first not in firsts and not rel.startswith(".."):
            # Most rows share a few first components (the package directory): the
            # top-level name follows from `first` alone, so it is worked out once each.
            firsts.add(first)
            if not first.endswith((".dist-info", ".data")):
                mod = first[:-3] if first.endswith(".py") else first.split(".", 1)[0]
                if mod.isidentifier() and mod != "__pycache__":  # importable names only
                    tops.add(mod)
        if node is not None:
            files.append(path)
        if len(row) > 2 and row[2].isascii() and row[2].isdigit():
            total += int(row[2])
        elif node is not None and node.entry.kind == FILE:
            total += node.entry.size
    return total, files, tops


def _record_rows(data: bytes) -> Iterator[list[str]]:
    """RECORD's rows, one line at a time: a row csv cannot read (a field over its size
    limit) is skipped instead of ending the file. Paths never hold newlines in RECORD.
    A line without quotes is what csv would make of it, split at commas: the csv module
    is only needed for the rare quoted path (a comma in a file name)."""
    limit = csv.field_size_limit()
    text = data.decode("utf-8", "replace")
    if '"' not in text and len(text) <= limit:
        # The usual RECORD: no quotes, no field near the limit; what the loop below
        # makes of it, in one comprehension.
        yield from [line.split(",") if line else [] for line in text.splitlines()]
        return
    for line in text.splitlines():
        if '"' not in line:
            fields = line.split(",") if line else []  # csv: a blank line is []
            if len(line) <= limit or all(len(f) <= limit for f in fields):
                yield fields
            continue
        try:
            yield from csv.reader([line])
        except csv.Error:
            continue


def _egg_info(fs: FileSystem, site: str, name: str) -> Distribution:
    d = f"{site}/{name}"
    node = fs.get(d)
    is_dir = node is not None and node.entry.kind == DIR
    meta = _headers(fs.read(f"{d}/PKG-INFO" if is_dir else d))
    dir_name, dir_version = _split_dir_name(name)
    display = meta.get("name") or dir_name
    top_txt = fs.read(f"{d}/top_level.txt") if is_dir else None
    top = tuple(top_txt.decode("utf-8", "replace").split()) if top_txt else ()
    size = 0
    for t in top:
        for cand in (f"{site}/{t}", f"{site}/{t}.py"):
            size += _tree_size(fs, cand)
    size += _tree_size(fs, d)
    return Distribution(
        normalise(display), display, meta.get("version") or dir_version, site, d, None, (),
        False, None, size, top, (),
    )  # fmt: skip


def _egg_link(fs: FileSystem, site: str, name: str) -> Distribution:
    d = f"{site}/{name}"
    target = (fs.read(d) or b"").decode("utf-8", "replace").split("\n", 1)[0].strip()
    display = name[: -len(".egg-link")]
    return Distribution(
        normalise(display), display, None, site, d, None, (), True,
        {"url": "file://" + target, "dir_info": {"editable": True}} if target else None,
        0, (), (),
    )  # fmt: skip


def _tree_size(fs: FileSystem, path: str) -> int:
    node = fs.get(path)
    if node is None:
        return 0
    if node.entry.kind == FILE:
        return node.entry.size
    if node.entry.kind != DIR:
        return 0
    return sum(_tree_size(fs, f"{path}/{c}") for c in fs.listdir(path))
