"""PK004 editable-install: a package is installed in editable (development) mode.

Why it matters: an editable install (`pip install -e .`) does not copy the package:
site-packages only holds a pointer (direct_url.json `dir_info.editable`, an
`*.egg-link`, or a `__editable__` .pth/finder) to a source tree. The image then
depends on that tree being present at exactly that path, imports from a working
copy (tests, .git, build junk included), and gets no RECORD of the files it really
uses.

Example: `COPY . /src && pip install -e /src` in the final stage.

An error when the code it points at is not in the image (`pip install -e .` in a
builder's /app, then only the venv copied: the running image said "No module named
'myapp'"): every place the install's own `.pth` files name (a path line, or the
`MAPPING`/`NAMESPACES` of setuptools' `__editable___*_finder.py`) is missing, and no
module of its top-level names is in the working directory or on the sys.path of an
environment that lists it. Where the files cannot say (another backend's finder, a
finder whose text was not kept), it stays a warning; so it does, naming the missing
paths, when the distribution's top-level names are unknown (hatchling's RECORD names
only its .pth).

How to fix: `pip install .` (or build a wheel in a builder stage and install it).

References: PEP 660; PEP 610 (direct_url.json)
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from auditor.facts.distributions import Distribution
    from auditor.fs import FileSystem

#: `MAPPING: dict[str, str] = {...}` / `NAMESPACES: ... = {...}` in setuptools' finder
_FINDER_TABLE = re.compile(r"^(MAPPING|NAMESPACES)\b[^=\n]*=\s*(\{.*\})\s*$", re.MULTILINE)


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
        missing = _code_missing(ctx, d)
        fails = bool(missing) and _import_fails(ctx, d)
        message = f"{d.display_name} is an editable install" + (f" of {url}" if url else "")
        if missing:
            message += f", and the code it points at is not in the image ({', '.join(missing)})"
        if fails:
            message += f": `import {d.top_level[0]}` fails"
        yield INFO.finding(
            message,
            "Install the package normally (pip install . or a built wheel)"
            + (", or copy its source tree to the same path" if missing else ""),
            path=d.meta_dir,
            severity=Severity.ERROR if fails else None,
            evidence={
                "name": d.name,
                "version": d.version,
                "url": url,
                **({"missing": missing} if missing else {}),
            },
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


def _code_missing(ctx: CheckContext, d: Distribution) -> list[str]:
    """The places an editable install's own .pth files send imports to, when every one
    is missing from the image; [] when any is there or the files cannot say."""
    fs = ctx.facts.fs
    targets = _editable_targets(fs, d)
    if not targets or any(fs.resolve(t) is not None for t in targets):
        return []
    return ["/" + t for t in sorted(targets)]


def _import_fails(ctx: CheckContext, d: Distribution) -> bool:
    """No module of the distribution's top-level names is in the working directory or on
    the sys.path of an environment that lists it (module doc); False when its names are
    unknown."""
    # deferred: start-up time, see README "Performance"
    from auditor.facts.apppython import working_dir
    from auditor.facts.distributions import is_module_named

    fs = ctx.facts.fs
    if not d.top_level:
        return False
    workdir = working_dir(ctx.facts.config).strip("/")
    entries = {workdir}
    for env in ctx.facts.environments:
        if env.path in d.environments:
            entries.update(env.sys_path)
    for entry in entries:
        real = fs.resolve(entry)
        if real is None:
            continue
        names = fs.listdir(real)
        if any(is_module_named(n, top) for top in d.top_level for n in names):
            return False  # a module by that name is importable there: the files cannot say
    return True


def _editable_targets(fs: FileSystem, d: Distribution) -> set[str] | None:
    """Image paths (no leading slash) the install's .pth files in its site directory
    point imports at: path lines, and the tables of setuptools' finder modules their
    import lines load. None when a .pth imports something else or a finder's table
    cannot be read: the files cannot say where the code is."""
    targets: set[str] = set()
    site = d.location
    for path in d.files:
        if posixpath.dirname(path) != site or not path.endswith(".pth"):
            continue
        text = (fs.read(path) or b"").decode("utf-8", "replace")
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not line.startswith(("import ", "import\t")):
                targets.add(posixpath.normpath(posixpath.join("/" + site, line)).strip("/"))
                continue
            module = line.split(None, 1)[1].split(";", 1)[0].strip()
            found = _finder_targets(fs, f"{site}/{module}.py") if module.isidentifier() else None
            if found is None:
                return None
            targets |= found
    return targets


def _finder_targets(fs: FileSystem, path: str) -> set[str] | None:
    """The paths in the MAPPING and NAMESPACES of setuptools' editable finder module."""
    if not posixpath.basename(path).startswith("__editable__"):
        return None
    text = (fs.read(path) or b"").decode("utf-8", "replace")
    tables = _FINDER_TABLE.findall(text)
    if not any(name == "MAPPING" for name, _ in tables):
        return None
    out: set[str] = set()
    for _, literal in tables:
        try:
            table = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            return None
        if not isinstance(table, dict):
            return None
        for value in table.values():
            for where in value if isinstance(value, list) else [value]:
                if not isinstance(where, str) or not where.startswith("/"):
                    return None
                out.add(posixpath.normpath(where).strip("/"))
    return out
