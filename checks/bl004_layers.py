"""BL004 layers: too many layers, or layers that add nothing or almost nothing.

Why it matters: each layer is a separate download, extraction and overlay mount;
many small layers slow pulls and container start, and a layer that adds under 1 KB
(a lone `mkdir`, `chmod` or `touch`) usually means two RUN steps that belong
together. Empty layers are harmless bytes-wise but are noise in the history.

Default limits: more than 30 layers is a finding; tiny = under 1 KB of content
(`[tool.imgaudit.checks.BL004] max-layers = 20`, `tiny-bytes = 1024`).

Example: one `RUN` per apt package; `RUN mkdir /app` then `RUN chown app /app`.

How to fix: merge related RUN steps (`&&`), create directories with `WORKDIR` or
`COPY --chown`, and use multi-stage builds so the final image has a few layers.

References: https://docs.docker.com/build/building/best-practices/#minimize-the-number-of-layers
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="BL004",
    name="layers",
    title="Too many, empty or tiny layers",
    severity=Severity.INFO,
    criterion="few, purposeful layers",
    dimension=Dimension.FAST,
)
OPTIONS = {"max-layers": 30, "tiny-bytes": 1024}


def run(ctx: CheckContext) -> Iterator[Finding]:
    loaded = ctx.facts.loaded
    indexes = loaded.indexes
    limit = int(ctx.option("max-layers", OPTIONS["max-layers"]))
    tiny_limit = int(ctx.option("tiny-bytes", OPTIONS["tiny-bytes"]))
    if len(indexes) > limit:
        yield INFO.finding(
            f"{len(indexes)} layers (limit {limit})",
            "merge related RUN steps and use a multi-stage build",
            severity=Severity.WARNING,
            evidence={"layers": len(indexes), "limit": limit},
        )
    empty = [
        i for i, ix in enumerate(indexes) if not (ix.entries or ix.whiteouts or ix.opaque_dirs)
    ]
    tiny = [
        i
        for i, ix in enumerate(indexes)
        if i not in empty and ix.size < tiny_limit and not ix.whiteouts and not ix.opaque_dirs
    ]
    for label, layers in (("empty", empty), ("tiny", tiny)):
        for i in layers:
            size = indexes[i].size
            yield INFO.finding(
                f"layer {i} is {label}"
                + (f" ({size} bytes of content)" if label == "tiny" else "")
                + f": {loaded.created_by[i] or 'unknown step'}",
                "merge this step into the RUN next to it",
                layer=i,
                evidence={"layer": i, "bytes": size},
            )
