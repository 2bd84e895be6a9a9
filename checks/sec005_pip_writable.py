"""SEC005 pip-writable: the running container can `pip install` into its environment.

Why it matters: pip in the runtime environment plus a site-packages the runtime user
can write means anyone with code execution can install arbitrary packages that load
at the next import, and the image no longer describes what runs.

Flagged per environment (each venv, and each interpreter's own site-packages) when
pip is installed there AND its site-packages is writable by the runtime user (root
counts: root can write everything). An image that starts as root and switches users in
its entrypoint (gosu, setpriv, su) is judged for the user it switches to: the app's
processes run as that user.

Example: `python:3.12` base, app installed with pip as root, `USER` never set.

How to fix: run as a non-root user with a root-owned venv, and/or remove pip from
the final image (`pip uninstall -y pip` or build the venv with `--without-pip` and
install with the builder's pip).

References: https://pip.pypa.io/en/stable/topics/secure-installs/
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

from .sec003_writable_venv import user_words

INFO = CheckInfo(
    id="SEC005",
    name="pip-writable",
    title="pip can install into the runtime environment",
    severity=Severity.WARNING,
    criterion="cannot pip install at run time",
    dimension=Dimension.SECURE,
)


def run(ctx: CheckContext) -> Iterable[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.permissions import can_write

    facts = ctx.facts
    user = facts.app_user
    if user.uid is None:
        raise Skip("the runtime user does not resolve (SEC002)")
    sites: list[tuple[str, str]] = []  # (environment, site-packages)
    for v in facts.venvs:
        sites += [("/" + v.path, s) for s in v.site_packages]
    for i in facts.pythons:
        if i.stdlib and facts.fs.get(f"{i.stdlib}/site-packages") is not None:
            sites.append(("/" + i.path, f"{i.stdlib}/site-packages"))
    if not sites:
        raise Skip("no Python environment in the image")
    fs = facts.fs
    for env, site in sites:
        # `__init__.pyc`: a sourceless pip (compileall -b, the .py deleted) runs as well
        if not any(fs.get(f"{site}/pip/__init__.{ext}") is not None for ext in ("py", "pyc")):
            continue
        node = fs.get(site)
        if node is None:
            continue
        e = node.entry
        if not can_write(user.uid, user.groups, e.uid, e.gid, e.mode):
            continue
        yield INFO.finding(
            f"pip is installed in {env} and /{site} is writable by {user_words(ctx)}",
            "Run as a non-root user with a root-owned environment, or remove pip from the "
            "final image",
            path=site,
            evidence={"environment": env, "uid": user.uid},
        )
