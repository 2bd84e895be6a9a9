"""EL002 missing-symbol-version: a library is found, but too old for the ELF that needs it.

Why it matters: the loader refuses the binary with `version 'GLIBC_2.34' not found
(required by ...)` or `GLIBCXX_3.4.30 not found`: typically a binary or wheel built on a
newer distribution than the image's base, or a libstdc++ copied from elsewhere.

How it is found: for every resolved DT_NEEDED, the GLIBC_/GLIBCXX_/CXXABI_/GCC_ versions
the ELF needs from it (its version-needed table) against the versions the resolved
library defines. A library without version definitions satisfies any version (ld.so
only warns then).

Example: `/app/bin/tool needs GLIBC_2.38 from libc.so.6 (/lib/x86_64-linux-gnu/libc.so.6
defines up to GLIBC_2.36)`.

How to fix: build on (or pick a wheel for) the image's base release or older; or use a
newer base image. References: https://sourceware.org/glibc/wiki/Glibc%20Timeline
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="EL002",
    name="missing-symbol-version",
    title="A needed symbol version is not defined by the library found",
    severity=Severity.ERROR,
    criterion="symbol versions satisfied",
    dimension=Dimension.USABLE,
)


def run(ctx: CheckContext) -> Iterable[Finding]:
    for m in ctx.facts.elf_graph.missing_versions:
        versions = ", ".join(m.versions)
        yield INFO.finding(
            f"/{m.path} needs {versions} from {m.library}, which /{m.resolved} does not define",
            "Rebuild it against the image's libraries (or an older base), or upgrade the "
            "package that provides " + m.library + ".",
            path=m.path,
            evidence={
                "library": m.library,
                "resolved": "/" + m.resolved,
                "versions": list(m.versions),
                "dpkg_package": ctx.facts.owners.dpkg(m.path),
                "python_distribution": ctx.facts.owners.python_distribution(m.path),
            },
        )
