"""OS006 pending-updates: installed Debian packages are older than the mirror's.

Why it matters: each outdated package is a fix (often a security fix) the image
does not have. imgaudit never contacts a mirror itself: you pass the index to
compare with, so the result is reproducible and works offline.

Example: `imgaudit scan app:1.0 --packages-index bookworm-security_main_amd64_Packages`
lists `openssl 3.0.11-1~deb12u2 -> 3.0.15-1~deb12u1`.

How to fix: rebuild on a fresh base (`docker build --pull`) or run
`apt-get update && apt-get upgrade -y` in the base stage. Fetch an index with
`curl -O http://deb.debian.org/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz`
(plain, .gz and .xz indexes are read).

References: https://wiki.debian.org/DebianRepository/Format#A.22Packages.22_Indices
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.facts.packages_index import outdated
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="OS006",
    name="pending-updates",
    title="Installed packages have newer versions in the given package index",
    severity=Severity.WARNING,
    criterion="kept up to date",
    dimension=Dimension.SECURE,
)
INPUTS = ("packages_index",)  # a fact given from outside the image (auditor/check.py)


def run(ctx: CheckContext) -> Iterator[Finding]:
    index = ctx.facts.packages_index
    if index is None:
        raise Skip("no --packages-index given")
    db = ctx.facts.dpkg
    if not db.present:
        raise Skip("no dpkg database")
    installed = {name: pkg.version for name, pkg in db.packages.items()}
    pending = outdated(installed, index.newest)
    if not pending:
        return
    yield INFO.finding(
        f"{len(pending)} installed package(s) have newer versions in the index: "
        + ", ".join(f"{n} {old} -> {new}" for n, old, new in pending[:10])
        + (" ..." if len(pending) > 10 else ""),
        "rebuild on a fresh base or apt-get upgrade in the base stage",
        path=db.origin,
        evidence={
            "updates": [{"package": n, "installed": o, "available": a} for n, o, a in pending]
        },
    )
