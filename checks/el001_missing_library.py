"""EL001 missing-library: a program, an import or a plugin fails to load a library.

Why it matters: the program (or the `import` of a Python extension) fails at run time
with `error while loading shared libraries: libGL.so.1: cannot open shared object file`,
or `invalid ELF header`, or dies with SIGBUS on a truncated library. The classic case is
opencv-python on a slim base: the wheel expects the system to provide libGL.so.1, and
`import cv2` dies in production, not in the build.

How it is found: every load tree of the image (programs, extension modules as their
interpreter dlopen()s them, libraries nothing else loads) is resolved as the image's
own loader resolves it (auditor/facts/elfgraph.py): breadth-first, DT_RPATH inherited
down the loader chain and DT_RUNPATH not, names satisfied by objects already loaded
(auditwheel's vendored `<pkg>.libs/` rely on it), /etc/ld.so.cache as the loader reads
it (ld.so.conf is not read at run time), the system directories of the image's
distribution. One finding per root cause: a library that is not found (naming every
root that fails because of it), a file that is found but cannot load (truncated, not
ELF, an executable), or a missing program interpreter.

Severity: error when a program or an import fails; warning when only a library that
something would dlopen() on demand fails, when the program lies inside a Python
package's directory (not on any PATH: torch's test binaries), when the failing extension
module lies deeper inside its package than its first level (often an optional part its
package does not import: numba's OpenMP and TBB threading layers), or when the library
exists for some CPUs only (glibc-hwcaps); info for a distribution package's optional
plugin (dpkg-owned, outside the library directories) and for files built for another
architecture.

Example: `libGL.so.1 is not in the image: `import cv2.cv2` fails
(/opt/venv/lib/python3.11/site-packages/cv2/cv2.abi3.so); ...`; provided by libgl1.

How to fix: install the package that provides the library (`apt-get install libgl1`),
use a wheel that does not need it (opencv-python-headless), run `ldconfig` in the same
step that adds a library to an ld.so.conf.d directory, or replace a damaged file.
References: ld.so(8), ldconfig(8), https://github.com/opencv/opencv-python#installation
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

if TYPE_CHECKING:
    from auditor.facts.elfgraph import Cause

INFO = CheckInfo(
    id="EL001",
    name="missing-library",
    title="A shared library an ELF needs is missing or cannot be loaded",
    severity=Severity.ERROR,
    criterion="every ELF's DT_NEEDED resolves inside the image",
    dimension=Dimension.USABLE,
)


def run(ctx: CheckContext) -> Iterable[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.elfgraph import MISSING

    facts = ctx.facts
    causes = list(facts.elf_graph.causes())
    foreign = facts.unimportable_extensions
    if foreign:  # never imported here, so what they need is no matter (EL003 says why)
        for cause in causes:
            cause.failures = [(t, f) for t, f in cause.failures if t.root not in foreign]
        causes = [c for c in causes if c.failures]
    elsewhere = _elsewhere(ctx, {c.first.name for c in causes if c.kind == MISSING})
    for cause in causes:
        yield _finding(ctx, cause, elsewhere)


def _finding(ctx: CheckContext, cause: Cause, found: dict[str, list[str]]) -> Finding:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.elfgraph import INTERP, MISSING
    from auditor.facts.loadimpact import SHOWN, describe, ordered

    facts = ctx.facts
    owners = facts.owners
    judge = facts.load_judge
    impacts = ordered([judge.impact(tree, f, f.needed_by) for tree, f in cause.failures])
    first = cause.first
    severity = impacts[0].severity
    dist = next(
        (d for i in impacts if (d := owners.python_distribution(i.tree.root)) is not None), None
    )
    evidence: dict[str, Any] = {
        "kind": cause.kind,
        "library": first.name,
        "needed": [first.name],
        "reason": first.reason,
        "file": "/" + first.path if first.path else None,
        "roots": [i.to_json(owners) for i in impacts[:SHOWN]],
        "count": len(impacts),
        "searched": list(first.searched),
        "cpu_dependent": list(first.cpu_dependent),
        # the most affected root's owners, and its import (None for a program)
        "import": impacts[0].to_json(owners)["import"],
        "python_distribution": owners.python_distribution(impacts[0].tree.root),
        "dpkg_package": owners.dpkg(impacts[0].tree.root),
    }
    paths = [i.tree.root for i in impacts]
    if cause.kind == MISSING:
        provider = facts.library_providers.find(first.name)
        evidence["provided_by"] = provider.to_json() if provider else None
        elsewhere = found.get(first.name, [])
        evidence["found_elsewhere"] = ["/" + p for p in elsewhere]
        stale = _unconfigured(ctx, elsewhere, first.searched)
        if first.cpu_dependent:
            where = ", ".join(first.cpu_dependent)
            message = f"{first.name} is found only for some CPUs ({where}): on others " + describe(
                impacts
            )
        elif first.reason == "not found" and elsewhere:
            # the loader does not find it, but the image has it: say where
            more = f" and {len(elsewhere) - 1} more" if len(elsewhere) > 1 else ""
            message = (
                f"{first.name} is not where the loader looks (the image has it at "
                f"/{elsewhere[0]}{more}): {describe(impacts)}"
            )
        elif first.reason == "not found":
            message = f"{first.name} is not in the image: {describe(impacts)}"
        else:  # only files the loader passes over (another class or machine)
            message = f"{first.name}: {first.reason}: {describe(impacts)}"
        if stale:
            no_cache = facts.loader_paths.cache_state != "ok"
            remedy = (
                f"{first.name} is at /{stale[0]}, in a directory ld.so.conf lists, but the "
                "loader reads /etc/ld.so.cache, not ld.so.conf"
                + (", and the image has no usable cache" if no_cache else "")
                + ": run `ldconfig` in the same step that installs it"
                + (" (and keep /etc/ld.so.cache)." if no_cache else ".")
            )
        elif elsewhere:
            remedy = (
                f"Let the loader find /{elsewhere[0]}: a RUNPATH that names its directory "
                "(e.g. $ORIGIN/../lib), LD_LIBRARY_PATH, or an ld.so.conf.d entry and "
                "`ldconfig`; or remove what needs it."
            )
        elif provider is not None:
            remedy = (
                f"Install {provider.packages[0]}, which provides {first.name} "
                f"(`apt-get install -y --no-install-recommends {provider.packages[0]}`)"
            )
            remedy += f", or use a build of {dist} that does not need it." if dist else "."
        elif dist:
            remedy = (
                f"Install the system package that provides {first.name}, or use a build of "
                f"{dist} that does not need it (e.g. a -headless variant)."
            )
        else:
            remedy = f"Install the package that provides {first.name}, or remove what needs it."
    elif cause.kind == INTERP:
        message = f"program interpreter {first.name} is not in the image: {describe(impacts)}"
        remedy = (
            f"Install the C library the program was built for ({first.name}), or use "
            "a build of the program for the image's C library."
        )
    else:
        path = first.path or ""
        message = f"/{path} cannot be loaded: {first.reason}. {describe(impacts)}"
        owner = owners.dpkg(path)
        evidence["dpkg_package_of_file"] = owner
        remedy = f"Replace /{path} with a complete, working copy" + (
            f" (reinstall {owner})." if owner else " (reinstall what installed it)."
        )
    return INFO.finding(
        message,
        remedy,
        path=paths[0],
        paths=paths[1:SHOWN],
        severity=severity,
        evidence=evidence,
    )


def _elsewhere(ctx: CheckContext, names: set[str]) -> dict[str, list[str]]:
    """Per missing name, files of that name somewhere in the image (not on any path that
    was searched): `loadimpact.found_elsewhere`."""
    # deferred: start-up time, see README "Performance"
    from auditor.facts.loadimpact import found_elsewhere

    return found_elsewhere(ctx.facts.fs, names)


def _unconfigured(ctx: CheckContext, elsewhere: list[str], searched: Iterable[str]) -> list[str]:
    """Those of `elsewhere` in a directory ld.so.conf lists but the loader did not
    search: ldconfig was not run (or the cache is gone) after they arrived."""
    fs = ctx.facts.fs
    conf = {fs.resolve(d) for d in ctx.facts.elf_graph.ld_conf_dirs}
    seen = {fs.resolve(d.strip("/")) for d in searched}
    return [
        p
        for p in elsewhere
        if (parent := fs.resolve(posixpath.dirname(p))) in conf and parent not in seen
    ]
