"""SZ001 image-size: the image is bigger than the size budget.

Why it matters: every megabyte is pulled by every node that starts the container,
stored in every registry and cache, and scanned by every scanner. Python service
images rarely need more than 200 MB (a slim Debian base is ~75 MB, Python ~50 MB).

Budget (uncompressed bytes of all layers, 1 MB = 1,000,000 bytes): a warning above
300 MB, an info above the 200 MB target. Configure with
`[tool.imgaudit.checks.SZ001] warn-mb = 500` and `target-mb = 250`.

Example: `FROM python:3.12` (the full, ~1 GB Debian image with a toolchain) instead
of `python:3.12-slim`.

How to fix: a slim or distroless base, a multi-stage build that copies only the venv,
and the SZ002-SZ004 findings (waste, caches, docs).

References: https://docs.docker.com/build/building/multi-stage/
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity
from auditor.units import human_bytes

INFO = CheckInfo(
    id="SZ001",
    name="image-size",
    title="Image exceeds the size budget",
    severity=Severity.WARNING,
    criterion="reasonably small: budget default 300 MB warn, 200 MB target",
    dimension=Dimension.SMALL,
)
OPTIONS = {"warn-mb": 300, "target-mb": 200}
MB = 1_000_000


def run(ctx: CheckContext) -> Iterator[Finding]:
    size = ctx.facts.image_size
    warn = float(ctx.option("warn-mb", OPTIONS["warn-mb"])) * MB
    target = float(ctx.option("target-mb", OPTIONS["target-mb"])) * MB
    evidence = {"size": size, "warn_bytes": int(warn), "target_bytes": int(target)}
    if size > warn:
        yield INFO.finding(
            f"the image is {human_bytes(size)}, above the {human_bytes(int(warn))} budget",
            "use a slim base, a multi-stage build, and remove caches and docs",
            bytes=int(size - target),
            evidence=evidence,
        )
    elif size > target:
        yield INFO.finding(
            f"the image is {human_bytes(size)}, above the {human_bytes(int(target))} target",
            "trim caches, docs and build tools to get under the target",
            severity=Severity.INFO,
            bytes=int(size - target),
            evidence=evidence,
        )
