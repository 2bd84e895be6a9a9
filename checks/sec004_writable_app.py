"""SEC004 writable-app: the runtime user can modify the application's code.

Why it matters: like SEC003 for the venv: if the process can rewrite its own `.py`
files (or the directories holding them), a compromise becomes persistent and code
can be swapped under a running service.

App directories: the config's WorkingDir, /app, /srv, each /opt/<x> (interpreters and
venvs excluded: SEC003 judges venvs) and the directories holding the entrypoint's
scripts. Within them, flagged: writable directories that hold code (.py, .so, .pyc)
and writable code files, each once, under the deepest app directory holding it (with
`WORKDIR /srv/app`, /srv/app's code is not /srv's too). Writable data directories
without code are fine. The user is the config's, or the one a root image's entrypoint
switches to (SEC003). Skipped when the image runs as root (SEC001).

Example: `COPY --chown=app . /app` then `USER app`.

How to fix: `COPY` the code as root (no --chown) and give the user only its data
directories.

References: CIS Docker Benchmark 4.1
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

from .sec003_writable_venv import non_root_user, user_words

INFO = CheckInfo(
    id="SEC004",
    name="writable-app",
    title="The runtime user can modify the application code",
    severity=Severity.WARNING,
    criterion="venv and app code not writable by the runtime user",
    dimension=Dimension.SECURE,
)

CODE_SUFFIXES = (".py", ".pyc", ".so", ".pth", ".sh")


def run(ctx: CheckContext) -> Iterable[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.permissions import writable_paths

    facts = ctx.facts
    dirs = facts.app_dirs
    if not dirs:
        raise Skip("no application directory found")
    non_root_user(ctx)
    user = facts.app_user
    fs = facts.fs
    skip = tuple(v.path for v in facts.venvs) + tuple(
        i.prefix for i in facts.pythons if i.prefix not in ("usr", "usr/local", "")
    )
    for d in dirs:
        scan = writable_paths(fs, d, user, skip)
        code = []
        writable_dirs = scan.writable_dirs  # the scan knew each path's kind: no look-ups
        # a path inside a deeper app directory (/srv/app within /srv) is that one's
        deeper = tuple(e + "/" for e in dirs if e.startswith(d + "/"))
        for p in scan.writable:
            if deeper and (p + "/").startswith(deeper):
                continue
            if p in writable_dirs:
                if any(n.endswith(CODE_SUFFIXES) for n in fs.listdir(p)):
                    code.append(p)
            elif p.endswith(CODE_SUFFIXES):
                code.append(p)
        if not code:
            continue
        yield INFO.finding(
            f"/{d}: {len(code)} code paths are writable by {user_words(ctx)}",
            "COPY the application as root (no --chown); make only data directories writable",
            path=code[0],
            paths=code[1:10],
            evidence={"app_dir": "/" + d, "uid": user.uid, "writable_code_paths": len(code)},
        )
