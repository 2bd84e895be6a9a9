"""PK001 built-from-sdist: a package was compiled from source during the image build.

Why it matters: a wheel tagged `linux_x86_64` (not manylinux/musllinux) was built by
pip from an sdist inside the build: the build needed a compiler and headers (often
left in the image, CC001), took minutes instead of seconds, is not reproducible, and
its extension may link against libraries only the build stage had.

Read from the image: each distribution's `*.dist-info/WHEEL` `Tag:` lines; a platform
tag starting with `linux_` means locally built. Distro-owned distributions are skipped,
and so are those a package manager installed from its own binary package (INSTALLER
`conda` or `rpm`): their `linux_` tag is from the package's build, not the image's.

Example: `pip install psycopg2` (sdist) instead of `psycopg2-binary`, or an old pin
with no wheel for this Python version.

How to fix: pin versions that publish manylinux wheels for your Python, use
`pip install --only-binary :all:`, or build wheels in a builder stage and repair them
with auditwheel.

References: https://packaging.python.org/specifications/platform-compatibility-tags/
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="PK001",
    name="built-from-sdist",
    title="A package was built from an sdist in the image build",
    severity=Severity.WARNING,
    criterion="binary wheels used",
    dimension=Dimension.FAST,
)


def run(ctx: CheckContext) -> Iterable[Finding]:
    facts = ctx.facts
    dists = facts.distributions
    if not dists:
        raise Skip("no installed Python distributions")
    for d in dists:
        if not d.built_locally:
            continue
        if facts.dpkg.package_of_dir(facts.fs, d.meta_dir) is not None:
            continue
        if d.package_manager is not None:
            continue  # a conda or RPM package: built where the package was, not here
        yield INFO.finding(
            f"{d.display_name} {d.version or ''} was built from source "
            f"(wheel tag {', '.join(d.wheel_tags)})".replace("  ", " "),
            "Use a version with a manylinux wheel (--only-binary :all:) or build and "
            "auditwheel-repair it in a builder stage",
            path=f"{d.meta_dir}/WHEEL",
            bytes=d.size,
            evidence={"name": d.name, "version": d.version, "wheel_tags": list(d.wheel_tags)},
        )
