"""Installed Python distributions: exactly what `importlib.metadata.distributions()`
lists for each interpreter and venv of the image, plus what sits in a site directory
no interpreter has on its path (a `pip install --target` tree the app adds itself, the
user site of another user), and what pip and the wheel left behind.

Discovery follows importlib's path finder (`FastPath` / `Lookup`) over each
environment's sys.path (auditor/facts/syspath.py): in every entry, each child whose
name ends in `.dist-info` or `.egg-info` in any case, directory or file; and when the
entry itself is a `*.egg` directory (easy-install.pth puts it on sys.path), its
`EGG-INFO`. `*.egg-link` files are not distributions (importlib does not read them):
the project directory they point at is, when a .pth puts it on the path; the links
themselves are kept for PK004. Metadata that no environment lists and that another
distribution's RECORD names as its own files (setuptools' ``_vendor/*.dist-info``) is
that distribution's vendored copy, not a package. A CPython's own `Python-X.Y.egg-info`
in its standard library (setup.py-era builds install one) is listed by importlib but is
no package.

Name and version come from the metadata only (auditor/facts/pymetadata.py, the
`packaging` parser importlib's email rules agree with); a distribution whose metadata
has no Name is kept apart (`unnamed`: pip skips it as invalid). Names are compared
canonicalised (`packaging.utils.canonicalize_name`). `wheel_tags` are WHEEL's `Tag:`
lines, read with `packaging.tags.parse_tag`: a `linux_*` platform means the wheel was
built during the image build from an sdist. `editable` comes from direct_url.json
`dir_info.editable`, an `*.egg-link` pointing at its directory or a `__editable__`
finder. Size is the sum of RECORD's size column; entries without a size are looked
up in the image, and with no RECORD the top-level modules' files count.
"""

from __future__ import annotations

import csv
import json
import posixpath
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from operator import methodcaller
from typing import TYPE_CHECKING, Any

from auditor.facts import pymetadata
from auditor.facts.syspath import Environment
from auditor.fs import DIR, FILE, FileSystem

# deferred: start-up time, see README "Performance" (packaging's requirements, tags and
# utils modules are imported where they are used: a scan answered from the result cache
# never needs them)
if TYPE_CHECKING:
    from packaging.requirements import Requirement
    from packaging.tags import Tag

    from auditor.second_process import Partner

_SITE_NAMES = ("site-packages", "dist-packages")

#: INSTALLER values of package managers that install a Python distribution as one part
#: of a binary package of their own, built elsewhere: conda-build and rattler-build
#: write `conda` into every dist-info they package (conda-build f914e7b, rattler-build
#: `post_process/python.rs`), Fedora/RHEL's RPM build `rpm` (with RECORD removed). Such
#: a distribution was neither compiled in the image build (its WHEEL says `linux_*`
#: because the package's own build ran pip) nor meant to be self-contained as a wheel:
#: its extensions link against libraries of the same package manager. The `installer`
#: spec: packaging.python.org, "Recording installed projects".
PACKAGE_MANAGERS = frozenset({"conda", "rpm"})
_META_SUFFIXES = (".dist-info", ".egg-info")


@dataclass(frozen=True)
class Distribution:
    name: str | None  # canonical (PEP 503); None when the metadata names nothing
    display_name: str | None  # `Name` as written
    version: str | None  # `Version` as written; None when the metadata has none
    location: str  # the sys.path entry (real path) that holds `meta_dir`
    meta_dir: str  # the .dist-info / .egg-info (directory or file) / EGG-INFO path
    kind: str  # dist-info | egg-info | egg
    installer: str | None
    wheel_tags: tuple[str, ...]
    editable: bool
    direct_url: dict[str, Any] | None
    size: int
    top_level: tuple[str, ...]
    files: tuple[str, ...]  # image paths from RECORD that exist
    # top-level modules RECORD installs as code (`_code_modules`; dist-info only)
    modules: frozenset[str] = frozenset()
    requires: tuple[Requirement, ...] = ()
    invalid_requires: tuple[str, ...] = ()
    requires_python: str | None = None
    environments: tuple[str, ...] = ()  # interpreters / venvs that list it (paths)
    layer: int | None = None  # the layer that last wrote its metadata (METADATA, PKG-INFO)

    @property
    def tags(self) -> frozenset[Tag]:
        return parsed_tags(self.wheel_tags)

    @property
    def built_locally(self) -> bool:
        return any(t.platform.startswith("linux_") for t in self.tags)

    @property
    def package_manager(self) -> str | None:
        """The package manager (conda, rpm) whose package installed this distribution, by
        its INSTALLER file; None for pip, uv, poetry and the like."""
        installer = (self.installer or "").lower()
        return installer if installer in PACKAGE_MANAGERS else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "version": self.version,
            "location": "/" + self.location,
            "metadata": "/" + self.meta_dir,
            "kind": self.kind,
            "installer": self.installer,
            "wheel_tags": list(self.wheel_tags),
            "editable": self.editable,
            "size": self.size,
            "top_level": list(self.top_level),
            "requires_dist": [str(r) for r in self.requires],
            "requires_dist_invalid": list(self.invalid_requires),
            "requires_python": self.requires_python,
            "environments": ["/" + e for e in self.environments],
            "layer": self.layer,
        }


@dataclass(frozen=True)
class EggLink:
    path: str  # the *.egg-link file
    target: str  # the project directory it names, as written


@dataclass(frozen=True)
class Inventory:
    distributions: tuple[Distribution, ...]  # with a Name
    unnamed: tuple[Distribution, ...] = ()  # metadata without a Name (or none at all)
    interpreter_metadata: tuple[str, ...] = ()  # CPython's own Python-X.Y.egg-info
    egg_links: tuple[EggLink, ...] = ()


def _canonical(name: str) -> str:
    # deferred: start-up time, see README "Performance"
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


def parsed_tags(lines: Sequence[str]) -> frozenset[Tag]:
    """WHEEL `Tag:` values as packaging reads them (compressed sets expanded); a value
    that is no tag is left out."""
    from packaging.tags import parse_tag  # deferred: start-up time, see README "Performance"

    out: set[Tag] = set()
    for line in lines:
        try:
            out |= parse_tag(line)
        except ValueError:
            continue
    return frozenset(out)


def wheel_tag_lines(data: bytes | None) -> tuple[str, ...]:
    """The `Tag:` values of a WHEEL file, as written."""
    return tuple(
        line.partition(":")[2].strip()
        for line in (data or b"").decode("utf-8", "replace").splitlines()
        if line.lower().startswith("tag:")
    )


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
    # Directories only, from the paths grouped by kind (a few percent of the paths)
    dirs = (p for (kind, *_), paths in fs.stat_groups().items() if kind == DIR for p in paths)
    for p in dirs:
        if not p[-13:].lower().endswith(("-packages", ".dist-info")):
            continue
        name = p.rsplit("/", 1)[-1]
        if name in _SITE_NAMES:
            out.add(p)
        elif name.lower().endswith(".dist-info") and "/" in p:
            out.add(p.rsplit("/", 1)[0])
    return sorted(out)


# ---- discovery: importlib's Lookup over sys.path ---------------------------------------


def _metadata_paths(fs: FileSystem, entry: str) -> Iterator[tuple[str, str, str]]:
    """(real location, metadata path, kind) of what importlib finds in sys.path `entry`."""
    real = fs.resolve(entry)
    node = fs.get(real) if real is not None else None
    if real is None or node is None or node.entry.kind != DIR:
        return  # missing, or a file (a zip importlib would open: not indexed)
    base_is_egg = entry.rsplit("/", 1)[-1].lower().endswith(".egg")
    for child in fs.listdir(real):
        low = child.lower()
        if low.endswith(".dist-info"):
            yield real, f"{real}/{child}" if real else child, "dist-info"
        elif low.endswith(".egg-info"):
            yield real, f"{real}/{child}" if real else child, "egg-info"
        elif base_is_egg and low == "egg-info":
            yield real, f"{real}/{child}", "egg"


def find(
    fs: FileSystem, environments: Sequence[Environment] = (), partner: Partner | None = None
) -> Inventory:
    """Every distribution each environment lists, and those of site directories on no
    environment's path, each read once. `partner`: the other process of a scan, which
    needs the same inventory: each reads about half of the metadata and they swap
    (`_read_all`)."""
    seen_in: dict[str, list[str]] = {}  # metadata path -> environments listing it
    where: dict[str, tuple[str, str]] = {}  # metadata path -> (location, kind)
    own: set[str] = set()
    stdlib_entries: dict[str, set[str]] = {}
    for env in environments:
        stdlib_real = {fs.resolve(p) for p in env.stdlib}
        for entry in env.sys_path:
            for location, meta, kind in _metadata_paths(fs, entry):
                where.setdefault(meta, (location, kind))
                envs = seen_in.setdefault(meta, [])
                if env.path not in envs:
                    envs.append(env.path)
                if location in stdlib_real:
                    stdlib_entries.setdefault(meta, set()).add(env.path)
    covered = {fs.resolve(p) for env in environments for p in env.sys_path}
    for site in site_dirs(fs):
        if site in covered or _in_uv_cache(site):
            continue
        for location, meta, kind in _metadata_paths(fs, site):
            where.setdefault(meta, (location, kind))
            seen_in.setdefault(meta, [])
    egg_links = _egg_links(fs, {loc for loc, _ in where.values()} | set(site_dirs(fs)))
    link_targets = {fs.resolve(posixpath.normpath("/" + link.target)): link for link in egg_links}
    named: list[Distribution] = []
    unnamed: list[Distribution] = []
    metas = sorted(where)
    read = _read_all(_Sites(fs), metas, where, partner)
    for meta in metas:
        location, kind = where[meta]
        dist = replace(read[meta], environments=tuple(seen_in[meta]))
        if meta in stdlib_entries and dist.display_name == "Python":
            own.add(meta)  # the interpreter's own Python-X.Y.egg-info
            continue
        if location in link_targets and not dist.editable:
            url = {"url": "file://" + link_targets[location].target, "dir_info": {"editable": True}}
            dist = replace(dist, editable=True, direct_url=url)
        (named if dist.name is not None else unnamed).append(dist)
    vendored = _vendored(named + unnamed)
    named = [d for d in named if d.meta_dir not in vendored]
    unnamed = [d for d in unnamed if d.meta_dir not in vendored]
    return Inventory(tuple(named), tuple(unnamed), tuple(sorted(own)), tuple(egg_links))


def _read_all(
    sites: _Sites,
    metas: list[str],
    where: dict[str, tuple[str, str]],
    partner: Partner | None,
) -> dict[str, Distribution]:
    """Each metadata path's distribution. With a partner, each side reads its share, by
    RECORD size (most of the time goes to RECORD's rows: ~73,000 on the bench image,
    ~0.25 s of a cold scan's checks in each of its two processes), and the two swap what
    they read: the halves cost ~0.03 s to pickle and load. What the partner does not
    send (it is gone) is read here; the result is the same either way."""
    if partner is None:
        return {meta: _read(sites, where[meta][0], meta, where[meta][1]) for meta in metas}
    fs = sites.fs
    try:
        weights = [_READ_COST + (fs.regular_file_size(f"{m}/RECORD") or 0) for m in metas]
        ours = partner.mine(weights)
        read = {
            meta: _read(sites, where[meta][0], meta, where[meta][1])
            for meta, mine in zip(metas, ours)
            if mine
        }
    except BaseException:
        partner.close()  # the other side reads everything itself
        raise
    theirs = partner.swap(read) or {}
    for meta in metas:
        if meta not in read:
            dist = theirs.get(meta)
            read[meta] = (
                dist
                if isinstance(dist, Distribution)
                else _read(sites, where[meta][0], meta, where[meta][1])
            )
    return read


#: What reading one distribution costs besides its RECORD's bytes, in RECORD bytes
#: (METADATA's parse, the other small files): the weight of a metadata without RECORD
_READ_COST = 4096


def _in_uv_cache(site: str) -> bool:
    """A directory of uv's cache of unpacked wheels (`~/.cache/uv/archive-v0/<id>/`,
    wherever UV_CACHE_DIR put it), off every path: uv links or copies installs from it,
    nothing imports from it, and its dist-info directories are no installed
    distributions (a build without a cache mount leaves one copy of every package
    there: SZ003 counts it as a cache)."""
    return "/archive-v0/" in f"/{site}/"


def _vendored(dists: Sequence[Distribution]) -> set[str]:
    """Metadata on no environment's path that another distribution's RECORD lists as its
    own files: a package's vendored copies (setuptools ships
    ``setuptools/_vendor/wheel-0.43.0.dist-info`` and a dozen more). importlib lists
    them only once the package puts that directory on sys.path at run time (``import
    setuptools`` does); no environment lists them, and nobody installed them: the
    owning distribution did. A ``pip install --target`` tree is nobody's file: kept."""
    off_path = {d.meta_dir for d in dists if not d.environments}
    vendored: set[str] = set()
    if not off_path:
        return vendored
    # only a path that starts with one of them can be one or lie in one (a C test each)
    inside = methodcaller("startswith", tuple(off_path))
    for dist in dists:
        for path in filter(inside, dist.files):  # a file of the metadata, or the egg-info
            for meta in (posixpath.dirname(path), path):
                if meta in off_path and meta != dist.meta_dir:
                    vendored.add(meta)
    return vendored


def _egg_links(fs: FileSystem, dirs: set[str]) -> list[EggLink]:
    out = []
    for d in sorted(dirs):
        for name in fs.listdir(d):
            if name.endswith(".egg-link"):
                data = fs.read(f"{d}/{name}") or b""
                target = data.decode("utf-8", "replace").split("\n", 1)[0].strip()
                out.append(EggLink(f"{d}/{name}", target))
    return out


# ---- reading one distribution -----------------------------------------------------------


class _Sites:
    """What the distributions of one site directory all ask of the model, found once per
    directory: the paths below it (a RECORD row's presence is then a set lookup, not a
    bisection of the whole model: ~73,000 rows on the bench image) and its
    `__editable__` finders (a listing per distribution before)."""

    def __init__(self, fs: FileSystem) -> None:
        self.fs = fs
        self._below: dict[str, frozenset[str]] = {}
        self._finders: dict[str, list[str]] = {}

    def below(self, site: str) -> frozenset[str]:
        """Every path below `site` (not the root: that is every path in the image)."""
        found = self._below.get(site)
        if found is None:
            paths = self.fs.paths_under(site + "/") if site else ()
            found = self._below[site] = frozenset(paths)
        return found

    def editable_finders(self, site: str) -> list[str]:
        found = self._finders.get(site)
        if found is None:
            names = self.fs.listdir(site)
            found = self._finders[site] = [n for n in names if n.startswith("__editable__")]
        return found


def _read(sites: _Sites, location: str, meta: str, kind: str) -> Distribution:
    fs = sites.fs
    node = fs.get(fs.resolve(meta) or meta)
    is_dir = node is not None and node.entry.kind == DIR
    text = ""
    layer = node.layer if node is not None else None
    if is_dir:
        for filename in ("METADATA", "PKG-INFO"):
            data = fs.read(f"{meta}/{filename}")
            if data:
                text = pymetadata.decode(data)
                written = fs.get(fs.resolve(f"{meta}/{filename}") or f"{meta}/{filename}")
                layer = written.layer if written is not None else layer
                break
    else:
        text = pymetadata.decode(fs.read(meta) or b"")
    requires_txt = fs.read(f"{meta}/requires.txt") if is_dir and kind != "dist-info" else None
    core = pymetadata.parse(text, pymetadata.decode(requires_txt) if requires_txt else None)
    base = Distribution(
        name=_canonical(core.name) if core.name is not None else None,
        display_name=core.name,
        version=core.version,
        location=location,
        meta_dir=meta,
        kind=kind,
        installer=None,
        wheel_tags=(),
        editable=False,
        direct_url=None,
        size=0,
        top_level=(),
        files=(),
        requires=core.requires,
        invalid_requires=core.invalid_requires,
        requires_python=core.requires_python,
        layer=layer,
    )
    if kind == "dist-info" and is_dir:
        return _dist_info(sites, base)
    return _egg_info(fs, base, is_dir)


def _dist_info(sites: _Sites, dist: Distribution) -> Distribution:
    fs = sites.fs
    d, site = dist.meta_dir, dist.location
    installer = (fs.read(f"{d}/INSTALLER") or b"").decode("utf-8", "replace").strip() or None
    direct_url = None
    raw = fs.read(f"{d}/direct_url.json")
    if raw:
        try:
            parsed = json.loads(raw)
            direct_url = parsed if isinstance(parsed, dict) else None
        except ValueError:
            direct_url = None
    editable = bool(direct_url and (direct_url.get("dir_info") or {}).get("editable"))
    if dist.name is not None:
        finders = sites.editable_finders(site)
        if any(
            _canonical(f.removeprefix("__editable__").strip("_.")).startswith(dist.name)
            for f in finders
        ):
            editable = True
    record = fs.read(f"{d}/RECORD")
    size, files, tops, modules = _record(sites, site, record) if record else (0, [], set(), set())
    top_txt = fs.read(f"{d}/top_level.txt")
    top = (
        tuple(t for t in top_txt.decode("utf-8", "replace").split() if t)
        if top_txt
        else tuple(sorted(tops))
    )
    return replace(
        dist,
        installer=installer,
        wheel_tags=wheel_tag_lines(fs.read(f"{d}/WHEEL")),
        editable=editable,
        direct_url=direct_url,
        size=size,
        top_level=top,
        files=tuple(files),
        modules=frozenset(modules),
    )


def _record(sites: _Sites, site: str, data: bytes) -> tuple[int, list[str], set[str], set[str]]:
    """(bytes the rows state, or the image's size of a file whose row states none; the
    paths that are there; the importable top-level names; those installed as code,
    `_code_modules`: PY007 asks, and parsing RECORD again cost it ~0.1 s on the bench
    image). Each step is one pass over
    the rows in C where it can be (comprehensions, `map`), not a Python loop with a
    dozen steps per row: a torch RECORD has ~15,000 rows, the bench image ~73,000."""
    rows = [row for row in _record_rows(data) if row and row[0]]
    rels = [row[0] for row in rows]
    # A path that could add a slash at either end goes through normpath first.
    paths = [
        posixpath.normpath(f"{site}/{rel}")
        if rel[0] == "." or "/." in rel or "//" in rel or rel[-1] == "/"
        else f"{site}/{rel}"
        for rel in rels
    ]
    # Whether each path is there, without building its Node: most rows are below the
    # site directory (a set lookup); the others (scripts in ../../bin, data files) are
    # looked up in the model.
    fs = sites.fs
    below = sites.below(site)
    prefix = site + "/" if site else "\0"  # at the root, every row is looked up
    here = {p: p in below if p.startswith(prefix) else p in fs for p in paths}
    files = [p for p in paths if here[p]]
    total = 0
    for row, path in zip(rows, paths):
        if len(row) > 2 and row[2].isascii() and row[2].isdigit():
            total += int(row[2])
        elif here[path]:
            total += fs.regular_file_size(path) or 0
    return total, files, _top_level_names(rels), _code_modules(rels)


def _top_level_names(rels: list[str]) -> set[str]:
    """The importable names RECORD paths start with: their first components (most rows
    share a few: the package directory), each worked out once."""
    tops = set()
    # "pkg/" for a path below a directory, the whole path for a file at the top: a few
    # dozen distinct heads for thousands of rows
    for head in {rel[: rel.find("/") + 1] or rel for rel in rels if not rel.startswith("..")}:
        first, sep = (head[:-1], "/") if head.endswith("/") else (head, "")
        if not sep and not first.endswith(MODULE_SUFFIXES):
            continue  # a file at the top that is no module: a .pth, a README
        if not first.endswith((".dist-info", ".data")):
            mod = first[:-3] if first.endswith(".py") else first.split(".", 1)[0]
            if mod.isidentifier() and mod != "__pycache__":  # importable names only
                tops.add(mod)
    return tops


def _code_modules(rels: list[str]) -> set[str]:
    """The top-level modules RECORD's paths install as code: `name/....py` (or `.so`),
    `name.py`, `name.<tag>.so`; not data, scripts, dist-info or bytecode directories.
    From the heads of the code paths (a few dozen for thousands of rows, as in
    `_top_level_names`), each worked out once."""
    out = set()
    heads = {
        rel[: rel.find("/") + 1] or rel
        for rel in rels
        if rel.endswith((".py", ".so")) and not rel.startswith(("..", "/"))
    }
    for head in heads:
        mod = head[:-1] if head.endswith("/") else head.split(".", 1)[0]
        if mod.isidentifier() and mod != "__pycache__":
            out.add(mod)
    return out


#: What the path finder imports a top-level module from, besides a directory (CPython's
#: source, bytecode and extension suffixes on Linux: `.cpython-311-x86_64-linux-gnu.so`
#: and `.abi3.so` end in `.so`)
MODULE_SUFFIXES = (".py", ".pyc", ".so")


def is_module_named(name: str, top: str) -> bool:
    """A directory entry `name` that `import top` may find: a package or namespace
    directory `top`, or `top` + a module suffix (not `top.pth`, `top.egg-info`...)."""
    if name == top:
        return True
    return name.startswith(top + ".") and (
        name in (top + ".py", top + ".pyc") or name.endswith(".so")
    )


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


def _egg_info(fs: FileSystem, dist: Distribution, is_dir: bool) -> Distribution:
    d, site = dist.meta_dir, dist.location
    top_txt = fs.read(f"{d}/top_level.txt") if is_dir else None
    top = tuple(top_txt.decode("utf-8", "replace").split()) if top_txt else ()
    size = 0
    if dist.kind == "egg":
        size = _tree_size(fs, site)  # the whole .egg directory is the distribution
    else:
        for t in top:
            for cand in (f"{site}/{t}", f"{site}/{t}.py"):
                size += _tree_size(fs, cand)
        size += _tree_size(fs, d)
    return replace(dist, size=size, top_level=top)


def _tree_size(fs: FileSystem, path: str) -> int:
    node = fs.get(path)
    if node is None:
        return 0
    if node.entry.kind == FILE:
        return node.entry.size
    if node.entry.kind != DIR:
        return 0
    return sum(_tree_size(fs, f"{path}/{c}") for c in fs.listdir(path))
