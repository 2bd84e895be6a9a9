"""Which layers came from the base image and which the team added.

A finding in a base layer is the base maintainers' to fix (or a reason to pick
another base); one in the team's own layers is theirs. The base's layers are the
leading layers whose diff_ids equal the base image's: with `--base REF` that image
is opened (config only, no layer is read) and the shared prefix counted. Without it,
the `org.opencontainers.image.base.name` (+ `.base.digest`) labels name the base,
which is opened the same way when it is reachable; when it is not, the report says
the base is named but its layers are unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditor.findings import Finding
from auditor.sources import SourceOptions, open_image

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"


@dataclass(frozen=True)
class Provenance:
    base_reference: str | None  # what named the base (--base or the labels)
    method: str | None  # "--base" | "labels" | None
    base_layers: int | None  # leading layers that belong to the base; None = unknown
    problem: str | None = None  # why the base's layers are unknown

    def in_base(self, layer: int | None) -> bool | None:
        if layer is None or self.base_layers is None:
            return None
        return layer < self.base_layers

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base_reference,
            "method": self.method,
            "base_layers": self.base_layers,
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


def detect(
    diff_ids: Sequence[str],
    labels: dict[str, str],
    base: str | None = None,
    platform: Any = None,
) -> Provenance:
    """`--base` errors are the user's (raised); label lookups are best effort."""
    if base:
        return Provenance(base, "--base", shared_prefix(diff_ids, base_diff_ids(base, platform)))
    name = labels.get(BASE_NAME)
    digest = labels.get(BASE_DIGEST)
    if not name and not digest:
        return Provenance(None, None, None)
    ref = name or ""
    if name and digest and "@" not in name:
        last = name.rsplit("/", 1)[-1]
        repo = name.rsplit(":", 1)[0] if ":" in last else name
        ref = f"{repo}@{digest}"
    if not ref:
        return Provenance(digest, "labels", None, "only a base digest label, no name to open")
    try:
        ids = base_diff_ids(ref, platform)
    except Exception as exc:  # best effort: the labels are hints, not user input
        return Provenance(ref, "labels", None, f"base not reachable: {exc}")
    return Provenance(ref, "labels", shared_prefix(diff_ids, ids))


def mark(findings: Sequence[Finding], provenance: Provenance) -> list[Finding]:
    return [f.with_(in_base=provenance.in_base(f.layer)) for f in findings]
