"""Which layers came from the base image and which the team added.

A finding in a base layer is the base maintainers' to fix (or a reason to pick
another base); one in the team's own layers is theirs. The base's layers are the
leading layers whose diff_ids equal the base image's: with `--base REF` that image
is opened (config only, no layer is read) and the shared prefix counted. Without it,
the `org.opencontainers.image.base.name` (+ `.base.digest`) labels name the base,
which is opened the same way when it is reachable.

When no base is named (or the named one cannot be opened), the boundary is inferred
from the build history, conservatively. Every Dockerfile's last word is usually its
`CMD` or `ENTRYPOINT`, and an image built `FROM` another carries the other's history
first: so a `CMD`/`ENTRYPOINT` entry that more layers follow ends the base's steps
(docker-library's python images end with `CMD ["python3"]`, distroless with its
`ENTRYPOINT`). The last such entry is taken, which names the image the app's
Dockerfile says `FROM`. Nothing is inferred when the history does not match the
layers or shows no such end: the boundary is then unknown and every finding counts
as the team's. The inference errs towards "own": a base whose Dockerfile does not end
in CMD/ENTRYPOINT leaves its last layers counted as own (an earlier end is found, or
none); only a Dockerfile of the team's with a CMD or ENTRYPOINT *before* further
layers would make own layers look like the base's, which is why the report always
says how the boundary was decided (`reason`) and `--base` overrides it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from auditor.findings import Finding
from auditor.history import clean_step
from auditor.sources import SourceOptions, open_image

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"

#: Where a finding comes from: the base image's layers, the team's own layers (and the
#: final config, which the team's Dockerfile sets), or unknown (no base boundary).
Origin = Literal["base", "own", "unknown"]

#: Instructions that end a Dockerfile as it is usually written (see the module doc).
BASE_ENDS = ("CMD", "ENTRYPOINT")


@dataclass(frozen=True)
class Provenance:
    base_reference: str | None  # what named the base (--base or the labels)
    method: str | None  # "--base" | "labels" | "history" | None
    base_layers: int | None  # leading layers that belong to the base; None = unknown
    problem: str | None = None  # why a named base's layers are unknown
    reason: str = ""  # how the boundary was decided, or why it is unknown

    def in_base(self, layer: int | None) -> bool | None:
        if layer is None or self.base_layers is None:
            return None
        return layer < self.base_layers

    def origin(self, layer: int | None) -> Origin:
        """A finding's origin: `base` for a base layer; `own` for a later layer or for
        no layer at all when the boundary is known (the image config, User and Cmd
        included, is what the team's Dockerfile leaves: it can set every field);
        `unknown` without a boundary."""
        if self.base_layers is None:
            return "unknown"
        return "base" if self.in_base(layer) else "own"

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base_reference,
            "method": self.method,
            "base_layers": self.base_layers,
            "reason": self.reason,
            **({"problem": self.problem} if self.problem else {}),
        }


def shared_prefix(image_diff_ids: Sequence[str], base_diff_ids: Sequence[str]) -> int:
    n = 0
    for mine, theirs in zip(image_diff_ids, base_diff_ids):
        if mine != theirs:
            break
        n += 1
    return n


def base_diff_ids(reference: str, platform: Any = None) -> list[str]:
    image = open_image(reference, SourceOptions(platform=platform, quiet=True))
    return [layer.diff_id for layer in image.layers]


def _counted(n: int) -> str:
    return "layer 0 is" if n == 1 else f"layers 0-{n - 1} are"


def _shared(n: int, ref: str, how: str) -> str:
    if not n:
        return f"no leading layer equals one of {ref}'s ({how}): none is the base's"
    return f"{_counted(n)} the base's: they equal {ref}'s ({how})"


def detect(
    diff_ids: Sequence[str],
    labels: dict[str, str],
    base: str | None = None,
    platform: Any = None,
    history: Any = None,
) -> Provenance:
    """`--base` errors are the user's (raised); label lookups are best effort; without
    either (or when the labelled base cannot be opened) the history decides, or nothing."""
    if base:
        n = shared_prefix(diff_ids, base_diff_ids(base, platform))
        return Provenance(base, "--base", n, reason=_shared(n, base, "--base"))
    name = labels.get(BASE_NAME)
    digest = labels.get(BASE_DIGEST)
    if not name and not digest:
        return from_history(history, len(diff_ids))
    ref = name or ""
    if name and digest and "@" not in name:
        last = name.rsplit("/", 1)[-1]
        repo = name.rsplit(":", 1)[0] if ":" in last else name
        ref = f"{repo}@{digest}"
    if not ref:
        problem = "only a base digest label, no name to open"
        return _labelled_fallback(digest, problem, history, len(diff_ids))
    try:
        ids = base_diff_ids(ref, platform)
    except Exception as exc:  # best effort: the labels are hints, not user input
        return _labelled_fallback(ref, f"base not reachable: {exc}", history, len(diff_ids))
    n = shared_prefix(diff_ids, ids)
    return Provenance(ref, "labels", n, reason=_shared(n, ref, "the base labels"))


def _labelled_fallback(ref: str | None, problem: str, history: Any, layer_count: int) -> Provenance:
    inferred = from_history(history, layer_count)
    if inferred.base_layers is None:
        reason = f"the labelled base's layers are unknown ({problem}); {inferred.reason}"
        return Provenance(ref, "labels", None, problem, reason)
    return Provenance(ref, "history", inferred.base_layers, problem, inferred.reason)


def from_history(history: Any, layer_count: int) -> Provenance:
    """The base boundary inferred from the config's history (see the module doc)."""
    unnamed = "unknown: no --base, no base labels"
    if not isinstance(history, list) or not history:
        return Provenance(None, None, None, reason=f"{unnamed} and no build history")
    entries = [h for h in history if isinstance(h, dict)]
    if sum(1 for h in entries if not h.get("empty_layer")) != layer_count:
        reason = f"{unnamed}, and the build history does not match the layers"
        return Provenance(None, None, None, reason=reason)
    layers = 0
    end: tuple[int, int, str] | None = None  # (history position, layers before, step)
    for position, h in enumerate(entries):
        if not h.get("empty_layer"):
            layers += 1
            continue
        step = clean_step(str(h.get("created_by") or ""))
        if step.split(" ", 1)[0].split("[", 1)[0] in BASE_ENDS and 0 < layers < layer_count:
            end = (position, layers, step)
    if end is None:
        reason = (
            f"{unnamed}, and no CMD or ENTRYPOINT in the build history that more layers "
            "follow (the end of a base image's Dockerfile)"
        )
        return Provenance(None, None, None, reason=reason)
    position, n, step = end
    shown = step if len(step) <= 60 else step[:57] + "..."
    reason = (
        f"inferred from the build history: {_counted(n)} the base's, whose Dockerfile ends "
        f"at history entry {position} ({shown}) before more layers follow; "
        "name the base with --base to be sure"
    )
    return Provenance(None, "history", n, reason=reason)


def mark(findings: Sequence[Finding], provenance: Provenance) -> list[Finding]:
    return [
        f.with_(in_base=provenance.in_base(f.layer), origin=provenance.origin(f.layer))
        for f in findings
    ]
