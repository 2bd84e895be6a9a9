"""What an SBOM lists, read from a report: the image's dpkg packages, Python
distributions and CPython interpreters, and the dependencies among them that resolve
inside the image.

Built from the report's `facts` (not from the live `Facts`), so an SBOM renders from
any report, a stored one or one the result cache answered without reading a layer.

Dependencies are edges the image itself backs, never guesses:
- dpkg: each `Depends` / `Pre-Depends` group (`a (>= 1) | b`) resolves to its first
  alternative that an installed package satisfies, by name and version or through a
  `Provides` (a versioned one for a versioned dependency), as dpkg itself checks it;
  an architecture qualifier (`python3:any`) names the same package.
- Python: each `Requires-Dist` whose marker holds for the interpreter of an environment
  listing the distribution (python_version and python_full_version of that
  interpreter, Linux and the image's machine; no extra is requested, as a plain
  `pip install` of the distribution requests none), resolves to the distribution of
  that name which the environment's `importlib.metadata` finds first on its sys.path,
  when its version satisfies the specifier. A distribution no environment lists
  resolves only requirements without a marker, in its own directory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

# The image's architecture (OCI names) as CPython's platform.machine() spells it.
MACHINES = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "386": "i686",
    "arm": "armv7l",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64le": "mips64",
}


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    architecture: str
    source: str

    @property
    def ref(self) -> str:
        return f"dpkg:{self.name}"


@dataclass(frozen=True)
class PythonDist:
    name: str  # canonical (PEP 503)
    display_name: str
    version: str | None
    location: str  # the sys.path entry that holds it
    metadata: str  # its .dist-info / .egg-info
    layer: int | None
    environments: tuple[str, ...]  # interpreters / venvs whose importlib lists it
    installer: str | None
    kind: str
    top_level: tuple[str, ...]
    wheel_tags: tuple[str, ...]
    editable: bool

    @property
    def ref(self) -> str:
        return f"python:{self.metadata}"

    def owns(self, path: str) -> bool:
        """`path` is its metadata or one of its top-level modules (a package directory,
        `six.py`, `_cffi_backend.cpython-311-x86_64-linux-gnu.so`)."""
        if _within(path, self.metadata):
            return True
        for top in self.top_level:
            module = f"{self.location}/{top}"
            if _within(path, module) or (
                path.startswith(module + ".") and "/" not in path[len(module) :]
            ):
                return True
        return False


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str  # X.Y
    full_version: str | None
    origin: str | None
    prefix: str | None
    stdlib: str | None
    package: str | None  # the dpkg package that ships it

    @property
    def ref(self) -> str:
        return f"cpython:{self.path}"


@dataclass(frozen=True)
class Inventory:
    debs: tuple[DebPackage, ...]
    pythons: tuple[PythonDist, ...]
    interpreters: tuple[Interpreter, ...]
    depends: Mapping[str, tuple[str, ...]]  # ref -> refs it depends on, sorted

    @property
    def refs(self) -> tuple[str, ...]:
        return (
            *(d.ref for d in self.debs),
            *(p.ref for p in self.pythons),
            *(i.ref for i in self.interpreters),
        )


def inventory(facts: Mapping[str, Any], architecture: str = "") -> Inventory:
    """The components and their dependency edges, from a report's `facts` section."""
    dpkg = facts.get("dpkg") or {}
    debs = tuple(
        sorted(
            (
                DebPackage(p["name"], p["version"], p.get("architecture", ""), p.get("source", ""))
                for p in dpkg.get("packages") or ()
            ),
            key=lambda d: d.name,
        )
    )
    pythons = tuple(
        sorted(
            (_python_dist(p) for p in facts.get("packages") or () if p.get("name")),
            key=lambda d: (d.name, d.metadata),
        )
    )
    interpreters = tuple(
        sorted((_interpreter(p) for p in facts.get("pythons") or ()), key=lambda i: i.path)
    )
    depends: dict[str, tuple[str, ...]] = {}
    for ref, targets in _deb_edges(dpkg.get("packages") or ()).items():
        depends[ref] = targets
    machine = MACHINES.get(architecture.split("/")[0], architecture)
    for ref, targets in _python_edges(pythons, facts, interpreters, machine).items():
        depends[ref] = targets
    return Inventory(debs, pythons, interpreters, depends)


def _python_dist(p: Mapping[str, Any]) -> PythonDist:
    return PythonDist(
        name=canonicalize_name(p["name"]),
        display_name=p.get("display_name") or p["name"],
        version=p.get("version"),
        location=p.get("location") or "",
        metadata=p.get("metadata") or "",
        layer=p.get("layer"),
        environments=tuple(p.get("environments") or ()),
        installer=p.get("installer"),
        kind=p.get("kind") or "",
        top_level=tuple(p.get("top_level") or ()),
        wheel_tags=tuple(p.get("wheel_tags") or ()),
        editable=bool(p.get("editable")),
    )


def _interpreter(p: Mapping[str, Any]) -> Interpreter:
    return Interpreter(
        path=p["path"],
        version=str(p.get("version") or ""),
        full_version=p.get("full_version"),
        origin=p.get("origin"),
        prefix=p.get("prefix"),
        stdlib=p.get("stdlib"),
        package=p.get("package"),
    )


def _within(path: str, directory: str) -> bool:
    return bool(directory) and (path == directory or path.startswith(directory.rstrip("/") + "/"))


# ---- dpkg: Depends and Pre-Depends ------------------------------------------------------

_RELATION = re.compile(
    r"^\s*(?P<name>[a-z0-9][a-z0-9.+-]*)(?::[a-z0-9-]+)?\s*"
    r"(?:\(\s*(?P<op><<|<=|=|>=|>>|<|>)\s*(?P<version>[^)\s]+)\s*\))?"
)


@dataclass(frozen=True)
class _Relation:
    name: str
    op: str | None
    version: str | None


def parse_relations(field: str) -> list[list[_Relation]]:
    """A dpkg relationship field: AND groups of OR alternatives (an unreadable one is
    left out)."""
    groups = []
    for group in field.split(","):
        alternatives = []
        for alt in group.split("|"):
            m = _RELATION.match(alt)
            if m is not None:
                alternatives.append(_Relation(m["name"], m["op"], m["version"]))
        if alternatives:
            groups.append(alternatives)
    return groups


def _satisfies(version: str, op: str | None, wanted: str | None) -> bool:
    if op is None or wanted is None:
        return True
    # deferred: start-up time, see README "Performance"
    from debian.debian_support import version_compare

    cmp = version_compare(version, wanted)
    return {
        "<<": cmp < 0,
        "<=": cmp <= 0,
        "<": cmp <= 0,  # obsolete spelling of <=
        "=": cmp == 0,
        ">=": cmp >= 0,
        ">": cmp >= 0,  # obsolete spelling of >=
        ">>": cmp > 0,
    }[op]


def _deb_edges(packages: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    versions = {p["name"]: p["version"] for p in packages}
    provided: dict[str, list[tuple[str, str | None]]] = {}  # virtual -> (provider, version)
    for p in packages:
        for group in parse_relations(p.get("provides") or ""):
            for rel in group:
                provided.setdefault(rel.name, []).append((p["name"], rel.version))
    out: dict[str, tuple[str, ...]] = {}
    for p in packages:
        targets: set[str] = set()
        field = ", ".join(f for f in (p.get("pre_depends"), p.get("depends")) if f)
        for group in parse_relations(field):
            found = _first_satisfying(group, versions, provided)
            if found is not None and found != p["name"]:
                targets.add(found)
        if targets:
            out[f"dpkg:{p['name']}"] = tuple(sorted(f"dpkg:{t}" for t in targets))
    return out


def _first_satisfying(
    group: Iterable[_Relation],
    versions: Mapping[str, str],
    provided: Mapping[str, list[tuple[str, str | None]]],
) -> str | None:
    for rel in group:
        installed = versions.get(rel.name)
        if installed is not None and _satisfies(installed, rel.op, rel.version):
            return rel.name
        for provider, version in provided.get(rel.name, ()):
            if rel.op is None or (version is not None and _satisfies(version, rel.op, rel.version)):
                return provider
    return None


# ---- Python: Requires-Dist --------------------------------------------------------------


def marker_environment(version: str, full_version: str | None, machine: str) -> dict[str, str]:
    """PEP 508 marker variables of a CPython X.Y on Linux, as far as the files tell.
    The kernel's release and version are the running host's: unknown, left empty."""
    full = full_version or version
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full,
        "python_version": version,
        "sys_platform": "linux",
        "extra": "",
    }


def _python_edges(
    dists: Sequence[PythonDist],
    facts: Mapping[str, Any],
    interpreters: Sequence[Interpreter],
    machine: str,
) -> dict[str, tuple[str, ...]]:
    by_path = {i.path: i for i in interpreters}
    envs = {e["path"]: e for e in facts.get("environments") or () if e.get("path")}
    requires = {
        (p.get("metadata") or ""): p.get("requires_dist") or ()
        for p in facts.get("packages") or ()
        if p.get("name")
    }
    # environment -> canonical name -> the distribution importlib finds first
    visible: dict[str, dict[str, PythonDist]] = {}
    for path, env in envs.items():
        order = {entry: i for i, entry in enumerate(env.get("sys_path") or ())}
        listed = sorted(
            (d for d in dists if path in d.environments),
            key=lambda d: order.get(d.location, len(order)),
        )
        first: dict[str, PythonDist] = {}
        for d in listed:
            first.setdefault(d.name, d)
        visible[path] = first
    by_location: dict[str, dict[str, PythonDist]] = {}
    for d in dists:
        by_location.setdefault(d.location, {}).setdefault(d.name, d)

    out: dict[str, tuple[str, ...]] = {}
    for d in dists:
        targets: set[str] = set()
        parsed = [r for r in map(_requirement, requires.get(d.metadata, ())) if r is not None]
        if d.environments:
            for env_path in d.environments:
                env = envs.get(env_path)
                if env is None:
                    continue
                base = by_path.get(env.get("base") or "")
                version = str(env.get("version") or (base.version if base else ""))
                full = base.full_version if base is not None else None
                markers = marker_environment(version, full, machine)
                scope = visible.get(env_path, {})
                for req in parsed:
                    if req.marker is not None and not _holds(req.marker, markers):
                        continue
                    _add_target(targets, d, req, scope)
        else:
            scope = by_location.get(d.location, {})
            for req in parsed:
                if req.marker is None:
                    _add_target(targets, d, req, scope)
        if targets:
            out[d.ref] = tuple(sorted(targets))
    return out


def _requirement(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def _holds(marker: Marker, environment: dict[str, str]) -> bool:
    try:
        return marker.evaluate(environment)
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
        return False


def _add_target(
    targets: set[str], dist: PythonDist, req: Requirement, scope: Mapping[str, PythonDist]
) -> None:
    target = scope.get(canonicalize_name(req.name))
    if target is None or target is dist or target.version is None:
        return
    try:
        ok = req.specifier.contains(Version(target.version), prereleases=True)
    except InvalidVersion:
        ok = not req.specifier  # a legacy version satisfies only "any version"
    if ok:
        targets.add(target.ref)
