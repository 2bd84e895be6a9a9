"""BL002 single-stage: compiled extensions built in the image, with the toolchain still in it.

Why it matters: when the image holds both compiled extension modules (`.so` files in
site-packages) and a compiler toolchain (gcc, cc, make, ...), the extensions were
most likely built in the same stage that ships: the compiler, headers and build
dependencies ride along into production (hundreds of MB, and a compiler for an
attacker). A multi-stage build compiles in a builder stage and copies only the
virtual environment.

Example: `FROM python:3.12` + `RUN pip install psycopg2` (built from source with
the base image's gcc).

How to fix:

    FROM python:3.12 AS build
    RUN python -m venv /opt/app && /opt/app/bin/pip install -r requirements.txt
    FROM python:3.12-slim
    COPY --from=build /opt/app /opt/app

Compiler presence on its own is CC001's business; this check is about the build
structure. Whose it is: when the toolchain comes with the base image and the team's
own steps add extension modules next to it (`FROM python:3.11` + `RUN pip install`),
the single-stage build is the team's choice, so the finding is at the first of those
steps, not at the base's compiler. References: https://docs.docker.com/build/building/multi-stage/
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="BL002",
    name="single-stage",
    title="Compiled extensions and a compiler toolchain in one image (single-stage build)",
    severity=Severity.WARNING,
    criterion="multi-stage: build deps not in runtime",
    dimension=Dimension.FAST,
)


def run(ctx: CheckContext) -> Iterator[Finding]:
    extensions = [p for p in ctx.facts.extension_modules if not ctx.allowed(p)]
    tools = [t for t in ctx.facts.compilers.tools if not ctx.allowed(t.path)]
    if not extensions or not tools:
        return
    names = sorted({t.name for t in tools})
    facts = ctx.facts
    layer = None  # the compiler's own layer, which the runner takes from the path
    tool = facts.fs.get(tools[0].path)
    if tool is not None and facts.provenance.in_base(tool.layer) is True:
        own = [
            node.layer
            for p in extensions
            if (node := facts.fs.get(p)) is not None
            and facts.provenance.in_base(node.layer) is False
        ]
        layer = min(own, default=None)
    yield INFO.finding(
        f"{len(extensions)} compiled extension module(s) next to a compiler toolchain "
        f"({', '.join(names)}): the image looks built in a single stage",
        "build in a builder stage and COPY --from it only the venv / site-packages",
        path=tools[0].path,
        paths=[t.path for t in tools[1:]],
        layer=layer,
        evidence={"tools": names, "extensions": ["/" + p for p in extensions[:20]]},
    )
