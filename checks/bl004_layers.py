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
from auditor.units import human_bytes

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
    layers = ctx.facts.layers
    limit = int(ctx.option("max-layers", OPTIONS["max-layers"]))
    tiny_limit = int(ctx.option("tiny-bytes", OPTIONS["tiny-bytes"]))
    if len(layers) > limit:
        yield INFO.finding(
            f"{len(layers)} layers (limit {limit})",
            "merge related RUN steps and use a multi-stage build",
            severity=Severity.WARNING,
            evidence={"layers": len(layers), "limit": limit},
        )
    empty = [ly for ly in layers if ly.empty]
    tiny = [ly for ly in layers if not ly.empty and ly.size < tiny_limit and not ly.changes_lower]
    for label, found in (("empty", empty), ("tiny", tiny)):
        for ly in found:
            yield INFO.finding(
                f"layer {ly.index} is {label}"
                + (f" ({human_bytes(ly.size)} of content)" if label == "tiny" else "")
                + f": {ly.created_by or 'unknown step'}",
                "merge this step into the RUN next to it",
                layer=ly.index,
                evidence={"layer": ly.index, "bytes": ly.size},
            )
