"""The image runs as root.

Why it matters: a process running as uid 0 in a container owns everything the
container can reach. Example: no `USER` instruction in the Dockerfile.

How to fix: add `USER 10001` (a numeric uid that exists in /etc/passwd).
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    "TST001", "demo-runs-as-root", "Runs as root", Severity.ERROR, "not root", Dimension.SECURE
)


def run(ctx: CheckContext) -> Iterator[Finding]:
    user = str(ctx.facts.config.get("User") or "")
    if user in ("", "0", "root"):
        yield INFO.finding(
            f"the image runs as root (User is {user or 'not set'!r})",
            "add USER with a non-root uid",
            evidence={"user": user},
        )
