"""EL002 missing-symbol-version: a library is found, but too old for the ELF that needs it.

Why it matters: the loader refuses the binary with `version 'GLIBC_2.34' not found
(required by ...)` or `GLIBCXX_3.4.30 not found`: typically a binary or wheel built on a
newer distribution than the image's base, or a libstdc++ copied from elsewhere.

How it is found: in every load tree (auditor/facts/elfgraph.py), each loaded object's
needed versions, in every namespace (GLIBC_, GLIBCXX_, CXXABI_, GCC_, but also
OPENSSL_3.0.0, Qt_5, ZLIB_1.2.9...: an impostor libcrypto breaks `import ssl` just the
same), against the versions the library it bound to defines. Weak version references
and libraries without version definitions are left out, as ld.so only warns about them.
One finding per library that lacks versions, naming what needs them and which roots
fail (severity as EL001: error for a program or an import).

Example: `/app/bin/tool needs GLIBC_2.38 from libc.so.6 (/lib/x86_64-linux-gnu/libc.so.6
defines up to GLIBC_2.36)`.

How to fix: build on (or pick a wheel for) the image's base release or older; or use a
newer base image. References: https://sourceware.org/glibc/wiki/Glibc%20Timeline
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

if TYPE_CHECKING:
    from auditor.facts.elfgraph import LoadTree, VersionGap
    from auditor.facts.loadimpact import Impact

INFO = CheckInfo(
    id="EL002",
    name="missing-symbol-version",
    title="A needed symbol version is not defined by the library found",
    severity=Severity.ERROR,
    criterion="symbol versions satisfied",
    dimension=Dimension.USABLE,
)


def run(ctx: CheckContext) -> Iterable[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.loadimpact import SHOWN, describe, ordered

    facts = ctx.facts
    owners = facts.owners
    judge = facts.load_judge
    by_library: dict[tuple[str, str], list[tuple[LoadTree, VersionGap]]] = {}
    foreign = facts.unimportable_extensions  # never imported here (EL003)
    for tree, gap in facts.elf_graph.version_gaps():
        if tree.root in foreign:
            continue
        by_library.setdefault((gap.resolved, gap.library), []).append((tree, gap))
    for (resolved, library), found in sorted(by_library.items()):
        versions = sorted({v for _, g in found for v in g.versions})
        needers = sorted({g.needed_by for _, g in found})
        impacts: list[Impact] = ordered(
            list({t.root: judge.impact(t, None, g.needed_by) for t, g in found}.values())
        )
        first = needers[0]
        evidence: dict[str, Any] = {
            "library": library,
            "resolved": "/" + resolved,
            "versions": versions,
            "needed_by": ["/" + n for n in needers[:SHOWN]],
            "roots": [i.to_json(owners) for i in impacts[:SHOWN]],
            "count": len(impacts),
            "dpkg_package": owners.dpkg(first),
            "python_distribution": owners.python_distribution(first),
            "library_dpkg_package": owners.dpkg(resolved),
        }
        who = f"/{first}" + (f" and {len(needers) - 1} more" if len(needers) > 1 else "")
        yield INFO.finding(
            f"/{resolved} ({library}) does not define {', '.join(versions)}, needed by "
            f"{who}: {describe(impacts)}",
            "Rebuild what needs it against the image's libraries (or an older base), or "
            f"install a version of {library} that defines {versions[0]}.",
            path=first,
            paths=needers[1:SHOWN],
            severity=impacts[0].severity if impacts else Severity.ERROR,
            evidence=evidence,
        )
