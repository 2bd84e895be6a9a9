"""OS002 base-os-eol: the base distribution release is past (or near) its end of life.

Why it matters: after end of life the distribution publishes no security fixes;
every new CVE in openssl, glibc or zlib stays open in the image for good.

Example: `FROM debian:buster` (Debian 10, LTS ended 2024-06-30) is an error;
`FROM ubuntu:22.04` within six months of 2027-06-01 is a warning.

How to fix: move to a supported release (debian:bookworm or trixie, ubuntu:24.04,
UBI 9) and rebuild. The dates come from imgaudit's distro table (auditor/data/
distros.json, sourced from endoflife.date); the warning window is configurable
(`[tool.imgaudit.checks.OS002] warn-days = 182`).

References: https://endoflife.date, https://wiki.debian.org/LTS,
https://ubuntu.com/about/release-cycle
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="OS002",
    name="base-os-eol",
    title="Base distribution is end of life",
    severity=Severity.ERROR,
    criterion="has long-term support, not end of life",
    dimension=Dimension.SECURE,
)
OPTIONS = {"warn-days": 182}


def run(ctx: CheckContext) -> Iterator[Finding]:
    d = ctx.facts.distro
    if not d.known:
        raise Skip("distribution unknown (see OS001)")
    if d.release is None:
        raise Skip(f"{d.name} {d.version or '(no version)'} is not in the EOL table")
    today = ctx.today()
    eol = d.release.eol
    label = f"{d.name} {d.release.version}" + (
        f" ({d.release.codename})" if d.release.codename else ""
    )
    evidence = {"distro": d.key, "version": d.release.version, "eol": eol.isoformat()}
    if eol < today:
        yield INFO.finding(
            f"{label} reached end of life on {eol.isoformat()}: no more security updates",
            "rebase on a supported release and rebuild",
            path=ctx.facts.os.source,
            evidence=evidence,
        )
    elif eol - today <= dt.timedelta(days=int(ctx.option("warn-days", OPTIONS["warn-days"]))):
        yield INFO.finding(
            f"{label} reaches end of life on {eol.isoformat()} "
            f"({(eol - today).days} days from now)",
            "plan the move to the next release now",
            path=ctx.facts.os.source,
            severity=Severity.WARNING,
            evidence=evidence,
        )
