"""SEC002 user-unknown: the configured User, its group or its home do not exist.

Why it matters: a `USER app` that is missing from /etc/passwd makes the container
fail to start ("unable to find user app"); an unknown numeric uid runs with gid 0
and no home, so tools that write to $HOME (pip, matplotlib, many CLIs) fail or write
to `/`. A group that does not exist fails the start too.

Example: `USER app` in a final stage whose /etc/passwd came from another stage;
`USER 10001` without a matching passwd entry; `exec gosu app "$@"` in the entrypoint of
an image without that user (a warning when the line is in a script: whether the script
reaches it the files cannot tell); and the missing home of the user the entrypoint
switches to with gosu, su-exec, su or runuser, which set HOME to it.

How to fix: create the user in the final stage (`useradd --uid 10001 app`) or copy
/etc/passwd and /etc/group along, and give it an existing home.

References: https://docs.docker.com/reference/dockerfile/#user
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip
from auditor.kinds import DIR

INFO = CheckInfo(
    id="SEC002",
    name="user-unknown",
    title="Runtime user, group or home does not exist in the image",
    severity=Severity.ERROR,
    criterion="the user exists",
    dimension=Dimension.USABLE,
)


def run(ctx: CheckContext) -> Iterator[Finding]:
    user = ctx.facts.runtime_user
    drop = ctx.facts.privilege_drop
    if drop is not None and drop.user is not None and drop.user.uid is None:
        # `gosu ghost`: "failed switching to ghost: unable to find user": the command
        # never runs. Certain in the config; in a script only when that line is reached
        yield INFO.finding(
            f"{drop.describe()}, which is not in /etc/passwd: {drop.tool} fails there",
            "create the user in the final stage (useradd) or switch to an existing one",
            path="/etc/passwd",
            severity=Severity.WARNING if drop.in_script else None,
            evidence={"switch": drop.to_json()},
        )
    if drop is not None and drop.switches_to_non_root and drop.tool in SETS_HOME:
        switched = drop.user
        assert switched is not None
        if _missing_home(ctx, switched.home):
            yield INFO.finding(
                f"the home directory {switched.home} of user {switched.name!r} does not "
                f"exist: {drop.describe()}, which sets HOME to it",
                "create the home directory (useradd --create-home) or give the user an "
                "existing one (useradd --home-dir /app)",
                severity=Severity.WARNING,
                evidence={"switch": drop.to_json(), "home": switched.home},
            )
    if not user.spec:
        if drop is None:
            raise Skip("no User set (see SEC001)")
        return
    for problem in user.problems:
        # a numeric uid without a passwd entry still starts: a warning, not an error
        numeric_only = problem.startswith("uid ")
        yield INFO.finding(
            f"User {user.spec!r}: {problem}",
            "create the user and group in the final stage (useradd/groupadd)",
            path="/etc/group" if problem.startswith("group") else "/etc/passwd",
            severity=Severity.WARNING if numeric_only else None,
            evidence={"user": user.spec},
        )
    if user.uid is not None and _missing_home(ctx, user.home):
        yield INFO.finding(
            f"the home directory {user.home} of user {user.name!r} does not exist",
            "create the home directory (useradd --create-home) or set HOME",
            severity=Severity.WARNING,
            evidence={"user": user.spec, "home": user.home},
        )


#: switching tools that set HOME to the target user's home (setpriv and chpst keep it)
SETS_HOME = frozenset({"gosu", "su-exec", "su", "runuser"})


def _missing_home(ctx: CheckContext, home: str | None) -> bool:
    if not home or home in ("/", "/nonexistent"):
        return False
    real = ctx.facts.fs.resolve(home)
    node = ctx.facts.fs.get(real) if real is not None else None
    return node is None or node.entry.kind != DIR
