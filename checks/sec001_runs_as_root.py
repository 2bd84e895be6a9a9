"""SEC001 runs-as-root: the container's process runs as root (uid 0).

Why it matters: root in a container is root on the host's kernel. A bug in the
application, or in the runtime, turns into a full host compromise much more easily
than from an unprivileged user; the app can also rewrite its own code and venv.

Example: no `USER` in the Dockerfile (the default is root), `USER root`, `USER 0`,
or a user name that /etc/passwd maps to uid 0.

An image that starts as root and whose entrypoint switches to a non-root user before
the app runs (`exec gosu app "$@"`, `setpriv --reuid`, `su`, `runuser`: the official
images' pattern) gets a warning instead: the app runs as that user, the entrypoint and
`docker exec` as root.

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
    drop = ctx.facts.privilege_drop
    if drop is not None and drop.switches_to_non_root:
        from auditor.facts.privdrop import FORKING  # deferred: start-up time (README)

        # the official images' pattern: root at start, the app as another user. What
        # runs as root is the entrypoint itself, `docker exec`, and (su, runuser) the
        # parent process that waits for the app: a warning, not "the app runs as root"
        stays = (
            f"; {drop.tool} stays a root parent process of the app" if drop.tool in FORKING else ""
        )
        at_root = (
            "the script and `docker exec` run as root"
            if drop.in_script
            else "`docker exec` runs as root"
        )
        why = "no User is set" if not user.spec else f"User {user.spec!r} is uid 0"
        yield INFO.finding(
            f"the container starts as root ({why}) and {drop.describe()}: {at_root}{stays}",
            "if nothing at start needs root, set `USER <uid>:<gid>` instead of switching in "
            "the entrypoint",
            path="/" + drop.where if drop.in_script else None,
            severity=Severity.WARNING,
            evidence={"user": user.spec, "uid": user.uid, "switch": drop.to_json()},
        )
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
