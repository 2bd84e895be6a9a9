"""PK004 editable-install: a package is installed in editable (development) mode.

Why it matters: an editable install (`pip install -e .`) does not copy the package:
site-packages only holds a pointer (direct_url.json `dir_info.editable`, an
`*.egg-link`, or a `__editable__` .pth/finder) to a source tree. The image then
depends on that tree being present at exactly that path, imports from a working
copy (tests, .git, build junk included), and gets no RECORD of the files it really
uses.

Example: `COPY . /src && pip install -e /src` in the final stage.

How to fix: `pip install .` (or build a wheel in a builder stage and install it).

References: PEP 660; PEP 610 (direct_url.json)
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="PK004",
    name="editable-install",
    title="A package is installed in editable mode",
    severity=Severity.WARNING,
    criterion="no editable installs or source trees in prod",
    dimension=Dimension.USABLE,
)


def run(ctx: CheckContext) -> Iterable[Finding]:
    dists = ctx.facts.distributions
    if not dists:
        raise Skip("no installed Python distributions")
    for d in dists:
        if not d.editable:
            continue
        url = (d.direct_url or {}).get("url")
        yield INFO.finding(
            f"{d.display_name} is an editable install" + (f" of {url}" if url else ""),
            "Install the package normally (pip install . or a built wheel)",
            path=d.meta_dir,
            evidence={"name": d.name, "version": d.version, "url": url},
        )
