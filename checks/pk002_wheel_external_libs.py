"""PK002 wheel-external-libs: installed wheels that depend on system libraries.

Why it matters: a manylinux wheel must be self-contained: its extensions may link only
against the small set of libraries the manylinux policy allows (glibc, libstdc++,
libgcc_s, libGL, libX11, libglib, ...); everything else is vendored into `<pkg>.libs/`
and found through RPATH $ORIGIN (what `auditwheel repair` does). An extension that needs
another system library only works where that library happens to be installed. And the
allowed libraries themselves are NOT guaranteed on slim images: opencv-python needs
libGL.so.1, which debian:slim does not have.

How it is found: in the load trees the ELF fact resolved as the loader would (the
extension modules as their interpreter imports them, auditor/facts/elfgraph.py), each
DT_NEEDED of an object that belongs to a Python distribution (RECORD, not a dpkg
package, nor a conda or RPM package: those link against their package manager's
libraries by design, see distributions.PACKAGE_MANAGERS) is classified by the file
it binds to: inside site-packages (the wheel's own tree or its `*.libs` directory,
also when found as an object already loaded, the way auditwheel-repaired wheels
without an RPATH of their own find their vendored libraries: vendored, never
external), on the manylinux allowed list (auditwheel's installed policy data), or
external. Findings: external libraries (one per
distribution), and allowed-list libraries the image does not have.

Example: `opencv-python needs libGL.so.1 (allowed by manylinux, but not in the image)`.

How to fix: install the system package (libgl1), pick a variant that needs less
(opencv-python-headless), or repair locally built wheels with `auditwheel repair`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="PK002",
    name="wheel-external-libs",
    title="A wheel's extension needs libraries the wheel does not carry",
    severity=Severity.WARNING,
    criterion="wheels self-contained (auditwheel repaired)",
    dimension=Dimension.USABLE,
)


def _site(path: str) -> str:
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part in ("site-packages", "dist-packages"):
            return "/".join(parts[: i + 1])
    return posixpath.dirname(path)


def run(ctx: CheckContext) -> Iterable[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.wheelpolicy import allowed_libraries

    facts = ctx.facts
    owners = facts.owners
    if not owners.record:
        raise Skip("no Python distributions with a RECORD in the image")
    allowed = allowed_libraries(facts.architecture)
    external: dict[tuple[str, str], set[str]] = {}
    absent: dict[tuple[str, str], set[str]] = {}
    dists: dict[str, str | None] = {}

    def distribution(path: str) -> str | None:
        if path not in dists:
            dist = owners.python_distribution(path)
            system = owners.dpkg(path) is not None or owners.package_manager(path) is not None
            dists[path] = None if system else dist
        return dists[path]

    foreign = facts.unimportable_extensions  # never imported here (EL003)
    needs: list[tuple[str, str, str | None, str, str]] = []  # obj, name, hit, dist, site
    for tree in facts.elf_graph.trees.values():
        if tree.root in foreign:
            continue
        for obj, name, hit in tree.edges:
            dist = distribution(obj)
            if dist is None:
                continue
            # the directory the wheel was installed into: where its dist-info is (a
            # `pip install --target` or PYTHONPATH directory too), else its site-packages
            meta = owners.dist_info.get(obj)
            site = (posixpath.dirname(meta) if meta else _site(obj)) + "/"
            if hit is not None and hit.startswith(site):
                continue  # vendored: inside site-packages (own tree or a *.libs dir)
            needs.append((obj, name, hit, dist, site))
    files_named = facts.fs.files_named({name for _, name, hit, _, _ in needs if hit is None})
    for obj, name, hit, dist, site in needs:
        if hit is None and any(p.startswith(site) for p in files_named[name]):
            # the wheel carries it, the loader misses it for this object (torch's
            # test binaries' RUNPATH): EL001 says so; nothing external is needed
            continue
        if name in allowed or name.startswith("ld-linux") or name.startswith("libpython"):
            if hit is None:
                absent.setdefault((dist, name), set()).add(obj)
            continue
        external.setdefault((dist, name), set()).add(obj)
    for kind, table in (("external", external), ("allowed-but-absent", absent)):
        per_dist: dict[str, dict[str, list[str]]] = {}
        for (dist, name), needers in table.items():
            per_dist.setdefault(dist, {})[name] = sorted(needers)
        for dist, libs in sorted(per_dist.items()):
            names = sorted(libs)
            paths = sorted({p for ps in libs.values() for p in ps})
            if kind == "external":
                message = (
                    f"{dist} needs {', '.join(names)} from the system: neither vendored in "
                    "the wheel nor on the manylinux allowed list"
                )
                remedy = (
                    f"Use a manylinux wheel of {dist} (or `auditwheel repair` the local build) "
                    "so that these libraries are vendored, or keep the system packages that "
                    "provide them."
                )
            else:
                message = (
                    f"{dist} needs {', '.join(names)}, which manylinux expects from the system, "
                    "but the image does not have them"
                )
                remedy = (
                    "Install the system packages that provide them (libGL.so.1: libgl1, "
                    f"libglib-2.0.so.0: libglib2.0-0, ...), or use a variant of {dist} that "
                    "does not need them (e.g. -headless)."
                )
            yield INFO.finding(
                message,
                remedy,
                path=paths[0],
                paths=paths[1:],
                evidence={
                    "distribution": dist,
                    "libraries": names,
                    "kind": kind,
                    "needed_by": {n: ["/" + p for p in libs[n]] for n in names},
                },
            )
