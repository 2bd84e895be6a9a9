"""The report: the JSON contract of design.md (schema_version 1) as one frozen value.

`auditor.audit` builds it, every output format renders it, and the history store,
`diff` and SZ005 baselines keep its JSON (`to_json`); `from_json` reads a stored one
back. What code computes on is typed (findings, check results, scores, the checks'
metadata); the descriptive sections (source, image, waste, sizes, facts, config) are
JSON objects, as the schema describes them. A section absent from the JSON is None
here (renderers say "not scored", "checks not run"), so `from_json(r.to_json())`
gives `r` back, and unknown top-level sections (a later schema addition) are kept.

The JSON objects are shared with the JSON `to_json` returns, not copied: treat both
as read-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor import __version__
from auditor.findings import CheckResult, Finding
from auditor.scoring import Scores

SCHEMA_VERSION = 1
TOOL = {"name": "imgaudit", "version": __version__}
JSON = Mapping[str, Any]


@dataclass(frozen=True)
class CheckMeta:
    """A check's public metadata and documentation, carried in the report (`checks`)
    so that a stored report renders the same whatever checks a later imgaudit ships."""

    id: str
    name: str
    title: str
    dimension: str  # secure | small | fast | usable, or "other" when unknown
    severity: str
    criterion: str
    help: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title,
            "dimension": self.dimension,
            "severity": self.severity,
            "criterion": self.criterion,
            "help": self.help,
        }

    @classmethod
    def from_json(cls, data: JSON) -> CheckMeta:
        return cls(
            id=data["id"],
            name=data.get("name", data["id"]),
            title=data.get("title", ""),
            dimension=data.get("dimension") or "other",
            severity=data.get("severity", "warning"),
            criterion=data.get("criterion", ""),
            help=data.get("help", ""),
        )


_KNOWN = frozenset(
    {"schema_version", "tool", "source", "image", "waste", "sizes", "skipped", "facts",
     "checks", "results", "findings", "scores", "config", "dockerfile"}
)  # fmt: skip


@dataclass(frozen=True)
class Report:
    source: JSON  # {transport, reference, path?}: the only part that differs by transport
    image: JSON  # reference, digest, platform, config summary, sizes, layers
    waste: JSON
    sizes: JSON | None = None  # the largest directories
    skipped: tuple[JSON, ...] | None = None  # tar entries the reader did not index
    facts: JSON | None = None
    results: tuple[CheckResult, ...] | None = None  # None: checks were not run
    findings: tuple[Finding, ...] | None = None
    checks: tuple[CheckMeta, ...] | None = None
    scores: Scores | None = None  # None: not scored
    config: JSON | None = None  # ignores applied and expired
    dockerfile: JSON | None = None  # history steps matched to --dockerfile's lines
    tool: JSON = field(default_factory=lambda: dict(TOOL))
    schema_version: int = SCHEMA_VERSION
    extra: JSON = field(default_factory=dict)  # top-level sections this version does not know

    @property
    def reference(self) -> str:
        """The image as the user knows it: its own reference, else what was scanned."""
        return str(self.image.get("reference") or self.source.get("reference") or "")

    def to_json(self) -> dict[str, Any]:
        """The JSON report (what `--format json` prints, with sorted keys)."""
        out: dict[str, Any] = {
            **self.extra,
            "schema_version": self.schema_version,
            "tool": self.tool,
            "source": self.source,
            "image": self.image,
            "waste": self.waste,
        }
        optional: dict[str, Any] = {
            "sizes": self.sizes,
            "skipped": None if self.skipped is None else list(self.skipped),
            "facts": self.facts,
            "checks": _list(self.checks),
            "results": _list(self.results),
            "findings": _list(self.findings),
            "scores": self.scores.to_json() if self.scores is not None else None,
            "config": self.config,
            "dockerfile": self.dockerfile,
        }
        out.update((k, v) for k, v in optional.items() if v is not None)
        return out

    @classmethod
    def from_json(cls, data: JSON) -> Report:
        """A report read back (a file `--format json` wrote, a stored scan). Raises
        ValueError when `data` is not a schema_version 1 report."""
        if not isinstance(data, Mapping) or data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError("not an imgaudit report of schema_version 1")
        try:
            return cls(
                source=data["source"],
                image=data["image"],
                waste=data["waste"],
                sizes=data.get("sizes"),
                skipped=_tuple(data.get("skipped"), dict),
                facts=data.get("facts"),
                results=_tuple(data.get("results"), CheckResult.from_json),
                findings=_tuple(data.get("findings"), Finding.from_json),
                checks=_tuple(data.get("checks"), CheckMeta.from_json),
                scores=Scores.from_json(data["scores"]) if "scores" in data else None,
                config=data.get("config"),
                dockerfile=data.get("dockerfile"),
                tool=data.get("tool") or dict(TOOL),
                schema_version=SCHEMA_VERSION,
                extra={k: v for k, v in data.items() if k not in _KNOWN},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an imgaudit report: {type(exc).__name__}: {exc}") from None


def _list(items: Sequence[Any] | None) -> list[Any] | None:
    if items is None:
        return None
    return [item.to_json() for item in items]


def _tuple(items: Any, make: Any) -> tuple[Any, ...] | None:
    if items is None:
        return None
    return tuple(make(item) for item in items)
