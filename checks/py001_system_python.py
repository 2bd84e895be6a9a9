"""PY001 system-python: the application runs on the distribution's own Python.

Why it matters: the distro's interpreter belongs to the distro. Its version is fixed
by the release (Debian 12: 3.11, for years), its patch level follows the distro's
security backports, and its site-packages are shared with apt-installed tools; Debian
even patches pip to refuse system installs (PEP 668). An app that lives in a venv made
from /usr/bin/python3, or pip-installs into dist-packages, can be broken by an
`apt-get upgrade` of an unrelated package and cannot move to a new Python without
moving to a new distro.

Flagged when the application runs on an interpreter owned by a dpkg package (distro
or deadsnakes): the entrypoint runs it or a venv made from it, or PATH leads there
(auditor/facts/apppython.py says how it was decided). A distro Python that is in the
image only as a dependency (mercurial, a -dev package, apt tooling) while the app runs
on another one is not flagged. When the files cannot tell what the app runs, a
dpkg-owned interpreter with a venv made from it, or with pip-installed packages in its
dist-packages, is reported as info: the app may use it.

Example: `FROM debian:12` + `apt-get install python3-venv` + `python3 -m venv /app/venv`.

How to fix: build on an image that ships its own CPython (the python:3.X images) or
copy a CPython built for the purpose into /opt/<org>/python in a builder stage and
create the venv from it.

References: PEP 668; https://docs.python.org/3/using/unix.html
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="PY001",
    name="system-python",
    title="The application uses the distribution's Python",
    severity=Severity.WARNING,
    criterion="not the distro's Python for the app",
    dimension=Dimension.USABLE,
)

REMEDY = (
    "Use a CPython of your own (python:3.X base or /opt/<org>/python) and make the venv from it"
)


def run(ctx: CheckContext) -> Iterable[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.pythons import DISTRO_ORIGINS as SYSTEM_ORIGINS

    facts = ctx.facts
    interps = facts.pythons
    if not interps:
        raise Skip("no Python interpreter in the image")
    app = facts.app_python
    for interp in interps:
        if interp.origin not in SYSTEM_ORIGINS:
            continue
        venvs = [
            "/" + e.path for e in facts.environments if e.kind == "venv" and e.base == interp.path
        ]
        pip_dists = sorted(
            d.name or ""
            for d in facts.distributions
            if d.location.endswith("/dist-packages")
            and interp.path in d.environments
            and facts.dpkg.package_of_dir(facts.fs, d.meta_dir) is None
        )
        reasons: list[str] = []
        if app.interpreter == interp.path:
            runs = f"/{app.environment}" if app.environment != interp.path else "it"
            reasons.append(_HOW[app.how].format(runs=runs, program=f"/{app.program}"))
            severity = INFO.severity
        elif app.how == "unknown" and (venvs or pip_dists):
            severity = Severity.INFO  # the files do not say what the app runs
        else:
            continue
        others = [v for v in venvs if v != f"/{app.environment}"]
        if others:
            reasons.append("venv home: " + ", ".join(others))
        if pip_dists:
            reasons.append("pip-installed into dist-packages: " + ", ".join(pip_dists[:10]))
        uses = "uses" if severity == INFO.severity else "may use"
        yield INFO.finding(
            f"the app {uses} the distribution's Python {interp.version} "
            f"({interp.origin}, package {interp.package or 'unknown'}): " + "; ".join(reasons),
            REMEDY,
            path=interp.path,
            severity=severity,
            evidence={
                "interpreter": "/" + interp.path,
                "origin": interp.origin,
                "package": interp.package,
                "app_python": app.to_json(),
                "venvs": venvs,
                "pip_distributions": pip_dists,
            },
        )


_HOW = {
    "entrypoint": "the entrypoint runs {runs} ({program})",
    "path": "{runs} is the first python on PATH",
    "venv": "{runs} is the image's only venv",
}
