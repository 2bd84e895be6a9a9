"""OS001 base-os-unknown: the image does not say which distribution it is built on.

Why it matters: without /etc/os-release (or /usr/lib/os-release, /etc/debian_version,
/etc/alpine-release) nobody can tell whether the base still gets security updates,
which libc it uses, or which package manager fixes a CVE. Scanners that match
packages against advisories (Trivy, Grype) also need it.

Example: an image built `FROM scratch` with a copied root filesystem and no
os-release; or a distro imgaudit's table does not know (a warning names it).

How to fix: build on a known, supported base (debian:bookworm-slim,
ubuntu:24.04, UBI 9) or keep its /etc/os-release in the final stage.

References: https://www.freedesktop.org/software/systemd/man/os-release.html
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="OS001",
    name="base-os-unknown",
    title="Base distribution cannot be identified",
    severity=Severity.WARNING,
    criterion="known distro, identified",
    dimension=Dimension.USABLE,
)


def run(ctx: CheckContext) -> Iterator[Finding]:
    os_info = ctx.facts.os
    if os_info.id is None:
        yield INFO.finding(
            "no /etc/os-release, /usr/lib/os-release, /etc/debian_version or "
            "/etc/alpine-release: the base distribution is unknown",
            "build on a known base image and keep its /etc/os-release",
        )
        return
    if not ctx.facts.distro.known:
        yield INFO.finding(
            f"distribution {os_info.id!r} ({os_info.pretty_name or os_info.id}) is not in "
            "imgaudit's distro table: its support status is unknown",
            "use a mainstream base (Debian, Ubuntu LTS, UBI/RHEL, Rocky, Alma, Alpine)",
            path=os_info.source,
            severity=Severity.INFO,
            evidence={"id": os_info.id, "id_like": list(os_info.id_like)},
        )
