"""OS003 base-os-rolling: the base is a rolling or short-lived release.

Why it matters: a rolling base (Arch, openSUSE Tumbleweed, Fedora Rawhide, CentOS
Stream, Debian testing/sid, Wolfi) changes under you: the same Dockerfile builds a
different system next week, and no release gets years of fixes. Ubuntu interim
releases (non-LTS) get nine months of support.

Example: `FROM debian:sid`, `FROM ubuntu:25.10`, `FROM archlinux`.

How to fix: build on a stable release with long-term support (Debian stable,
Ubuntu LTS, RHEL/UBI, Rocky, Alma). For Wolfi/Chainguard, pin images by digest and
rebuild on a schedule, and ignore this check with a reason.

References: https://ubuntu.com/about/release-cycle, https://www.debian.org/releases/
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="OS003",
    name="base-os-rolling",
    title="Base distribution is a rolling or short-lived release",
    severity=Severity.WARNING,
    criterion="not a rolling release",
    dimension=Dimension.USABLE,
)


def run(ctx: CheckContext) -> Iterator[Finding]:
    d = ctx.facts.distro
    if not d.known:
        raise Skip("distribution unknown (see OS001)")
    if d.rolling:
        yield INFO.finding(
            f"the base is {d.rolling}: it has no long-term support",
            "build on a stable release with long-term support",
            path=ctx.facts.os.source,
            evidence={"distro": d.key, "version": d.version},
        )
