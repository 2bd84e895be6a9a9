"""PY003 python-eol: an interpreter's CPython version is past (or near) its end of life.

Why it matters: after its end-of-life date a CPython branch gets no security fixes,
and new wheels stop being published for it; an image on it accumulates known CVEs
and cannot take dependency updates.

Rule: each interpreter's X.Y against the CPython EOL table shipped as package data
(auditor/data/python_eol.json, from devguide.python.org/versions): error past the
date, warning within 6 months of it. The check date is today (UTC) unless the check
option `today` (YYYY-MM-DD) is set, which keeps CI runs reproducible.

Example: a python:3.9 base scanned in 2026 (3.9 ended 2025-10).

How to fix: move to a supported version (3.12 or later gives the longest runway).

References: https://devguide.python.org/versions/
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="PY003",
    name="python-eol",
    title="The Python version is end of life",
    severity=Severity.ERROR,
    criterion="python version still supported",
    dimension=Dimension.USABLE,
)

WARN_DAYS = 183


def status(version: str, on: dt.date) -> tuple[str, dt.date | None]:
    """supported | near-eol | eol | unknown, with the EOL date."""
    # deferred: start-up time, see README "Performance"
    from auditor.facts.stdlib_data import eol_dates

    eol = eol_dates().get(version.rstrip("t"))
    if eol is None:
        return "unknown", None
    if on >= eol:
        return "eol", eol
    if (eol - on).days <= WARN_DAYS:
        return "near-eol", eol
    return "supported", eol


def gather(ctx: CheckContext) -> dict[str, Any]:
    return {
        "pythons": [
            {
                "version": i.version,
                "path": i.path,
                "origin": i.origin,
                "layer": ctx.layer_of(i.path),
            }
            for i in ctx.facts.pythons
        ]
    }


def judge(ctx: CheckContext, g: dict[str, Any]) -> Iterable[Finding]:
    interps = g["pythons"]
    if not interps:
        raise Skip("no Python interpreter in the image")
    on = ctx.today()
    for interp in interps:
        state, eol = status(interp["version"], on)
        if eol is None or state == "supported":
            continue
        past = state == "eol"
        yield INFO.finding(
            f"Python {interp['version']} at /{interp['path']} "
            + (f"reached end of life on {eol}" if past else f"reaches end of life on {eol}"),
            "Move to a supported CPython version",
            path=interp["path"],
            layer=interp["layer"],
            severity=Severity.ERROR if past else Severity.WARNING,
            evidence={
                "version": interp["version"],
                "eol": eol.isoformat(),
                "origin": interp["origin"],
            },
        )


def run(ctx: CheckContext) -> Iterable[Finding]:
    return judge(ctx, gather(ctx))
