"""SEC003 writable-venv: the runtime user can modify the virtual environment.

Why it matters: code the process can rewrite is code an attacker who gets code
execution can persist in: a modified site-packages module survives restarts of the
process inside the container and runs with every request. A venv owned by root with
0755 directories and 0644 files is immune; `COPY --chown=app` or `chown -R app`
makes it writable.

The same for a site directory outside any venv that the app's python has on its
sys.path and that holds installed distributions: a builder's `pip install --user`
copied to /home/app/.local with `--chown=app` (or `pip install --user` run as the app
user) leaves every package the app imports writable by it.

Judged from the layer tar headers (owner uid/gid and mode of every directory and file
in the venv) against the runtime user and groups resolved from the config's User and
the image's /etc/passwd and /etc/group; for an image that starts as root and switches
users in its entrypoint (gosu, setpriv, su), the user it switches to. Skipped when the
image runs as root (SEC001).

Example: `USER app` after `RUN chown -R app /opt/venv`.

How to fix: keep the venv root-owned (`COPY --chown` only for data directories) and
make writable only what must be (a data dir, /tmp).

References: CIS Docker Benchmark 4.1; https://docs.docker.com/develop/develop-images/instructions/#user
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="SEC003",
    name="writable-venv",
    title="The runtime user can modify the virtual environment",
    severity=Severity.WARNING,
    criterion="venv and app code not writable by the runtime user",
    dimension=Dimension.SECURE,
)


def non_root_user(ctx: CheckContext) -> None:
    user = ctx.facts.app_user
    if user.uid is None:
        raise Skip("the runtime user does not resolve (SEC002)")
    if user.is_root:
        raise Skip("the image runs as root (SEC001): everything is writable")


def user_words(ctx: CheckContext) -> str:
    """`app (uid 999)`, and when the entrypoint switched to it, which tool did."""
    user = ctx.facts.app_user
    words = f"{user.name or user.uid} (uid {user.uid})"
    drop = ctx.facts.privilege_drop
    if user is not ctx.facts.runtime_user and drop is not None:
        words += f", the user the entrypoint switches to with {drop.tool}"
    return words


def run(ctx: CheckContext) -> Iterable[Finding]:
    facts = ctx.facts
    sites = _app_site_dirs(ctx)
    if not facts.venvs and not sites:
        raise Skip("no virtual environment in the image")
    non_root_user(ctx)
    user = facts.app_user
    yield from _writable_sites(ctx, sites)
    for v in facts.venvs:
        scan = facts.venv_writable[v.path]
        if not scan.writable:
            continue
        yield INFO.finding(
            f"venv /{v.path}: {len(scan.writable)} of {scan.checked} paths are writable by "
            f"{user_words(ctx)}",
            "Keep the venv owned by root (no --chown on it), mode 755/644",
            path=scan.writable[0],
            paths=list(scan.writable[1:10]),
            evidence={
                "venv": "/" + v.path,
                "uid": user.uid,
                "groups": sorted(user.groups),
                "writable": len(scan.writable),
            },
        )


def _app_site_dirs(ctx: CheckContext) -> list[tuple[str, str]]:
    """(environment, site directory) for each entry of the app environment's sys.path
    that is outside every venv, the app directories (SEC004) and the standard library,
    and holds a distribution."""
    facts = ctx.facts
    app = facts.app_python.environment
    env = next((e for e in facts.environments if e.path == app), None)
    if env is None:
        return []
    venvs = tuple(v.path + "/" for v in facts.venvs)
    # the app's own directories (`pip install --target /app/deps`) are SEC004's
    apps = tuple(d + "/" for d in facts.app_dirs)
    holding = {d.location for d in facts.distributions if app in d.environments}
    out = []
    for entry in env.site:
        real = facts.fs.resolve(entry)
        if real is None or real in ("", "/") or (real + "/").startswith(venvs + apps):
            continue
        if real in holding:
            out.append(("/" + env.path, real))
    return out


def _writable_sites(ctx: CheckContext, sites: list[tuple[str, str]]) -> Iterable[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.permissions import writable_paths

    facts = ctx.facts
    user = facts.app_user
    for env, site in sites:
        scan = writable_paths(facts.fs, site, user)
        if not scan.writable:
            continue
        yield INFO.finding(
            f"site directory /{site} on the sys.path of {env}: {len(scan.writable)} of "
            f"{scan.checked} paths are writable by {user_words(ctx)}",
            "Install the packages as root into a root-owned place (a venv or /usr/local, no "
            "--chown), not into the runtime user's ~/.local",
            path=scan.writable[0],
            paths=list(scan.writable[1:10]),
            evidence={
                "site": "/" + site,
                "environment": env,
                "uid": user.uid,
                "groups": sorted(user.groups),
                "writable": len(scan.writable),
            },
        )
