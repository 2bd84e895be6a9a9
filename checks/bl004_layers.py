"""BL004 layers: too many layers, or layers of the team's own that add nothing or almost
nothing and could be part of a step next to them.

Why it matters: each layer is a separate download, extraction and overlay mount;
many small layers slow pulls and container start, and a layer that adds under 1 KB
(a lone `mkdir`, `chmod` or `touch`) usually means two RUN steps that belong
together. Empty layers are harmless bytes-wise but are noise in the history.

What is judged: only layers the team's Dockerfile could merge. Not judged, because
nobody can merge them: the base image's layers (auditor/facts/provenance.py: its
maintainers' choice); layers of metadata steps (`WORKDIR`, `ENV`, `USER`, ... make an
empty or directory-only layer with the legacy builder; they are no RUN to merge); the
manifest-first COPY (only requirements/lock/pyproject files, copied alone before the
install: what BL001 recommends, so that the install stays cached); a COPY or ADD that
no other COPY follows (the final app COPY: it cannot join a RUN); and layers whose
step the history does not name. A tiny or empty RUN is reported when the team's
layers hold another RUN it could join; a tiny COPY when the next layer is another
COPY of the build context it could join.

Default limits: more than 30 layers is a finding; tiny = under 1 KB of content
(`[tool.imgaudit.checks.BL004] max-layers = 20`, `tiny-bytes = 1024`).

Example: one `RUN` per apt package; `RUN mkdir /app` then `RUN chown app /app`.

How to fix: merge related RUN steps (`&&`), create directories with `WORKDIR` or
`COPY --chown`, and use multi-stage builds so the final image has a few layers.

References: https://docs.docker.com/build/building/best-practices/#minimize-the-number-of-layers
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from auditor.context import CheckContext
from auditor.facts.image_layers import LayerFacts
from auditor.findings import CheckInfo, Dimension, Finding, Severity
from auditor.history import MANIFESTS
from auditor.units import human_bytes, shorten

INFO = CheckInfo(
    id="BL004",
    name="layers",
    title="Too many, empty or tiny layers",
    severity=Severity.INFO,
    criterion="few, purposeful layers",
    dimension=Dimension.FAST,
)
OPTIONS = {"max-layers": 30, "tiny-bytes": 1024}

#: Steps that copy files in: a COPY or ADD cannot join a RUN.
COPIES = frozenset({"COPY", "ADD"})


def instruction(ly: LayerFacts) -> str | None:
    """The Dockerfile instruction that made the layer (`RUN`, `COPY`, `WORKDIR`, ...);
    None when the history does not say."""
    step = (ly.created_by or "").split(maxsplit=1)
    return step[0].upper() if step else None


def manifests_only(ly: LayerFacts) -> bool:
    """A COPY of dependency manifests alone (requirements, lock, pyproject and the README
    or LICENSE some build backends read): the cache-friendly first COPY."""
    files = ly.entries.paths_not("d")
    return bool(files) and all(re.search(MANIFESTS, "/" + p.rstrip("/")) for p in files)


def from_context(ly: LayerFacts) -> bool:
    """A COPY/ADD of the build context (BuildKit's history keeps `--from=`; the legacy
    builder's does not, and its copies count as the context's)."""
    return instruction(ly) in COPIES and "--from" not in (ly.created_by or "")


def mergeable(ly: LayerFacts, own: Sequence[LayerFacts]) -> LayerFacts | None:
    """The own layer `ly` could join, or None when nothing in the team's Dockerfile can
    take it (see the module doc)."""
    step = instruction(ly)
    if step == "RUN":
        runs = [o for o in own if o is not ly and instruction(o) == "RUN"]
        return min(runs, key=lambda o: abs(o.index - ly.index)) if runs else None
    if step in COPIES and from_context(ly) and not manifests_only(ly):
        later = [o for o in own if o.index > ly.index]
        if later and from_context(later[0]) and not manifests_only(later[0]):
            return later[0]
    return None


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
    own = [ly for ly in layers if ly.in_base is not True]
    for ly in own:
        if ly.empty:
            label = "empty"
        elif ly.size < tiny_limit and not ly.changes_lower:
            label = "tiny"
        else:
            continue
        other = mergeable(ly, own)
        if other is None:
            continue
        step = instruction(ly) or ""
        yield INFO.finding(
            f"layer {ly.index} is {label}"
            + (f" ({human_bytes(ly.size)} of content)" if label == "tiny" else "")
            + f": {ly.created_by}",
            f"merge this step into the {step} of layer {other.index} "
            f"({shorten(other.created_by, 60)})",
            layer=ly.index,
            evidence={"layer": ly.index, "bytes": ly.size, "merge_with": other.index},
        )
