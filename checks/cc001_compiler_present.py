"""CC001 compiler-present: a compiler, assembler, linker or build tool in the final image.

Why it matters: a production image needs no toolchain. gcc, binutils, make and the -dev
packages add hundreds of MB, widen the attack surface (an attacker with code execution
can build and run native exploits in place) and usually mean the image was built in a
single stage.

How it is found: tool names (gcc, cc, c++, g++, clang, gfortran, rustc, cargo, go, as,
ld, make, cmake, with version and target prefixes) in any bin/sbin directory, resolved
through symlinks inside the image; toolchain dpkg packages (build-essential, gcc-*,
g++-*, binutils*, *-dev, python3-dev, ...). Each finding names the dpkg package, the
layer and Dockerfile step that added it, and the bytes the package costs.

Example: `gcc-12 installed (/usr/bin/gcc-12), 52 MB, added by RUN apt-get install
build-essential`.

How to fix: build wheels in a builder stage and copy only the virtualenv into the
runtime stage (`COPY --from=build /opt/venv /opt/venv`); or `apt-get purge
--auto-remove build-essential` in the same RUN that used it.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def run(ctx: CheckContext) -> Iterable[Finding]:
    comp = ctx.facts.compilers
    fs = ctx.facts.fs
    by_package: dict[str | None, list[str]] = {}
    for tool in comp.tools:
        by_package.setdefault(tool.package, []).append(tool.path)
    for tool in comp.tools:
        if tool.package is None:
            yield INFO.finding(
                f"{tool.name} present at /{tool.path} (not from a distro package)",
                REMEDY,
                path=tool.real,
                bytes=tool.size,
                evidence={"tool": tool.name, "package": None, "resolved": "/" + tool.real},
            )
    for package, size in sorted(comp.packages.items()):
        tools = sorted(by_package.get(package, []))
        listed = f"var/lib/dpkg/info/{package}.list"
        if fs.get(listed) is None:
            arch = [
                p
                for p in fs.listdir("var/lib/dpkg/info")
                if p.startswith(package + ":") and p.endswith(".list")
            ]
            listed = f"var/lib/dpkg/info/{arch[0]}" if arch else listed
        what = f" ({', '.join('/' + t for t in tools[:5])})" if tools else ""
        yield INFO.finding(
            f"toolchain package {package} installed{what}",
            REMEDY,
            path=listed,
            paths=tools,
            bytes=size,
            evidence={"package": package, "tools": ["/" + t for t in tools]},
        )
    for owner, paths in sorted(by_package.items(), key=lambda kv: str(kv[0])):
        if owner is not None and owner not in comp.packages:
            package = owner
            yield INFO.finding(
                f"build tools from package {package}: " + ", ".join("/" + p for p in paths[:5]),
                REMEDY,
                path=paths[0],
                paths=paths[1:],
                bytes=ctx.facts.owners.package_bytes(fs, package),
                evidence={"package": package, "tools": ["/" + p for p in paths]},
            )
