"""Will every ELF file load? DT_NEEDED resolved as the dynamic loader would, inside the image.

For each ELF file of the final filesystem (executables and shared objects; relocatable
objects and unparseable files are left out), every DT_NEEDED name is looked up the way
glibc's ld.so does it (`_dl_map_object`), but inside the image root: symlinks are
followed with `FileSystem.resolve`, which never leaves the image. Search order for a
name without a slash, for object O:

1. DT_RPATH of O, then of the object that loaded O, up to the root object (only when O
   has no DT_RUNPATH; RPATH is inherited, RUNPATH is not);
2. LD_LIBRARY_PATH from the image config's Env;
3. DT_RUNPATH of O;
4. the directories of /etc/ld.so.conf, following `include` globs;
5. the default directories: the multiarch directories (lib/x86_64-linux-gnu, ...), then
   lib64/usr/lib64 for 64-bit objects, then lib and usr/lib.

`$ORIGIN` (the directory of the object that carries the path), `$LIB` and `$PLATFORM`
are expanded in RPATH, RUNPATH and LD_LIBRARY_PATH. A candidate of the wrong class or
machine (a 32-bit libc found before the 64-bit one) is skipped, as ld.so skips it.

musl (an object whose PT_INTERP is ld-musl-*, or a library in an image whose libc is
musl): LD_LIBRARY_PATH, then the loading object's RPATH/RUNPATH (musl treats them
alike and inherits neither), then /etc/ld-musl-ARCH.path (entries separated by ':' or
newlines) or, without that file, /lib:/usr/local/lib:/usr/lib.

Where this deliberately differs from glibc's ld.so:
- /etc/ld.so.cache is NOT read: it is a binary cache generated from ld.so.conf by
  ldconfig at build time and can be stale or absent (many images delete it); reading the
  configuration it is built from gives the answer ldconfig would give on the final tree.
  A library only in the cache (a directory removed from ld.so.conf after ldconfig ran)
  is reported missing here and would load in a container.
- `$LIB` expands to every value distributions use (lib/<multiarch>, lib64 or lib)
  rather than the one this glibc build was configured with; `$PLATFORM` to the
  machine's base platform name (x86_64, aarch64, i686, ...), not the CPU-specific one
  the kernel passes in AT_PLATFORM.
- Hardware-capability subdirectories (glibc-hwcaps/, tls/, haswell/) are not searched:
  they only ever hold optimised copies of libraries present in the directory itself.
- DT_NEEDED names with a slash are taken relative to the image root, not to the
  process's working directory (which an image does not fix for every run).
- Every ELF file is resolved as a root object (as if it were the program, or were
  dlopen()ed directly); the RPATH of a program that dlopen()s a library at run time is
  not inherited by it. lddtree does the same.
- Secure-execution mode (setuid binaries ignore LD_LIBRARY_PATH) is not modelled.
- PT_INTERP is checked only for objects without DT_SONAME (programs): a runnable
  library such as libc.so.6 carries one too but is loaded by the program's loader.
- An already loaded object is matched by its DT_NEEDED name only, not by DT_SONAME of
  objects loaded under another name (ld.so compares both); the same file is found
  either way in every layout we know of.
- `$ORIGIN` of a library reached through a symlink is the directory of its real path
  (as for programs, whose origin the kernel resolves, and as lddtree does); glibc uses
  the directory of the path it opened for libraries.
- A candidate that exists but is not an ELF file is skipped (ld.so would try it, fail,
  and go on to the next directory, which gives the same result).
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from auditor.fs import FileSystem

MULTIARCH = {
    ("EM_X86_64", 64): "x86_64-linux-gnu",
    ("EM_X86_64", 32): "x86_64-linux-gnux32",
    ("EM_386", 32): "i386-linux-gnu",
    ("EM_AARCH64", 64): "aarch64-linux-gnu",
    ("EM_ARM", 32): "arm-linux-gnueabihf",
    ("EM_PPC64", 64): "powerpc64le-linux-gnu",
    ("EM_S390", 64): "s390x-linux-gnu",
    ("EM_RISCV", 64): "riscv64-linux-gnu",
    ("EM_MIPS", 64): "mips64el-linux-gnuabi64",
}
PLATFORM = {
    "EM_X86_64": "x86_64",
    "EM_386": "i686",
    "EM_AARCH64": "aarch64",
    "EM_ARM": "v7l",
    "EM_PPC64": "powerpc64le",
    "EM_S390": "s390x",
    "EM_RISCV": "riscv64",
}
MUSL_ARCH = {
    "EM_X86_64": "x86_64",
    "EM_386": "i386",
    "EM_AARCH64": "aarch64",
    "EM_ARM": "armhf",
    "EM_PPC64": "powerpc64le",
    "EM_S390": "s390x",
    "EM_RISCV": "riscv64",
}
LOADABLE = ("ET_EXEC", "ET_DYN")
VERSIONED = ("GLIBC_", "GLIBCXX_", "CXXABI_", "GCC_")
MAX_LD_CONF_FILES = 256


@dataclass(frozen=True)
class Missing:
    """A DT_NEEDED (or PT_INTERP) of `path` that nothing in the image satisfies."""

    path: str  # the ELF whose DT_NEEDED fails (image-relative)
    needed: str
    tried: tuple[str, ...]  # directories searched, in order (absolute image paths)
    interp: bool = False  # the program interpreter itself is missing

    def to_json(self) -> dict[str, Any]:
        return {"path": "/" + self.path, "needed": self.needed, "tried": list(self.tried)}


@dataclass(frozen=True)
class MissingVersions:
    path: str  # the ELF that needs the versions
    library: str  # the DT_NEEDED name
    resolved: str  # where it was found (image-relative)
    versions: tuple[str, ...]


@dataclass
class ElfGraph:
    """Resolution results for every loadable ELF of the image."""

    missing: list[Missing] = field(default_factory=list)  # direct failures, per object
    missing_versions: list[MissingVersions] = field(default_factory=list)
    resolved: dict[str, dict[str, str | None]] = field(default_factory=dict)  # obj -> need -> path
    # root -> {missing name: the object in its tree that needs it} (what lddtree shows)
    unresolved_tree: dict[str, dict[str, str]] = field(default_factory=dict)
    ld_conf_dirs: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # unparseable ELF -> reason
    count: int = 0

    def unresolved(self, path: str) -> list[str]:
        """Library names that loading `path` would fail on, anywhere in its tree."""
        return sorted(self.unresolved_tree.get(path.strip("/"), {}))

    def to_json(self) -> dict[str, Any]:
        return {
            "elf_files": self.count,
            "unparseable": len(self.errors),
            "missing": [m.to_json() for m in self.missing],
            "missing_versions": [
                {
                    "path": "/" + m.path,
                    "library": m.library,
                    "resolved": "/" + m.resolved,
                    "versions": list(m.versions),
                }
                for m in self.missing_versions
            ],
            "ld_so_conf_dirs": ["/" + d for d in self.ld_conf_dirs],
        }


def ld_so_conf_dirs(fs: FileSystem) -> list[str]:
    """Directories listed by /etc/ld.so.conf and the files its `include` globs name."""
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
                    for match in _glob(fs, _norm_dir(pattern, posixpath.dirname(path))):
                        read(match)
            elif line.startswith("hwcap "):
                continue
            else:
                for item in line.replace(",", " ").replace(":", " ").split():
                    if "=" in item:  # old "dir=TYPE" syntax
                        item = item.split("=", 1)[0]
                    d = _norm_dir(item, "")
                    if d not in out:
                        out.append(d)

    read("etc/ld.so.conf")
    return out


def _norm_dir(path: str, base: str) -> str:
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
    return [posixpath.join(directory, n) for n in fs.listdir(real) if fnmatch.fnmatch(n, name)]


class _Resolver:
    def __init__(self, fs: FileSystem, env: dict[str, str], libc: str | None) -> None:
        self.fs = fs
        self.libc = libc
        self.conf = ld_so_conf_dirs(fs)
        self.ld_library_path = [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
        self._musl_paths: dict[str, list[str]] = {}
        self._cache: dict[tuple[str, str, int, str], str | None] = {}

    def facts(self, path: str) -> dict[str, Any] | None:
        return self.fs.elf(path)

    def is_musl(self, root_facts: dict[str, Any]) -> bool:
        interp = root_facts.get("interp") or ""
        if interp:
            return "ld-musl" in interp
        return self.libc == "musl"

    def expand(self, entry: str, origin: str, facts: dict[str, Any]) -> list[str]:
        machine, klass = facts.get("machine", ""), facts.get("class", 64)
        triplet = MULTIARCH.get((machine, klass))
        libs = [f"lib/{triplet}"] if triplet else []
        libs.append("lib64" if klass == 64 else "lib")
        values: list[str] = [entry]
        for token, choices in (
            ("ORIGIN", ["/" + origin]),
            ("LIB", libs),
            ("PLATFORM", [PLATFORM.get(machine, "unknown")]),
        ):
            out: list[str] = []
            for v in values:
                if f"${token}" in v or f"${{{token}}}" in v:
                    for c in choices:
                        out.append(v.replace(f"${{{token}}}", c).replace(f"${token}", c))
                else:
                    out.append(v)
            values = out
        return [_norm_dir(v, origin) for v in values if "$" not in v]

    def default_dirs(self, facts: dict[str, Any]) -> list[str]:
        triplet = MULTIARCH.get((facts.get("machine", ""), facts.get("class", 64)))
        out = [f"lib/{triplet}", f"usr/lib/{triplet}"] if triplet else []
        if facts.get("class") == 64:
            out += ["lib64", "usr/lib64"]
        return [*out, "lib", "usr/lib"]

    def musl_dirs(self, facts: dict[str, Any]) -> list[str]:
        arch = MUSL_ARCH.get(facts.get("machine", ""), "")
        if arch not in self._musl_paths:
            data = self.fs.read(f"etc/ld-musl-{arch}.path")
            if data is None:
                dirs = ["lib", "usr/local/lib", "usr/lib"]
            else:
                text = data.decode("utf-8", "replace").replace("\n", ":")
                dirs = [_norm_dir(p, "") for p in text.split(":") if p.strip()]
            self._musl_paths[arch] = dirs
        return self._musl_paths[arch]

    def search_path(
        self, obj: str, facts: dict[str, Any], chain: list[tuple[str, dict[str, Any]]], musl: bool
    ) -> list[str]:
        """Directories searched for a DT_NEEDED of `obj`, in order (duplicates removed)."""
        origin = posixpath.dirname(obj)
        dirs: list[str] = []
        env = [d for e in self.ld_library_path for d in self.expand(e, origin, facts)]
        if musl:
            dirs += env
            for entry in facts.get("runpath") or facts.get("rpath") or []:
                dirs += self.expand(entry, origin, facts)
            dirs += self.musl_dirs(facts)
        else:
            if not facts.get("runpath"):
                for owner, owner_facts in [(obj, facts), *reversed(chain)]:
                    for entry in owner_facts.get("rpath") or []:
                        dirs += self.expand(entry, posixpath.dirname(owner), owner_facts)
            dirs += env
            for entry in facts.get("runpath") or []:
                dirs += self.expand(entry, origin, facts)
            dirs += self.conf
            dirs += self.default_dirs(facts)
        seen: set[str] = set()
        return [d for d in dirs if not (d in seen or seen.add(d))]  # type: ignore[func-returns-value]

    def find(self, name: str, dirs: list[str], facts: dict[str, Any]) -> str | None:
        """The first compatible file named `name` in `dirs` (its real path), or None."""
        if "/" in name:
            candidates = [_norm_dir(name, "")]
        else:
            # posixpath.join(d, name), spelled out: `name` holds no "/" here
            candidates = [
                (d + name if d[-1] == "/" else f"{d}/{name}") if d else name for d in dirs
            ]
        for cand in candidates:
            key = (cand, facts.get("machine", ""), facts.get("class", 0), "")
            if key in self._cache:
                hit = self._cache[key]
            else:
                hit = self._compatible(cand, facts)
                self._cache[key] = hit
            if hit is not None:
                return hit
        return None

    def _compatible(self, cand: str, facts: dict[str, Any]) -> str | None:
        real = self.fs.resolve(cand)
        if real is None:
            return None
        found = self.fs.elf(real)
        if found is None:
            return None  # a directory, a text file, a linker script: ld.so moves on
        if "error" in found:
            return real  # cannot tell: assume it loads (reported as unparseable elsewhere)
        if found.get("class") != facts.get("class") or found.get("machine") != facts.get("machine"):
            return None
        return real


def build(fs: FileSystem, env: dict[str, str], libc: str | None) -> ElfGraph:
    """Resolve every loadable ELF of `fs` as a root object."""
    r = _Resolver(fs, env, libc)
    graph = ElfGraph(ld_conf_dirs=r.conf)
    direct: dict[str, list[Missing]] = {}
    checked_versions: set[tuple[str, str]] = set()
    for path, facts in fs.elf_files():
        if "error" in facts:
            graph.errors[path] = str(facts["error"])
            continue
        if facts.get("type") not in LOADABLE:
            continue
        graph.count += 1
        musl = r.is_musl(facts)
        interp = facts.get("interp")
        # PT_INTERP matters for programs; a library that is also runnable (libc.so.6)
        # carries one too, but is loaded through the program's interpreter.
        if interp and not facts.get("soname") and r.fs.resolve(_norm_dir(interp, "")) is None:
            direct.setdefault(path, []).append(Missing(path, interp, (), interp=True))
        unresolved: dict[str, str] = {}
        # Breadth-first like ld.so: each object's chain of loaders carries the RPATHs.
        queue: deque[tuple[str, dict[str, Any], list[tuple[str, dict[str, Any]]]]] = deque(
            [(path, facts, [])]
        )
        loaded: dict[str, str | None] = {}  # names already satisfied in this tree
        visited: set[str] = {path}
        while queue:
            obj, ofacts, chain = queue.popleft()
            dirs: list[str] | None = None
            for name in ofacts.get("needed") or []:
                if name in loaded and loaded[name] is not None:
                    hit = loaded[name]
                else:
                    if dirs is None:
                        dirs = r.search_path(obj, ofacts, chain, musl)
                    hit = r.find(name, dirs, ofacts)
                    if hit is not None:
                        loaded[name] = hit
                if obj == path or obj not in graph.resolved:
                    graph.resolved.setdefault(obj, {})[name] = hit
                if hit is None:
                    unresolved.setdefault(name, obj)
                    if obj == path:
                        tried = tuple("/" + d for d in (dirs or []))
                        direct.setdefault(path, []).append(Missing(path, name, tried))
                    continue
                if obj == path and (path, name) not in checked_versions:
                    checked_versions.add((path, name))
                    _versions(graph, path, ofacts, name, hit, r.facts(hit))
                if hit not in visited:
                    visited.add(hit)
                    hfacts = r.facts(hit)
                    if hfacts is not None and "error" not in hfacts:
                        queue.append((hit, hfacts, [*chain, (obj, ofacts)]))
        if unresolved:
            graph.unresolved_tree[path] = unresolved
    graph.missing = [m for path in sorted(direct) for m in direct[path]]
    return graph


def _versions(
    graph: ElfGraph,
    path: str,
    facts: dict[str, Any],
    name: str,
    hit: str,
    lib: dict[str, Any] | None,
) -> None:
    needed = [v for v in (facts.get("verneed") or {}).get(name, []) if v.startswith(VERSIONED)]
    if not needed or lib is None or not lib.get("verdef"):
        return  # an unversioned library satisfies any version (ld.so only warns)
    defined = set(lib["verdef"])
    lacking = tuple(sorted(v for v in needed if v not in defined))
    if lacking:
        graph.missing_versions.append(MissingVersions(path, name, hit, lacking))


def glibc_version(fs: FileSystem, graph_conf: list[str] | None = None) -> tuple[int, int] | None:
    """The image's glibc as (major, minor): the newest GLIBC_2.N that libc.so.6 defines,
    else the version of the dpkg package libc6 (libc.so.6 unparseable or unusual)."""
    dirs = [*(graph_conf or []), "lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"]
    dirs += [f"lib/{t}" for t in MULTIARCH.values()] + [f"usr/lib/{t}" for t in MULTIARCH.values()]
    dirs += ["lib64", "usr/lib64", "lib", "usr/lib"]
    for d in dirs:
        facts = fs.elf(posixpath.join(d, "libc.so.6"))
        if facts and facts.get("verdef"):
            best = max(
                (v for v in (parse_glibc(x) for x in facts["verdef"]) if v is not None),
                default=None,
            )
            if best is not None:
                return best
    return _dpkg_libc6(fs)


def _dpkg_libc6(fs: FileSystem) -> tuple[int, int] | None:
    data = fs.read("var/lib/dpkg/status")
    if data is None:
        return None
    for stanza in data.decode("utf-8", "replace").split("\n\n"):
        fields = dict(
            line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[:1] != " "
        )
        if fields.get("Package", "").strip() != "libc6":
            continue
        if "installed" not in fields.get("Status", ""):
            continue
        version = fields.get("Version", "").strip().split(":", 1)[-1]
        parts = version.split("-", 1)[0].split(".")
        try:
            return int(parts[0]), int(parts[1])
        except (ValueError, IndexError):
            return None
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
