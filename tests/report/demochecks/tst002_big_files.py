"""Files of 4 kB or more (a stand-in for the real size checks).

Why it matters: every byte ships to every host that pulls the image.

How to fix: delete what the application does not need at run time.
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity
from auditor.units import human_bytes

INFO = CheckInfo(
    "TST002", "demo-big-files", "Big files", Severity.WARNING, "small", Dimension.SMALL
)
LIMIT = 4096


def run(ctx: CheckContext) -> Iterator[Finding]:
    for path, node in sorted(ctx.facts.fs.walk_files()):
        if node.entry.kind == "f" and node.entry.size >= LIMIT:
            yield INFO.finding(
                f"/{path} is {human_bytes(node.entry.size)}",
                "remove it from the final stage",
                path=path,
                bytes=node.entry.size,
                evidence={"size": node.entry.size},
            )
