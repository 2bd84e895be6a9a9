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
from typing import Any

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


def gather(ctx: CheckContext) -> dict[str, Any]:
    """What the date is compared with: the release, its EOL, where the image says so."""
    d = ctx.facts.distro
    source = ctx.facts.os.source
    release = d.release
    return {
        "known": d.known,
        "name": d.name,
        "version": d.version,
        "key": d.key,
        "release": None
        if release is None
        else {"version": release.version, "codename": release.codename, "eol": release.eol},
        "source": source,
        "layer": ctx.layer_of(source),
    }


def judge(ctx: CheckContext, g: dict[str, Any]) -> Iterator[Finding]:
    if not g["known"]:
        raise Skip("distribution unknown (see OS001)")
    release = g["release"]
    if release is None:
        raise Skip(f"{g['name']} {g['version'] or '(no version)'} is not in the EOL table")
    today = ctx.today()
    eol = dt.date.fromisoformat(str(release["eol"]))
    label = f"{g['name']} {release['version']}" + (
        f" ({release['codename']})" if release["codename"] else ""
    )
    evidence = {"distro": g["key"], "version": release["version"], "eol": eol.isoformat()}
    if eol < today:
        yield INFO.finding(
            f"{label} reached end of life on {eol.isoformat()}: no more security updates",
            "rebase on a supported release and rebuild",
            path=g["source"],
            layer=g["layer"],
            evidence=evidence,
        )
    elif eol - today <= dt.timedelta(days=int(ctx.option("warn-days", OPTIONS["warn-days"]))):
        yield INFO.finding(
            f"{label} reaches end of life on {eol.isoformat()} "
            f"({(eol - today).days} days from now)",
            "plan the move to the next release now",
            path=g["source"],
            layer=g["layer"],
            severity=Severity.WARNING,
            evidence=evidence,
        )


def run(ctx: CheckContext) -> Iterator[Finding]:
    return judge(ctx, gather(ctx))
