"""Crashes on images labelled `demo.crash`: shows how a broken check is reported."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    "TST004", "demo-crash", "Crashes on request", Severity.WARNING, "fast", Dimension.FAST
)


def run(ctx: CheckContext) -> Iterator[Finding]:
    labels = ctx.facts.config.get("Labels") or {}
    if "demo.crash" in labels:
        raise RuntimeError(f"asked to crash by label: {labels['demo.crash']}")
    return iter(())
