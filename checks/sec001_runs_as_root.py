"""SEC001 runs-as-root: the container's process runs as root (uid 0).

Why it matters: root in a container is root on the host's kernel. A bug in the
application, or in the runtime, turns into a full host compromise much more easily
than from an unprivileged user; the app can also rewrite its own code and venv.

Example: no `USER` in the Dockerfile (the default is root), `USER root`, `USER 0`,
or a user name that /etc/passwd maps to uid 0.

How to fix: create an unprivileged user and switch to it in the final stage:

    RUN useradd --system --uid 10001 --no-create-home app
    USER 10001:10001

References: https://docs.docker.com/build/building/best-practices/#user,
CIS Docker Benchmark 4.1
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="SEC001",
    name="runs-as-root",
    title="Container runs as root",
    severity=Severity.ERROR,
    criterion="not root",
    dimension=Dimension.SECURE,
)


def run(ctx: CheckContext) -> Iterator[Finding]:
    user = ctx.facts.runtime_user
    if not user.is_root:
        return
    why = (
        "no User is set (the default is root)"
        if not user.spec
        else (f"User {user.spec!r} is uid 0")
    )
    yield INFO.finding(
        f"the container runs as root: {why}",
        "add an unprivileged user and `USER <uid>:<gid>` in the final stage",
        evidence={"user": user.spec, "uid": user.uid},
    )
