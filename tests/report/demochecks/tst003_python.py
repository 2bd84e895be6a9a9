"""The image has no Python interpreter at /usr/local/bin/python3.

Skipped on images with no /usr/local at all (not a Python image).
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    "TST003", "demo-python-missing", "No Python", Severity.INFO, "usable", Dimension.USABLE
)


def run(ctx: CheckContext) -> Iterator[Finding]:
    if ctx.facts.fs.get("usr/local") is None:
        raise Skip("no /usr/local in this image")
    if ctx.facts.fs.get("usr/local/bin/python3") is None:
        yield INFO.finding(
            "no interpreter at /usr/local/bin/python3", "install CPython under /usr/local"
        )
