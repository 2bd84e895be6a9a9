"""Will it load? Every load tree of the image resolved as the image's own loader does it.

Roots, each resolved in its own namespace, as glibc 2.36's ld.so (elf/dl-load.c,
elf/dl-deps.c) would at run time:

- programs (ET_EXEC, PIE, or ET_DYN with PT_INTERP and no DT_SONAME; an exec bit set):
  the kernel starts them, the loader named by PT_INTERP loads their tree;
- Python extension modules (site-packages, dist-packages, lib-dynload): dlopen()ed by
  the interpreter that imports them (a venv's -> its `home` python; a prefix's
  site-packages and lib-dynload -> that prefix's python). The interpreter's own tree is
  already loaded (its objects satisfy names), its DT_RPATH is searched (glibc tries the
  program's DT_RPATH for every lookup), and the module has no loader chain of its own
  (dlopen() leaves `l_loader` empty): RPATH of the module and up its own chain only;
- libraries nothing in the image loads: dlopen()ed on demand by a program imgaudit
  cannot see (plugins); resolved with no program around them. Not a wheel's vendored
  libraries (`<dist>.libs/` beside a `*.dist-info`), loaded only through its extension
  modules.

Per tree, breadth-first as `_dl_map_object_deps`: the root's DT_NEEDED in order, each
new object appended; an object's loader is the first object that needed it. A name is
first matched against the objects already in the namespace (the names they were loaded
under, their path, their DT_SONAME: the first in load order wins) and the file found by
a search is matched against them by identity (their real path; the loader compares
device and inode). Otherwise, for a name without a slash (`_dl_map_object`):

1. unless the loading object has a DT_RUNPATH: DT_RPATH of the loading object, of its
   loader, and so on up the chain; then DT_RPATH of the program (once);
2. LD_LIBRARY_PATH from the image's Env (not for setuid/setgid programs);
3. DT_RUNPATH of the loading object (only its own: RUNPATH is not inherited);
4. /etc/ld.so.cache (auditor/facts/ldcache.py); an entry whose file is gone is passed
   over; DF_1_NODEFLIB skips entries in the system directories;
5. the system directories of the image's loader (auditor/facts/ldpaths.py, per
   distribution family), unless DF_1_NODEFLIB.

In every directory of steps 1-3 and 5 the hardware-capability subdirectories come
first. `$ORIGIN` is the directory of the path an object was found under (not its real
path: the kernel resolves `..` after following links, and so does the lookup here),
`$LIB` and `$PLATFORM` the loader's values; an empty path element is the working
directory. A name with a slash is opened as is (relative to the working directory).

A candidate that exists is judged as `open_verify` and `_dl_map_object_from_fd` judge
it: another ELF class, or another machine, is passed over (the search goes on); a file
shorter than an ELF header ("file too short"), not ELF ("invalid ELF header"), a
directory ("cannot read file data"), a bad identification, another object type, an
executable, a PIE, a file without a dynamic section STOP the load: the search does not
go on to the next directory. A file shorter than its PT_LOAD segments is mapped past its
end: the process dies with SIGBUS. These are failures of kind "unloadable", beside
"missing" (nothing found) and "interp" (the program interpreter itself is absent).

After the tree is loaded, every object's needed symbol versions (verneed, all
namespaces: GLIBC_, OPENSSL_, Qt_...) are checked against the versions its library
defines; a library without version definitions satisfies any (ld.so only warns).

musl (PT_INTERP ld-musl-*, or a musl image): LD_LIBRARY_PATH, then DT_RUNPATH (or
DT_RPATH) of the object and of every object up its loader chain, then
/etc/ld-musl-<arch>.path or /lib:/usr/local/lib:/usr/lib; names are matched by the name
they were loaded under; the first file that opens is used (musl does not pass over
another class or machine); libc, libpthread, libm, libdl, librt, libutil, libxnet are
the loader itself.

What is not modelled (the files cannot tell, or it does not change the answer):
- LD_PRELOAD and LD_AUDIT; secure-execution mode beyond "setuid programs ignore
  LD_LIBRARY_PATH" (the $ORIGIN restrictions for setuid programs);
- DT_AUXILIARY / DT_FILTER objects; DF_1_NOOPEN;
- which CPU the container runs on: the answer is a baseline CPU's; a library found only
  in a glibc-hwcaps subdirectory (or a CPU-specific cache entry) is reported apart, as
  possibly missing; a broken copy in such a subdirectory is not looked at;
- objects an extension module finds already loaded because another module was imported
  before it (import order is the program's business): only the interpreter's own tree
  is taken as loaded;
- a search stopped by an error other than "no such file" (a symlink loop stops only the
  current list of directories in glibc; here it counts as absent);
- file permissions (a library the runtime user cannot read is skipped by ld.so).

Launchers that set LD_LIBRARY_PATH before they load anything are modelled where the
files show them: a PyInstaller one-dir bundle (a directory holding `base_library.zip`
and `libpython3*.so*`, `_internal/` since PyInstaller 6) is loaded by its bootloader,
which puts that directory first on LD_LIBRARY_PATH and restarts itself; the bundle's
libraries carry no RPATH and are found there. Every root inside such a directory is
resolved with it first on LD_LIBRARY_PATH, except a program directly in it: the
bootloader of a bundle made with `--contents-directory .` (PyInstaller < 6's layout),
which the kernel starts without it before the restart.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from auditor.elffacts import ElfFacts, UnreadableElf
from auditor.facts.ldpaths import (
    IMAGE_ARCH,
    MUSL_ARCH,
    LoaderPaths,
    norm_dir,
)
from auditor.fs import DIR, FILE, HARDLINK, FileSystem
from auditor.units import human_bytes

PROGRAM, EXTENSION, LIBRARY = "program", "extension", "library"
MISSING, UNLOADABLE, INTERP = "missing", "unloadable", "interp"
MAX_LD_CONF_FILES = 256
MUSL_SELF = ("c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet.")
STANDARD_INTERP = {
    ("EM_X86_64", 64): "lib64/ld-linux-x86-64.so.2",
    ("EM_386", 32): "lib/ld-linux.so.2",
    ("EM_AARCH64", 64): "lib/ld-linux-aarch64.so.1",
    ("EM_ARM", 32): "lib/ld-linux-armhf.so.3",
    ("EM_PPC64", 64): "lib64/ld64.so.2",
    ("EM_S390", 64): "lib/ld64.so.1",
    ("EM_RISCV", 64): "lib/ld-linux-riscv64-lp64d.so.1",
}
COMPATIBLE = {"EM_X86_64": ("EM_386",), "EM_AARCH64": ("EM_ARM",)}  # 32-bit runs here too


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a tree does not load: a library not found, a file found that cannot load,
    or the program interpreter absent."""

    kind: str  # missing | unloadable | interp
    name: str  # the DT_NEEDED name (or the PT_INTERP path)
    needed_by: str  # the object whose DT_NEEDED it is, first in load order (image path)
    path: str | None = None  # unloadable: the file the loader found and stopped at
    reason: str = "not found"
    searched: tuple[str, ...] = ()  # directories searched, in order ("/usr/lib", ...)
    # missing on a baseline CPU, but present for CPUs of a higher ISA level (glibc-hwcaps)
    cpu_dependent: tuple[str, ...] = ()

    @property
    def cause(self) -> tuple[str, str]:
        """What to fix: the library name, or the file that cannot load."""
        return (self.kind, self.path if self.kind == UNLOADABLE and self.path else self.name)


@dataclass(frozen=True, slots=True)
class VersionGap:
    """Symbol versions an object needs that the library it bound to does not define."""

    needed_by: str
    library: str  # the DT_NEEDED name (vn_file)
    resolved: str  # the file it bound to (image path)
    versions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LoadTree:
    """One root's load tree: what it loads, and what keeps it from loading."""

    root: str
    kind: str  # program | extension | library
    interpreter: str | None  # the program that dlopen()s an extension module
    foreign: bool  # built for another architecture than the image's: never runs here
    objects: tuple[str, ...]  # files loaded for this root, in load order, the root first
    edges: tuple[tuple[str, str, str | None], ...]  # (object, DT_NEEDED, file bound to)
    failures: tuple[Failure, ...]
    version_gaps: tuple[VersionGap, ...]
    incomplete: tuple[str, ...]  # loaded objects whose own needs could not be read

    def binding(self, obj: str, name: str) -> str | None:
        """The file `obj`'s DT_NEEDED `name` bound to in this tree (None: it failed)."""
        for o, n, hit in self.edges:
            if o == obj and n == name:
                return hit
        raise KeyError((obj, name))

    @property
    def fails(self) -> bool:
        return bool(self.failures or self.version_gaps)


@dataclass
class Cause:
    """One root cause and every root that fails because of it."""

    kind: str
    key: str  # library name, or the unloadable file's path
    failures: list[tuple[LoadTree, Failure]] = field(default_factory=list)

    @property
    def first(self) -> Failure:
        return self.failures[0][1]


@dataclass
class ElfGraph:
    """Load trees for every root of the image."""

    trees: dict[str, LoadTree] = field(default_factory=dict)
    paths: LoaderPaths | None = None
    ld_conf_dirs: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # unparseable ELF -> reason
    count: int = 0  # loadable ELF files

    @property
    def resolved(self) -> dict[str, dict[str, str | None]]:
        """Root -> {each DT_NEEDED of the root itself: the file it bound to in the
        root's tree (None: it failed)}."""
        return {
            root: {name: hit for obj, name, hit in tree.edges if obj == root}
            for root, tree in self.trees.items()
        }

    @property
    def unresolved_tree(self) -> dict[str, dict[str, str]]:
        """Root -> {name that fails anywhere in its tree: the object that needs it}."""
        return {
            root: {f.name: f.needed_by for f in tree.failures}
            for root, tree in self.trees.items()
            if tree.failures
        }

    def unresolved(self, path: str) -> list[str]:
        """Names whose failure keeps root `path` from loading."""
        tree = self.trees.get(path.strip("/"))
        return sorted({f.name for f in tree.failures}) if tree else []

    def causes(self) -> list[Cause]:
        """Failures grouped by root cause (library name / unloadable file), in a
        stable order: by kind, then key."""
        out: dict[tuple[str, str], Cause] = {}
        for root in sorted(self.trees):
            tree = self.trees[root]
            for f in tree.failures:
                kind, key = f.cause
                out.setdefault((kind, key), Cause(kind, key)).failures.append((tree, f))
        return [out[k] for k in sorted(out)]

    def version_gaps(self) -> Iterator[tuple[LoadTree, VersionGap]]:
        for root in sorted(self.trees):
            tree = self.trees[root]
            for gap in tree.version_gaps:
                yield tree, gap

    def to_json(self) -> dict[str, Any]:
        kinds = Counter(t.kind for t in self.trees.values())
        gaps: dict[tuple[str, str, str], VersionGap] = {}
        for _, g in self.version_gaps():
            gaps.setdefault((g.needed_by, g.library, g.resolved), g)
        out: dict[str, Any] = {
            "elf_files": self.count,
            "unparseable": len(self.errors),
            "roots": {k: kinds.get(k, 0) for k in (PROGRAM, EXTENSION, LIBRARY)},
            "missing": [
                {
                    "path": "/" + tree.root,
                    "kind": f.kind,
                    "needed": f.name,
                    "needed_by": "/" + f.needed_by,
                    "file": "/" + f.path if f.path else None,
                    "reason": f.reason,
                    "tried": list(f.searched),
                }
                for c in self.causes()
                for tree, f in c.failures
            ],
            "missing_versions": [
                {
                    "path": "/" + g.needed_by,
                    "library": g.library,
                    "resolved": "/" + g.resolved,
                    "versions": list(g.versions),
                }
                for _, g in sorted(gaps.items())
            ],
            "ld_so_conf_dirs": ["/" + d for d in self.ld_conf_dirs],
        }
        if self.paths is not None:
            cache = self.paths.cache
            out["loader"] = {
                "family": self.paths.family,
                "ld_so_cache": {
                    "state": self.paths.cache_state,
                    "format": cache.format if cache else None,
                    "entries": len(cache.entries) if cache else 0,
                },
            }
        return out


# ---- the objects of one namespace ------------------------------------------------------


class _Obj:
    """A loaded object: `path` its real path (identity), `name` the path it was found
    under ($ORIGIN), `loader` the object that first needed it."""

    __slots__ = ("facts", "loader", "name", "order", "path")

    def __init__(
        self, path: str, name: str, facts: ElfFacts | None, loader: _Obj | None, order: int
    ) -> None:
        self.path = path
        self.name = name
        self.facts = facts  # None: an ELF whose link facts could not be read
        self.loader = loader
        self.order = order


_FAKE = _Obj("", "", None, None, -1)  # a name that already failed (ld.so's "faked" entry)


class _Namespace:
    def __init__(self) -> None:
        self.objs: list[_Obj] = []
        self.names: dict[str, _Obj] = {}
        self.sonames: dict[str, _Obj] = {}
        self.files: dict[str, _Obj] = {}
        self.failed: set[str] = set()
        self.main: _Obj | None = None
        self.rtld: _Obj | None = None
        # directories a launcher puts before the image's LD_LIBRARY_PATH (a bundle's)
        self.launcher_env: tuple[str, ...] = ()

    def copy(self) -> _Namespace:
        """The objects loaded so far (not the names that failed: a later load searches
        them again and reports them as its own)."""
        ns = _Namespace()
        ns.objs = list(self.objs)
        ns.names = dict(self.names)
        ns.sonames = dict(self.sonames)
        ns.files = dict(self.files)
        ns.main, ns.rtld = self.main, self.rtld
        return ns

    def add(self, path: str, name: str, facts: ElfFacts | None, loader: _Obj | None) -> _Obj:
        obj = _Obj(path, name, facts, loader, len(self.objs))
        self.objs.append(obj)
        self.files.setdefault(path, obj)
        self.names.setdefault(name, obj)
        if facts is not None and facts.soname:
            self.sonames.setdefault(facts.soname, obj)
        return obj

    def match(self, name: str, musl: bool) -> _Obj | None:
        if name in self.failed:
            return _FAKE
        by_name = self.names.get(name)
        if musl:
            return by_name
        by_soname = self.sonames.get(name)
        if by_name is None or (by_soname is not None and by_soname.order < by_name.order):
            return by_soname
        return by_name


# ---- probing a candidate ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Probe:
    verdict: str  # absent | skip | found | fatal
    real: str = ""
    facts: ElfFacts | None = None
    reason: str = ""


_ABSENT = _Probe("absent")
_SKIP = _Probe("skip")


@dataclass
class _Search:
    """The outcome of searching one list of directories."""

    found: tuple[str, _Probe] | None = None  # (the path it was found under, probe)
    fatal: tuple[str, _Probe] | None = None
    cpu_only: tuple[str, ...] = ()  # found only in CPU-dependent subdirectories
    passed_over: tuple[str, ...] = ()  # files of another ELF class or machine


class _Loader:
    def __init__(
        self,
        fs: FileSystem,
        paths: LoaderPaths,
        libc: str | None,
        interpreters: list[tuple[str, str]],
        image_machine: str | None,
        bundles: Iterable[str] = (),
    ) -> None:
        self.fs = fs
        self.bundles = sorted(bundles, key=lambda d: -len(d))
        self.paths = paths
        self.libc = libc
        self.interpreters = sorted(interpreters, key=lambda p: -len(p[0]))
        self.image_machine = image_machine
        self._probes: dict[tuple[str, str | None, int | None, bool], _Probe] = {}
        self._searches: dict[tuple[Any, ...], _Search] = {}
        self._dir_subdirs: dict[tuple[str, str | None], tuple[tuple[str, bool], ...]] = {}
        self._musl_paths: dict[str, list[str]] = {}
        self._interp_trees: dict[str, tuple[_Namespace, LoadTree] | None] = {}
        self._cache_hits: dict[tuple[str, str | None, int | None], Any] = {}
        self._expanded: dict[tuple[Any, ...], tuple[str, ...]] = {}

    # -- candidates

    def probe(self, cand: str, machine: str | None, klass: int | None, musl: bool) -> _Probe:
        key = (cand, machine, klass, musl)
        found = self._probes.get(key)
        if found is None:
            found = self._probes[key] = self._probe(cand, machine, klass, musl)
        return found

    def _probe(self, cand: str, machine: str | None, klass: int | None, musl: bool) -> _Probe:
        fs = self.fs
        real = fs.resolve(cand)
        if real is None:
            return _ABSENT
        node = fs.get(real)
        if node is None:
            return _ABSENT
        if node.entry.kind == DIR:
            return _Probe("fatal", real, reason="cannot read file data: Error 21 (a directory)")
        if node.entry.kind not in (FILE, HARDLINK):
            return _Probe("fatal", real, reason="file too short")
        size = fs.file_size(real) or 0
        facts = fs.elf(real)
        if size < (52 if klass == 32 else 64):
            return _Probe("fatal", real, reason="file too short")
        if facts is None:
            return _Probe("fatal", real, reason="invalid ELF header")
        want_class = 1 if klass == 32 else 2
        if musl:
            if facts.ei_class != want_class or facts.machine != machine or facts.fault:
                return _Probe("fatal", real, reason="Exec format error")
        else:
            if facts.ei_class != want_class:
                return _SKIP  # "wrong ELF class": not fatal, the search goes on
            if facts.header_fault:
                return _Probe("fatal", real, reason=facts.header_fault)
            if facts.machine != machine:
                return _SKIP
            if facts.fault:
                return _Probe("fatal", real, reason=facts.fault)
        if facts.type == "ET_EXEC":
            return _Probe("fatal", real, reason="cannot dynamically load executable")
        if not facts.has_dynamic:
            return _Probe("fatal", real, reason="object file has no dynamic section")
        if size < facts.mapped_end:
            return _Probe(
                "fatal",
                real,
                reason=f"truncated: {human_bytes(facts.mapped_end - size)} short of the "
                f"{human_bytes(facts.mapped_end)} "
                "its segments map; the process dies with SIGBUS",
            )
        if isinstance(facts, ElfFacts):
            if facts.is_pie:
                return _Probe(
                    "fatal", real, reason="cannot dynamically load position-independent executable"
                )
            return _Probe("found", real, facts)
        return _Probe("found", real, None)  # loads, but its own needs are unknown

    def subdirs(self, directory: str, machine: str | None) -> tuple[tuple[str, bool], ...]:
        """(prefix, cpu_dependent) for each capability subdirectory that exists in
        `directory`, then ("", False) for the directory itself."""
        key = (directory, machine)
        found = self._dir_subdirs.get(key)
        if found is None:
            out = []
            for sub in self.paths.subdirs(machine):
                path = f"{directory}/{sub.name}" if directory else sub.name
                real = self.fs.resolve(path)
                node = self.fs.get(real) if real is not None else None
                if node is not None and node.entry.kind == DIR:
                    out.append((sub.name + "/", sub.cpu_dependent))
            out.append(("", False))
            found = self._dir_subdirs[key] = tuple(out)
        return found

    def search(
        self, name: str, dirs: tuple[str, ...], machine: str | None, klass: int | None, musl: bool
    ) -> _Search:
        key = (name, dirs, machine, klass, musl)
        found = self._searches.get(key)
        if found is None:
            found = self._searches[key] = self._search(name, dirs, machine, klass, musl)
        return found

    def _search(
        self, name: str, dirs: tuple[str, ...], machine: str | None, klass: int | None, musl: bool
    ) -> _Search:
        cpu_only: list[str] = []
        passed: list[str] = []
        for d in dirs:
            for sub, cpu in (("", False),) if musl else self.subdirs(d, machine):
                cand = f"{d}/{sub}{name}" if d else f"{sub}{name}"
                probe = self.probe(cand, machine, klass, musl)
                if probe.verdict == "absent":
                    continue
                if probe.verdict == "skip":
                    passed.append(cand)
                    continue
                if cpu:
                    if probe.verdict == "found":
                        cpu_only.append(probe.real)
                    continue
                if probe.verdict == "fatal":
                    return _Search(fatal=(cand, probe), cpu_only=tuple(cpu_only))
                return _Search(found=(cand, probe), cpu_only=tuple(cpu_only))
        return _Search(cpu_only=tuple(cpu_only), passed_over=tuple(passed))

    # -- search paths

    def expand(self, entries: Iterable[str], obj: _Obj, musl: bool) -> tuple[str, ...]:
        """RPATH/RUNPATH/LD_LIBRARY_PATH entries with $ORIGIN, $LIB, $PLATFORM expanded
        (for `obj`), as image paths; duplicates dropped (glibc keeps each once)."""
        facts = obj.facts
        machine = facts.machine if facts else None
        klass = facts.elf_class if facts else None
        entries = tuple(entries)
        key = (entries, obj.name, machine, klass, musl)
        known = self._expanded.get(key)
        if known is not None:
            return known
        origin = "/" + posixpath.dirname(obj.name)
        out: list[str] = []
        for entry in entries:
            if not entry:
                values = [self.paths.working_dir]
            else:
                values = self._dst(entry, origin, machine, klass, musl)
            for v in values:
                d = norm_dir(v, self.paths.working_dir)
                if d not in out:
                    out.append(d)
        self._expanded[key] = result = tuple(out)
        return result

    def _dst(
        self, entry: str, origin: str, machine: str | None, klass: int | None, musl: bool
    ) -> list[str]:
        if "$" not in entry:
            return [entry]
        tokens: list[tuple[str, list[str]]] = [("ORIGIN", [origin])]
        if not musl:
            tokens += [
                ("PLATFORM", [self.paths.platform(machine)]),
                ("LIB", self.paths.lib_values(machine, klass)),
            ]
        values = [entry]
        for token, choices in tokens:
            out: list[str] = []
            for v in values:
                out.extend(_substitute(v, token, choices))
            values = out
        return values

    def rpath_chain(self, ns: _Namespace, loader: _Obj, musl: bool) -> list[tuple[str, ...]]:
        """Step 1 (glibc) or the inherited RUNPATH/RPATH chain (musl)."""
        lists: list[tuple[str, ...]] = []
        chain: list[_Obj] = []
        obj: _Obj | None = loader
        while obj is not None and len(chain) < 256:
            chain.append(obj)
            obj = obj.loader
        if musl:
            for o in chain:
                f = o.facts
                entries = f.runpath if f and f.runpath is not None else (f.rpath if f else None)
                if entries:
                    lists.append(self.expand(entries, o, True))
            return lists
        if loader.facts is not None and loader.facts.runpath is not None:
            return lists
        for o in chain:
            if o.facts is not None and o.facts.rpath:
                lists.append(self.expand(o.facts.rpath, o, False))
        main = ns.main
        if main is not None and main not in chain and main.facts and main.facts.rpath:
            lists.append(self.expand(main.facts.rpath, main, False))
        return lists

    def musl_dirs(self, machine: str | None) -> list[str]:
        arch = MUSL_ARCH.get(machine or "", "")
        if arch not in self._musl_paths:
            data = self.fs.read(f"etc/ld-musl-{arch}.path")
            if data is None:
                dirs = ["lib", "usr/local/lib", "usr/lib"]
            else:
                text = data.decode("utf-8", "replace").replace("\n", ":")
                dirs = [norm_dir(p.strip(), "") for p in text.split(":") if p.strip()]
            self._musl_paths[arch] = dirs
        return self._musl_paths[arch]

    def cache_lookup(self, name: str, machine: str | None, klass: int | None) -> Any:
        key = (name, machine, klass)
        if key not in self._cache_hits:
            cache = self.paths.cache
            self._cache_hits[key] = cache.lookup(name, machine, klass) if cache else None
        return self._cache_hits[key]

    # -- one DT_NEEDED

    def map_object(
        self, ns: _Namespace, loader: _Obj, name: str, musl: bool, secure: bool
    ) -> _Obj | Failure:
        facts = loader.facts
        machine = facts.machine if facts else None
        klass = facts.elf_class if facts else None
        if musl and _musl_self(name) and ns.rtld is not None:
            return ns.rtld
        hit = ns.match(name, musl)
        if hit is not None:
            if hit is not _FAKE:
                ns.names.setdefault(name, hit)
            return hit
        searched: list[str] = []
        cpu_only: list[str] = []
        passed: list[str] = []
        if "/" in name:
            values = self._dst(name, "/" + posixpath.dirname(loader.name), machine, klass, musl)
            for v in values:
                cand = norm_dir(v, self.paths.working_dir)
                probe = self.probe(cand, machine, klass, musl)
                if probe.verdict in ("found", "fatal"):
                    return self._bind(ns, loader, name, cand, probe)
            return self._missing(ns, loader, name, (), (), ())
        lists: list[tuple[str, ...]] = []
        env_entries = ns.launcher_env + self.paths.ld_library_path
        env = () if secure else self.expand(env_entries, ns.main or loader, musl)
        if musl:
            lists += [env, *self.rpath_chain(ns, loader, True), tuple(self.musl_dirs(machine))]
        else:
            lists += self.rpath_chain(ns, loader, False)
            lists.append(env)
            if facts is not None and facts.runpath:
                lists.append(self.expand(facts.runpath, loader, False))

        def in_dirs(dirs: tuple[str, ...], musl: bool) -> _Obj | Failure | None:
            """Search one directory list, remembering what it searched and passed over;
            the bound object when a candidate is found (or stops the loader)."""
            searched.extend(d for d in dirs if d not in searched)
            result = self.search(name, dirs, machine, klass, musl)
            cpu_only.extend(result.cpu_only)
            passed.extend(result.passed_over)
            outcome = result.found or result.fatal
            return None if outcome is None else self._bind(ns, loader, name, *outcome)

        for dirs in lists:
            if dirs and (bound := in_dirs(dirs, musl)) is not None:
                return bound
        if musl:
            return self._missing(ns, loader, name, searched, cpu_only, passed)
        nodeflib = facts is not None and facts.nodeflib
        defaults = self.paths.default_dirs(machine, klass)
        cached = self.cache_lookup(name, machine, klass)
        if cached is not None:
            if cached.path is not None:
                path = norm_dir(cached.path, "")
                system = any(path.startswith(d + "/") for d in defaults)
                if not (nodeflib and system):
                    probe = self.probe(path, machine, klass, False)
                    if probe.verdict in ("found", "fatal"):
                        return self._bind(ns, loader, name, path, probe)
                    if probe.verdict == "skip":
                        passed.append(path)
            for entry in cached.cpu_dependent:
                real = self.fs.resolve(norm_dir(entry.path or "", ""))
                if real is not None:
                    cpu_only.append(real)
        if not nodeflib and (bound := in_dirs(tuple(defaults), False)) is not None:
            return bound
        return self._missing(ns, loader, name, searched, cpu_only, passed)

    def _bind(
        self, ns: _Namespace, loader: _Obj, name: str, cand: str, probe: _Probe
    ) -> _Obj | Failure:
        same = ns.files.get(probe.real)
        if same is not None:
            ns.names.setdefault(name, same)
            return same
        if probe.verdict == "fatal":
            ns.failed.add(name)
            return Failure(UNLOADABLE, name, loader.path, probe.real, probe.reason)
        obj = ns.add(probe.real, cand, probe.facts, loader)
        ns.names.setdefault(name, obj)
        return obj

    def _missing(
        self,
        ns: _Namespace,
        loader: _Obj,
        name: str,
        searched: Iterable[str],
        cpu_only: Iterable[str],
        passed: Iterable[str],
    ) -> Failure:
        ns.failed.add(name)
        others = list(dict.fromkeys("/" + p for p in passed))
        reason = "not found"
        if others:  # glibc's dlopen() says "wrong ELF class" then
            reason += " (passed over, another ELF class or machine: " + ", ".join(others) + ")"
        return Failure(
            MISSING,
            name,
            loader.path,
            reason=reason,
            searched=tuple("/" + d for d in searched),
            cpu_dependent=tuple(dict.fromkeys("/" + c for c in cpu_only)),
        )

    # -- trees

    def is_musl(self, facts: ElfFacts | None) -> bool:
        interp = facts.interp if facts else None
        if interp:
            return "ld-musl" in interp
        return self.libc == "musl"

    def new_namespace(
        self, interp: str | None, machine: str | None, klass: int | None
    ) -> _Namespace:
        """A namespace holding the loader itself (glibc's rtld map: found by its path
        and its DT_SONAME, e.g. a DT_NEEDED ld-linux-x86-64.so.2)."""
        ns = _Namespace()
        if interp is None:
            interp = STANDARD_INTERP.get((machine or "", klass or 0))
            if interp is None or self.fs.resolve(interp) is None:
                return ns
            interp = "/" + interp
        real = self.fs.resolve(norm_dir(interp, ""))
        facts = self.fs.elf(real) if real is not None else None
        if real is not None and facts is not None:
            typed = facts if isinstance(facts, ElfFacts) else None
            rtld = ns.add(real, norm_dir(interp, ""), typed, None)
            ns.names.setdefault(interp, rtld)
            ns.rtld = rtld
        return ns

    def load(
        self,
        root: str,
        facts: ElfFacts,
        kind: str,
        interpreter: str | None = None,
    ) -> tuple[_Namespace, LoadTree]:
        """The load tree of `root`."""
        musl = self.is_musl(facts)
        failures: list[Failure] = []
        base: _Namespace | None = None
        if kind == EXTENSION and interpreter is not None:
            loaded = self.interpreter_namespace(interpreter)
            if loaded is not None:
                base = loaded[0]
                interp_facts = base.main.facts if base.main else None
                musl = self.is_musl(interp_facts)
        if base is not None:
            ns = base.copy()
            preloaded = len(ns.objs)
        else:
            interp = facts.interp if kind == PROGRAM else None
            ns = self.new_namespace(interp, facts.machine, facts.elf_class)
            preloaded = len(ns.objs)
            if kind == PROGRAM and facts.interp:
                target = self.fs.resolve(norm_dir(facts.interp, ""))
                found = self.fs.elf(target) if target is not None else None
                if found is None or found.machine != facts.machine:
                    reason = "not found" if target is None else "not an ELF loader for it"
                    failures.append(Failure(INTERP, facts.interp, root, target, reason))
        own = self._own_fault(root, facts, kind, musl)
        if own is not None:
            failures.append(own)
        bundle = self.bundle_of(root)
        if bundle is not None and not (kind == PROGRAM and posixpath.dirname(root) == bundle):
            ns.launcher_env = ("/" + bundle,)
        obj = ns.files.get(root)
        if obj is None:
            obj = ns.add(root, root, facts, None)
        if kind == PROGRAM:
            ns.main = obj
        secure = kind == PROGRAM and self._setid(root)
        if ns.main is not None and ns.main is not obj:
            main_path = ns.main.path
            secure = secure or self._setid(main_path)
        edges: list[tuple[str, str, str | None]] = []
        incomplete: list[str] = []
        queue = deque([obj])
        seen = {obj.path}
        while queue:
            current = queue.popleft()
            if current.facts is None:
                incomplete.append(current.path)
                continue
            for name in current.facts.needed:
                result = self.map_object(ns, current, name, musl, secure)
                if isinstance(result, Failure):
                    failures.append(result)
                    edges.append((current.path, name, None))
                    continue
                if result is _FAKE:
                    edges.append((current.path, name, None))
                    continue
                edges.append((current.path, name, result.path))
                if result.path not in seen and result.order >= preloaded:
                    seen.add(result.path)
                    queue.append(result)
        objects = [o for o in ns.objs[preloaded:]]
        gaps = self._versions(ns, objects)
        tree = LoadTree(
            root=root,
            kind=kind,
            interpreter=interpreter,
            foreign=self._foreign(facts),
            objects=tuple(o.path for o in objects),
            edges=tuple(edges),
            failures=tuple(failures),
            version_gaps=tuple(gaps),
            incomplete=tuple(incomplete),
        )
        return ns, tree

    def _own_fault(self, root: str, facts: ElfFacts, kind: str, musl: bool) -> Failure | None:
        """The root itself cannot load: a program the kernel maps past its end, or a
        module or library dlopen() refuses (as it would refuse it as a dependency)."""
        name = posixpath.basename(root)
        if kind == PROGRAM:
            size = self.fs.file_size(root) or 0
            if size < facts.mapped_end:
                reason = (
                    f"truncated: {human_bytes(facts.mapped_end - size)} short of the "
                    f"{human_bytes(facts.mapped_end)} "
                    "its segments map; the process dies with SIGBUS"
                )
                return Failure(UNLOADABLE, name, root, root, reason)
            return None
        probe = self.probe(root, facts.machine, facts.elf_class, musl)
        if probe.verdict == "fatal":
            return Failure(UNLOADABLE, name, root, root, probe.reason)
        return None

    def _setid(self, path: str) -> bool:
        node = self.fs.get(path)
        return node is not None and bool(node.entry.mode & 0o6000)

    def _foreign(self, facts: ElfFacts) -> bool:
        if self.image_machine is None or facts.machine is None:
            return False
        return facts.machine != self.image_machine and facts.machine not in COMPATIBLE.get(
            self.image_machine, ()
        )

    def _versions(self, ns: _Namespace, objects: list[_Obj]) -> list[VersionGap]:
        gaps = []
        for obj in objects:
            if obj.facts is None:
                continue
            for lib, versions in obj.facts.verneed.items():
                target = ns.names.get(lib) or ns.sonames.get(lib)
                if target is None or target is _FAKE or target.facts is None:
                    continue
                defined = target.facts.verdef
                if not defined:
                    continue  # an unversioned library satisfies any version (ld.so only warns)
                lacking = tuple(v for v in versions if v not in defined)
                if lacking:
                    gaps.append(VersionGap(obj.path, lib, target.path, lacking))
        return gaps

    def interpreter_namespace(self, program: str) -> tuple[_Namespace, LoadTree] | None:
        """The namespace an interpreter starts with (its own tree loaded), once."""
        if program not in self._interp_trees:
            facts = self.fs.elf(program)
            self._interp_trees[program] = (
                self.load(program, facts, PROGRAM) if isinstance(facts, ElfFacts) else None
            )
        return self._interp_trees[program]

    def bundle_of(self, path: str) -> str | None:
        """The launcher's bundle directory `path` lies in (its library directory)."""
        for d in self.bundles:
            if path.startswith(d + "/"):
                return d
        return None

    def interpreter_of(self, path: str) -> str | None:
        for prefix, program in self.interpreters:
            if path.startswith(prefix + "/"):
                return program
        return None


def _musl_self(name: str) -> bool:
    return name.startswith("lib") and any(name[3:].startswith(r) for r in MUSL_SELF)


def _substitute(value: str, token: str, choices: list[str]) -> list[str]:
    """`value` with every $TOKEN / ${TOKEN} (an identifier boundary after it, as
    glibc's is_dst) replaced by each choice."""
    out = []
    for choice in choices:
        result = []
        i = 0
        changed = False
        while i < len(value):
            if value[i] == "$":
                rest = value[i + 1 :]
                if rest.startswith("{" + token + "}"):
                    result.append(choice)
                    i += len(token) + 3
                    changed = True
                    continue
                if rest.startswith(token) and not _ident(rest[len(token) : len(token) + 1]):
                    result.append(choice)
                    i += len(token) + 1
                    changed = True
                    continue
            result.append(value[i])
            i += 1
        out.append("".join(result))
        if not changed:
            break
    return out


def _ident(ch: str) -> bool:
    return bool(ch) and (ch.isalnum() or ch == "_") and ch.isascii()


# ---- the graph -------------------------------------------------------------------------


def build(
    fs: FileSystem,
    paths: LoaderPaths,
    libc: str | None,
    interpreters: list[tuple[str, str]] | None = None,
    architecture: str | None = None,
    extension: Any = None,
) -> ElfGraph:
    """Every root's load tree. `interpreters` maps a directory (a venv's site-packages,
    a prefix's lib/pythonX.Y) to the program that imports extension modules from it;
    `extension(path)` says whether a file is a Python extension module."""
    loader = _Loader(
        fs,
        paths,
        libc,
        interpreters or [],
        IMAGE_ARCH.get(architecture or ""),
        pyinstaller_bundles(fs),
    )
    graph = ElfGraph(paths=paths, ld_conf_dirs=ld_so_conf_dirs(fs))
    is_extension = extension or (lambda p: False)
    libraries: list[tuple[str, ElfFacts]] = []
    reached: set[str] = set()
    for path, facts in fs.elf_files():
        if isinstance(facts, UnreadableElf):
            graph.errors[path] = facts.reason
            continue
        if not facts.loadable_type:
            continue
        graph.count += 1
        if facts.is_program:
            if not _executable(fs, path):
                continue
            _, tree = loader.load(path, facts, PROGRAM)
        elif is_extension(path):
            _, tree = loader.load(path, facts, EXTENSION, loader.interpreter_of(path))
        else:
            libraries.append((path, facts))
            continue
        graph.trees[path] = tree
        reached.update(tree.objects)
    # Libraries nothing loads: roots of their own, except those another such library
    # loads (a plugin's private dependency); every one is judged at least once. Not a
    # wheel's vendored libraries (`<dist>.libs/` beside installed dist-infos): they
    # are loaded through its extension modules only (their names are mangled, found
    # through the module's RPATH $ORIGIN/../<pkg>.libs), never dlopen()ed on their own;
    # when that module's tree stops before them (a vendored libpq truncated) its failure
    # is the one the loader meets.
    pending = {}
    for path, facts in libraries:
        if path not in reached and not _wheel_vendored(fs, path):
            pending[path] = loader.load(path, facts, LIBRARY)[1]
    below = {o for tree in pending.values() for o in tree.objects[1:]}
    covered: set[str] = set()
    for path, tree in pending.items():
        if path not in below:
            graph.trees[path] = tree
            covered.update(tree.objects)
    for path, tree in pending.items():
        if path not in covered:  # only reached from itself round a cycle
            graph.trees[path] = tree
            covered.update(tree.objects)
    return graph


def _wheel_vendored(fs: FileSystem, path: str) -> bool:
    """A library auditwheel vendored into a wheel: `<dir>/<dist>.libs/<lib>` where
    `<dir>` holds installed distributions (a `*.dist-info`: site-packages, a --target
    directory)."""
    libs = posixpath.dirname(path)
    if not libs.endswith(".libs"):
        return False
    return any(n.endswith(".dist-info") for n in fs.listdir(posixpath.dirname(libs)))


def pyinstaller_bundles(fs: FileSystem) -> list[str]:
    """PyInstaller one-dir bundles: each directory holding `base_library.zip` (the frozen
    standard library) and a `libpython3*.so*`, the bundle's library directory that its
    bootloader puts first on LD_LIBRARY_PATH before it restarts itself and loads
    libpython (`sys._MEIPASS`; `_internal/` since PyInstaller 6, the executable's own
    directory before)."""
    out = []
    for path, node in fs.files_ending("/base_library.zip"):
        if node.entry.kind not in (FILE, HARDLINK):
            continue
        directory = posixpath.dirname(path)
        if any(n.startswith("libpython3") and ".so" in n for n in fs.listdir(directory)):
            out.append(directory)
    return out


def _executable(fs: FileSystem, path: str) -> bool:
    node = fs.get(path)
    return node is not None and bool(node.entry.mode & 0o111)


def ld_so_conf_dirs(fs: FileSystem) -> list[str]:
    """Directories listed by /etc/ld.so.conf and the files its `include` globs name:
    what ldconfig would put in a new cache (the loader itself never reads them)."""
    out: list[str] = []
    seen: set[str] = set()
    budget = [MAX_LD_CONF_FILES]

    def read(path: str) -> None:
        if path in seen or budget[0] <= 0:
            return
        seen.add(path)
        budget[0] -= 1
        data = fs.read(path)
        if data is None:
            return
        for raw in data.decode("utf-8", "replace").splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("include") and line[7:8] in (" ", "\t"):
                for pattern in line[8:].split():
                    for match in _glob(fs, _fold(pattern, posixpath.dirname(path))):
                        read(match)
            elif line.startswith("hwcap "):
                continue
            else:
                for item in line.replace(",", " ").replace(":", " ").split():
                    if "=" in item:  # old "dir=TYPE" syntax
                        item = item.split("=", 1)[0]
                    d = _fold(item, "")
                    if d not in out:
                        out.append(d)

    read("etc/ld.so.conf")
    return out


def _fold(path: str, base: str) -> str:
    joined = path if path.startswith("/") else posixpath.join("/" + base, path)
    return posixpath.normpath(joined).lstrip("/")


def _glob(fs: FileSystem, pattern: str) -> list[str]:
    """Expand a glob inside the image (only the last component may hold wildcards)."""
    directory, name = posixpath.split(pattern)
    real = fs.resolve(directory) if directory else ""
    if real is None:
        return []
    if not any(c in name for c in "*?["):
        return [pattern]
    return sorted(
        posixpath.join(directory, n) for n in fs.listdir(real) if fnmatch.fnmatch(n, name)
    )


def glibc_version(
    fs: FileSystem, graph_conf: list[str] | None = None, libc6_version: str | None = None
) -> tuple[int, int] | None:
    """The image's glibc as (major, minor): the newest GLIBC_2.N that libc.so.6 defines,
    else `libc6_version`, the version of the installed dpkg package libc6 (from the
    facts' one parse of the dpkg database), when libc.so.6 is unparseable or unusual."""
    from auditor.facts.ldpaths import MULTIARCH

    dirs = [*(graph_conf or []), "lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"]
    dirs += [f"lib/{t}" for t in MULTIARCH.values()] + [f"usr/lib/{t}" for t in MULTIARCH.values()]
    dirs += ["lib64", "usr/lib64", "lib", "usr/lib"]
    for d in dirs:
        facts = fs.elf(posixpath.join(d, "libc.so.6"))
        if isinstance(facts, ElfFacts) and facts.verdef:
            best = max(
                (v for v in (parse_glibc(x) for x in facts.verdef) if v is not None),
                default=None,
            )
            if best is not None:
                return best
    if libc6_version is None:
        return None
    upstream = libc6_version.split(":", 1)[-1].split("-", 1)[0].split(".")
    try:
        return int(upstream[0]), int(upstream[1])
    except (ValueError, IndexError):
        return None


def parse_glibc(version: str) -> tuple[int, int] | None:
    """GLIBC_2.34 -> (2, 34); anything else -> None."""
    if not version.startswith("GLIBC_"):
        return None
    parts = version[6:].split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return None
