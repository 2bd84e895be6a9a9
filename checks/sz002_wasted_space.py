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

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity
from auditor.units import human_bytes

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


def run(ctx: CheckContext) -> Iterator[Finding]:
    fs = ctx.facts.fs
    files = [w for w in fs.waste() if not ctx.allowed(w.path)]
    wasted = sum(w.wasted_bytes for w in files)
    if wasted < float(ctx.option("min-mb", OPTIONS["min-mb"])) * 1_000_000:
        return
    top = files[0]
    yield INFO.finding(
        f"{human_bytes(wasted)} in {len(files)} file(s) are written and then overwritten "
        f"or deleted by a later layer (efficiency {fs.efficiency * 100:.1f}%)",
        "delete files in the same RUN that creates them; use COPY --chown and multi-stage",
        path=top.path,
        paths=[w.path for w in files[1:TOP]],
        layer=top.layers[0],
        bytes=wasted,
        evidence={
            "files": len(files),
            "top": [
                {"path": "/" + w.path, "bytes": w.wasted_bytes, "layers": list(w.layers)}
                for w in files[:TOP]
            ],
        },
    )
