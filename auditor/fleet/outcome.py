"""The small values fleet tasks return to the client, and what the client keeps of an
image: shared by the tasks (auditor/fleet/tasks.py), the engine, the summary and the
store (auditor/fleet/runs.py), none of which needs another's code to name them."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any

from auditor.findings import Finding
from auditor.layerindex import LayerIndex
from auditor.references import split_reference
from auditor.report.model import Report
from auditor.sources.interface import Image

WORST = 5  # findings kept per image in the outcome (the full report is in the store)


@dataclass
class Outcome:
    """What the client keeps of one image: enough for the fleet summary."""

    reference: str
    repository: str = ""
    tag: str = ""
    digest: str = ""
    size: int = 0
    compressed_size: int | None = None
    grade: str | None = None
    score: float | None = None
    findings: int = 0
    severities: dict[str, int] = field(default_factory=dict)
    worst: list[dict[str, Any]] = field(default_factory=list)
    # every failing check once: its worst finding (check_id, name, severity, message)
    checks: list[dict[str, Any]] = field(default_factory=list)
    layers: int = 0
    # layer tasks ("digest#generation") this image used that read the blob / hit the cache
    layers_read: list[str] = field(default_factory=list)
    layers_cached: list[str] = field(default_factory=list)
    scan_id: int | None = None
    error: str | None = None
    host: str = ""
    pid: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Resolved:
    reference: str
    image: Image | None = None
    error: str | None = None
    outcome: Outcome | None = None  # the whole report came from the result cache


@dataclass
class LayerResult:
    """One layer's index, and whether producing it read the blob (False: cache hit)."""

    digest: str  # of the layer's stored blob
    index: LayerIndex | None
    read: bool
    error: str | None = None
    generation: int = 0

    @property
    def key(self) -> str:
        return f"{self.digest}#{self.generation}"


def where() -> dict[str, Any]:
    """The worker a value was made on (host and process), for the summary."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _worst_keys(finding: Finding) -> dict[str, Any]:
    return {
        "check_id": finding.check_id,
        "name": finding.name,
        "severity": str(finding.severity),
        "message": finding.message,
        "path": finding.path,
    }


def outcome_of(reference: str, resolved_as: str | None, report: Report) -> Outcome:
    image = report.image
    scores = report.scores
    findings = sorted(report.findings or (), key=lambda f: (-f.severity, f.check_id))
    severities: dict[str, int] = {}
    for f in findings:
        severities[str(f.severity)] = severities.get(str(f.severity), 0) + 1
    checks: dict[str, dict[str, Any]] = {}
    for f in findings:  # sorted worst first: the first finding of a check is its worst
        checks.setdefault(f.check_id, _worst_keys(f))
    repository, tag = split_reference(resolved_as or reference)
    return Outcome(
        reference=reference,
        repository=repository,
        tag=tag,
        digest=str(image.get("digest") or ""),
        size=int(image.get("size") or 0),
        compressed_size=image.get("compressed_size"),
        grade=scores.grade if scores else None,
        score=scores.overall if scores else None,
        findings=len(findings),
        severities=severities,  # worst first, as the findings are
        worst=[_worst_keys(f) for f in findings[:WORST]],
        checks=list(checks.values()),
        layers=len(image.get("layers") or []),
        **where(),
    )
