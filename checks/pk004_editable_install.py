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
    inventory = ctx.facts.inventory
    if not inventory.distributions and not inventory.egg_links:
        raise Skip("no installed Python distributions")
    linked = set()
    for d in inventory.distributions:
        if not d.editable:
            continue
        url = (d.direct_url or {}).get("url")
        linked.add(url)
        yield INFO.finding(
            f"{d.display_name} is an editable install" + (f" of {url}" if url else ""),
            "Install the package normally (pip install . or a built wheel)",
            path=d.meta_dir,
            evidence={"name": d.name, "version": d.version, "url": url},
        )
    for link in inventory.egg_links:
        url = "file://" + link.target
        if url in linked:
            continue  # reported with its distribution above
        # the project it names is not on any sys.path (or not in the image at all)
        yield INFO.finding(
            f"{link.path.rsplit('/', 1)[-1]} links an editable install of {link.target}",
            "Install the package normally (pip install . or a built wheel)",
            path=link.path,
            evidence={"name": None, "version": None, "url": url},
        )
