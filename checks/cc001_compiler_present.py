"""CC001 compiler-present: a compiler, assembler, linker or build tool in the final image.

Why it matters: a production image needs no toolchain. gcc, binutils, make and the -dev
packages add hundreds of MB, widen the attack surface (an attacker with code execution
can build and run native exploits in place) and usually mean the image was built in a
single stage.

How it is found: tool names (gcc, cc, c++, g++, clang, gfortran, rustc, cargo, go, as,
ld, make, cmake, with version and target prefixes) in any bin/sbin directory, resolved
through symlinks inside the image; toolchain dpkg packages (build-essential, gcc-*,
g++-*, binutils*, make, autotools, *-dev, python3-dev, ...).

One finding per toolchain, not per package: a user removes a toolchain (a builder
stage, a slim base, one `apt-get purge`), and `FROM python:3.11` brings some 60
toolchain packages. The families: C/C++ compiler, Fortran, Rust, Go, binutils
(assembler, linker), make/autotools, and the -dev packages (headers, static
libraries). Each finding names its tools and packages (evidence), the bytes they cost,
and whether they come with the base image (auditor/facts/provenance.py: choose a base
without them, such as its slim variant, or build in a stage of its own) or with the
team's own steps; it points at a file the team's own layers added when there is one.

Example: `C/C++ compiler in the image: /usr/bin/gcc-12, /usr/bin/g++-12 (packages
gcc-12, g++-12, cpp-12, gcc, g++, cpp, build-essential), 95 MB, added by RUN apt-get
install build-essential`.

How to fix: build wheels in a builder stage and copy only the virtualenv into the
runtime stage (`COPY --from=build /opt/venv /opt/venv`); or `apt-get purge
--auto-remove build-essential` in the same RUN that used it. A toolchain that came with
an `apt-get install` that names none of its packages and keeps apt's recommendations
(`apt-get install -y python3-pip` brings build-essential and python3-dev) is kept out
with `--no-install-recommends`: the remedy says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="CC001",
    name="compiler-present",
    title="A compiler toolchain is installed in the image",
    severity=Severity.WARNING,
    criterion="no compiler toolchain",
    dimension=Dimension.SECURE,
)

REMEDY = (
    "Build in a separate stage and copy only the results (the venv) into the runtime "
    "image, or purge the toolchain in the RUN step that used it."
)
BASE_REMEDY = (
    "The base image brings it: pick a base without a toolchain (its slim variant) for "
    "the runtime stage, and build in a stage of its own on this one."
)
#: packages that ask for a toolchain by name without being one (metapackages)
BUILD_META = frozenset({"build-essential", "python3-dev", "python3-all-dev"})
SHOWN = 5  # tools and packages named in the message; the evidence lists them all


@dataclass
class Toolchain:
    """What one family brings: its tools and packages, and where each was written."""

    family: str
    tools: dict[str, int | None] = field(default_factory=dict)  # path -> layer
    packages: dict[str, int | None] = field(default_factory=dict)  # name -> layer
    where: dict[str, str] = field(default_factory=dict)  # package -> its file in the image
    bytes: int = 0


def run(ctx: CheckContext) -> Iterable[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.compilers import FAMILIES, family_of_package, family_of_tool

    comp = ctx.facts.compilers
    fs = ctx.facts.fs
    chains = {family: Toolchain(family) for family in FAMILIES}
    owned_family: dict[str, str] = {}
    for tool in comp.tools:
        chain = chains[family_of_tool(tool.name)]
        chain.tools["/" + tool.path] = _layer(ctx, tool.real)
        if tool.package is None:
            chain.bytes += tool.size
        else:
            owned_family.setdefault(tool.package, chain.family)
    packages = dict(comp.packages)
    for package in owned_family:  # a tool's package that no toolchain pattern names
        if package not in packages:
            packages[package] = ctx.facts.owners.package_bytes(fs, package)
    for package, size in packages.items():
        chain = chains[owned_family.get(package) or family_of_package(package)]
        listed = _list_file(ctx, package)
        chain.packages[package] = _layer(ctx, listed)
        chain.where[package] = listed
        chain.bytes += size
    every = sorted({p for chain in chains.values() for p in chain.packages} | BUILD_META)
    for chain in chains.values():
        if chain.tools or chain.packages:
            yield _finding(ctx, chain, every)


def _finding(ctx: CheckContext, chain: Toolchain, every: list[str]) -> Finding:
    """One toolchain's finding, pointing at a file of the team's own layers when any."""
    provenance = ctx.facts.provenance
    tools, packages = sorted(chain.tools), sorted(chain.packages)
    places = [(t, chain.tools[t]) for t in tools]
    places += [(chain.where[p], chain.packages[p]) for p in packages]
    own = [p for p, layer in places if provenance.in_base(layer) is not True]
    path = own[0] if own else places[0][0]
    in_base = not own and provenance.base_layers is not None
    what = _listed(tools) if tools else f"{len(packages)} package(s)"
    message = f"{chain.family} in the image: {what}"
    if packages and tools:
        message += f" (packages {_listed(packages)})"
    elif packages:
        message += f": {_listed(packages)}"
    message += ", from the base image" if in_base else ""
    remedy = BASE_REMEDY if in_base else REMEDY
    layer = next((layer for p, layer in places if p == path), None)
    step = ctx.facts.created_by[layer] if layer is not None else None
    if not in_base and step and _unasked(step, every):
        remedy = (
            "The step that brought them names none of these packages and installs without "
            "--no-install-recommends: they came as dependencies or recommendations of what "
            "it installs (python3-pip recommends build-essential and python3-dev). Add "
            "--no-install-recommends, and if they stay, " + REMEDY[0].lower() + REMEDY[1:]
        )
    return INFO.finding(
        message,
        remedy,
        path=path,
        paths=[p for p, _ in places if p != path][:50],
        bytes=chain.bytes,
        evidence={"toolchain": chain.family, "tools": tools, "packages": packages},
    )


def _unasked(step: str, packages: list[str]) -> bool:
    """An `apt-get install` / `apt install` step without --no-install-recommends that
    names none of `packages` (every toolchain package in the image and the metapackages
    that ask for one): the toolchain came as something else's dependency."""
    import re

    if not re.search(r"\bapt(?:-get)?\s+(?:-\S+\s+)*install\b", step):
        return False
    if "--no-install-recommends" in step or "Install-Recommends=false" in step:
        return False
    words = set(re.split(r"[\s;&|\\'\"]+", step))
    return not any(p in words or p.split(":")[0] in words for p in packages)


def _listed(names: list[str]) -> str:
    more = len(names) - SHOWN
    return ", ".join(names[:SHOWN]) + (f" (+{more} more)" if more > 0 else "")


def _layer(ctx: CheckContext, path: str) -> int | None:
    node = ctx.facts.fs.get(path)
    return node.layer if node is not None else None


def _list_file(ctx: CheckContext, package: str) -> str:
    """The package's dpkg file list (`pkg.list` or `pkg:arch.list`): the file the step
    that installed it wrote."""
    fs = ctx.facts.fs
    listed = f"var/lib/dpkg/info/{package}.list"
    if fs.get(listed) is None:
        arch = [
            p
            for p in fs.listdir("var/lib/dpkg/info")
            if p.startswith(package + ":") and p.endswith(".list")
        ]
        listed = f"var/lib/dpkg/info/{arch[0]}" if arch else listed
    return listed
