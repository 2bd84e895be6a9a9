"""HC001 healthcheck-broken: the image's HEALTHCHECK runs a program that is not in it.

Why it matters: the engine runs the health check inside the container, as the image's
user, with the image's PATH. `HEALTHCHECK CMD curl -f http://localhost:8000/` in a
python:3.12-slim image (no curl) fails on every run: after the retries the container
is `unhealthy`, Compose never starts the services that wait for it (`depends_on:
condition: service_healthy`), and Swarm replaces the task again and again, while the
app itself runs fine.

What is read: the config's `Healthcheck.Test`. `CMD` form: its first word, found as exec
finds it (a path against WorkingDir, else the first match on the config's PATH).
`CMD-SHELL` form: the shell (the config's `Shell`, else /bin/sh: distroless images have
none) and, when the string is one simple command, the program it starts. A python run
on a script file (`python /app/health.py`) needs that file too (against WorkingDir, not
in a VOLUME): python exits 2 with "can't open file". Not judged:
a shell string with pipes, `;`, `&&`, substitutions or a fallback command after `||`
(`curl ... || wget ...`), a first word that is a shell builtin or an assignment, and
`NONE`. A check that finds its program but fails for other reasons (the port, the
path) cannot be told from the files.

Example: `HEALTHCHECK CMD curl -f http://localhost:8000/health || exit 1` on
python:3.12-slim.

How to fix: check with what the image has: `HEALTHCHECK CMD python -c "import
urllib.request, sys; urllib.request.urlopen('http://localhost:8000/health')"`, or
install the tool in the final stage.

References: https://docs.docker.com/reference/dockerfile/#healthcheck
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="HC001",
    name="healthcheck-broken",
    title="The image's HEALTHCHECK runs a program that is not in the image",
    severity=Severity.WARNING,
    criterion="the health check's program exists, so the check can pass",
    dimension=Dimension.USABLE,
)

REMEDY = (
    'Check health with what the image has (python -c "import urllib.request; '
    "urllib.request.urlopen('http://localhost:PORT/')\"), or install the tool in the "
    "final stage"
)

#: A shell string that is one simple command: words without shell syntax, optionally
#: followed by `|| exit N` / `|| false` (what fails anyway when the command does)
_SIMPLE = re.compile(r"^\s*([^\s|&;<>()$`'\"\\]+)((?:\s+[^|&;<>()$`\\]*)?)$")
_FAILS_ANYWAY = re.compile(r"^\s*(?:exit(?:\s+\d+)?|false)\s*$")
#: Words the shell runs itself: no program to find
_BUILTINS = frozenset({
    "exit", "true", "false", "test", "[", "[[", "echo", "printf", "cd", "command", "exec",
    "eval", "set", "export", "read", "wait", ":", ".", "source", "type", "kill", "pwd", "if",
    "while", "for", "case", "until",
})  # fmt: skip


def run(ctx: CheckContext) -> Iterator[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.apppython import in_volume, python_script, which, working_dir

    facts = ctx.facts
    health = facts.config.get("Healthcheck")
    test = health.get("Test") if isinstance(health, dict) else None
    if not isinstance(test, list) or not test or not all(isinstance(t, str) for t in test):
        raise Skip("no HEALTHCHECK in the image")
    kind, args = test[0], test[1:]
    if kind == "NONE" or not args:
        raise Skip("HEALTHCHECK NONE")
    fs, config, env = facts.fs, facts.config, facts.env
    if kind == "CMD":
        program, words = args[0], args
        shown = " ".join(args)
    elif kind == "CMD-SHELL":
        shell = [s for s in config.get("Shell") or [] if isinstance(s, str)] or ["/bin/sh"]
        if which(fs, config, env, shell[0]) is None:
            yield INFO.finding(
                f"the HEALTHCHECK runs `{args[0]}` through {shell[0]}, which is not in the "
                "image: every check fails, and the container turns unhealthy",
                'Use the exec form (HEALTHCHECK CMD ["python", "-c", "..."]): it needs no shell',
                evidence={"test": test, "missing": shell[0]},
            )
            return
        found = _simple_command(args[0])
        if found is None:
            return  # shell syntax: what runs, or whether a fallback catches it, is not read
        program, words, shown = found[0], found, args[0]
    else:
        raise Skip(f"HEALTHCHECK of unknown form {kind!r}")
    if which(fs, config, env, program) is not None:
        script = python_script(words)
        if not script:
            return
        path = posixpath.normpath(posixpath.join(working_dir(config), script)).lstrip("/")
        if fs.resolve(path) is None and not in_volume(config, path):
            yield INFO.finding(
                f"the HEALTHCHECK runs `{shown}`, and /{path} is not in the image: python "
                'exits 2 ("can\'t open file"), every check fails, and the container turns '
                "unhealthy",
                "Copy the health-check script into the final image, or give its path "
                "against the WORKDIR",
                evidence={"test": test, "missing": "/" + path},
            )
        return
    yield INFO.finding(
        f"the HEALTHCHECK runs `{shown}`, and {program} is not "
        + ("in the image" if "/" in program else "on the image's PATH")
        + ": every check fails, and the container turns unhealthy",
        REMEDY,
        evidence={"test": test, "missing": program},
    )


def _simple_command(script: str) -> list[str] | None:
    """The words of a shell string that is one simple command (optionally followed by
    `|| exit 1`), its program first; None for anything else."""
    first, _, rest = script.partition("||")
    if rest and not all(_FAILS_ANYWAY.match(part) for part in rest.split("||")):
        return None
    m = _SIMPLE.match(first)
    if m is None or m.group(1) in _BUILTINS or "=" in m.group(1):
        return None
    try:
        return shlex.split(first)
    except ValueError:  # unbalanced quotes: the program is still the first word
        return [m.group(1)]
