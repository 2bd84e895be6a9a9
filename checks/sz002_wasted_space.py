"""SZ002 wasted-space: bytes written by one layer and overwritten or deleted by a later one.

Why it matters: a file deleted in a later layer is still shipped in the layer that
wrote it (`RUN rm` after `COPY` saves nothing). The waste counts only the copies
that do not survive, the bytes a rebuild can actually reclaim (dive's figure also
counts the surviving copy).

Example: `RUN apt-get install ...` then `RUN rm -rf /var/lib/apt/lists/*` in a
separate step; `COPY . /app` then `RUN chown -R app /app` (every file twice).

How to fix: clean up in the same RUN that creates the files, use `COPY --chown`,
and copy build results from another stage. The threshold is configurable:
`[tool.imgaudit.checks.SZ002] min-mb = 5` (default 1 MB).

References: https://github.com/wagoodman/dive
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity
from auditor.units import human_bytes

if TYPE_CHECKING:  # deferred: start-up time, see README "Performance"
    from auditor.fs import WastedFile

INFO = CheckInfo(
    id="SZ002",
    name="wasted-space",
    title="Bytes overwritten or deleted by later layers",
    severity=Severity.WARNING,
    criterion="no wasted bytes",
    dimension=Dimension.SMALL,
)
OPTIONS = {"min-mb": 1}
TOP = 20
BASE_REMEDY = (
    "the base image ships these bytes whatever your Dockerfile does: a slimmer or "
    "newer base; deleting them in your layers saves nothing"
)


def run(ctx: CheckContext) -> Iterator[Finding]:
    fs = ctx.facts.fs
    files = [w for w in fs.waste() if not ctx.allowed(w.path)]
    own: list[WastedFile] = []
    base: list[WastedFile] = []
    for w in files:
        (own if _teams(ctx, w) else base).append(w)
    threshold = float(ctx.option("min-mb", OPTIONS["min-mb"])) * 1_000_000
    for group, in_base in ((own, False), (base, True)):
        wasted = sum(w.wasted_bytes for w in group)
        if group and wasted >= threshold:
            yield _finding(ctx, group, wasted, in_base)


def _teams(ctx: CheckContext, w: WastedFile) -> bool:
    """Whether the team's own Dockerfile wasted these bytes: one of its layers wrote a
    copy that did not survive, or wrote the copy that replaced a base file (`chown -R`
    over the base's files). A base file deleted by the team (`RUN rm`) is the base's
    waste: the bytes stay in the base's layer whatever the team writes. Without a known
    base boundary everything is the team's, as before."""
    provenance = ctx.facts.provenance
    if any(provenance.in_base(layer) is not True for layer in w.layers):
        return True
    node = ctx.facts.fs.get(w.path)
    return node is not None and provenance.in_base(node.layer) is not True


def _finding(ctx: CheckContext, files: list[WastedFile], wasted: int, in_base: bool) -> Finding:
    top = files[0]
    # The finding sits in the layer to change: the last that wrote a lost copy or, for a
    # base file the team replaced, the team's layer that replaced it.
    layer = top.layers[-1]
    survivor = ctx.facts.fs.get(top.path)
    if not in_base and ctx.facts.provenance.in_base(layer) is True and survivor is not None:
        layer = survivor.layer
    return INFO.finding(
        f"{human_bytes(wasted)} in {len(files)} file(s) are written and then overwritten "
        f"or deleted by a later layer"
        + (", in the base image's layers" if in_base else "")
        + f" (efficiency {ctx.facts.fs.efficiency * 100:.1f}%)",
        BASE_REMEDY
        if in_base
        else "delete files in the same RUN that creates them; use COPY --chown and multi-stage",
        path=top.path,
        paths=[w.path for w in files[1:TOP]],
        layer=layer,
        bytes=wasted,
        evidence={
            "files": len(files),
            "top": [
                {"path": "/" + w.path, "bytes": w.wasted_bytes, "layers": list(w.layers)}
                for w in files[:TOP]
            ],
        },
    )
