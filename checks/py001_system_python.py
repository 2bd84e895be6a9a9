"""PY001 system-python: the application runs on the distribution's own Python.

Why it matters: the distro's interpreter belongs to the distro. Its version is fixed
by the release (Debian 12: 3.11, for years), its patch level follows the distro's
security backports, and its site-packages are shared with apt-installed tools; Debian
even patches pip to refuse system installs (PEP 668). An app that lives in a venv made
from /usr/bin/python3, or pip-installs into dist-packages, can be broken by an
`apt-get upgrade` of an unrelated package and cannot move to a new Python without
moving to a new distro.

Flagged when an interpreter is owned by a dpkg package (distro or deadsnakes) and the
application uses it: a venv's `home` resolves to it, pip-installed distributions sit
in its dist-packages, or it is the only Python in the image.

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

SYSTEM_ORIGINS = ("distro", "deadsnakes")
REMEDY = (
    "Use a CPython of your own (python:3.X base or /opt/<org>/python) and make the venv from it"
)


def run(ctx: CheckContext) -> Iterable[Finding]:
    facts = ctx.facts
    interps = facts.pythons
    if not interps:
        raise Skip("no Python interpreter in the image")
    system = [i for i in interps if i.origin in SYSTEM_ORIGINS]
    others = [i for i in interps if i.origin not in SYSTEM_ORIGINS]
    for interp in system:
        reasons: list[str] = []
        targets = {p for p in (interp.executable, facts.fs.resolve(interp.executable or "")) if p}
        venvs = ["/" + v.path for v in facts.venvs if v.home_python in targets]
        if venvs:
            reasons.append("venv home: " + ", ".join(venvs))
        pip_dists = sorted(
            d.name or ""
            for d in facts.distributions
            if d.location.endswith("/dist-packages")
            and d.location.startswith(interp.prefix + "/")
            and facts.dpkg.package_of(facts.fs, d.meta_dir) is None
        )
        if pip_dists:
            reasons.append("pip-installed into dist-packages: " + ", ".join(pip_dists[:10]))
        if not others and not reasons:
            reasons.append("it is the only Python in the image")
        if not reasons:
            continue
        yield INFO.finding(
            f"the app uses the distribution's Python {interp.version} "
            f"({interp.origin}, package {interp.package or 'unknown'}): " + "; ".join(reasons),
            REMEDY,
            path=interp.path,
            evidence={
                "interpreter": "/" + interp.path,
                "origin": interp.origin,
                "package": interp.package,
                "venvs": venvs,
                "pip_distributions": pip_dists,
            },
        )
