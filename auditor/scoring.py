"""Findings -> four dimension scores, an overall 0-100 and a letter grade.

A pure function over data: the weights live in `auditor/data/scoring.json` so they
can be read, documented and tuned without touching code. The model is deliberately
simple and explainable: each dimension starts at 100, each failing check costs an
amount set by its worst finding's severity plus a little for each further finding
(capped per check, so a check that lists 500 files does not outweigh one leaked
secret), the overall score is the weighted mean of the dimensions, and the grade it
earns is capped by the worst finding of the team's own, so the letter says what kind of
problem is left: with an error (root, an import that fails) at best a C, with a warning
(a writable venv) at best a B; an A has nothing of the team's own to fix.

Whose a finding is matters (`Finding.origin`, auditor/facts/provenance.py): what the
team's own layers and config do is fully theirs; what sits in the base image's layers
was chosen as a whole with `FROM` and is fixed by choosing another base, so it weighs
`origin_weight["base"]` of an own finding and does not cap the grade. The exceptions
(`full_weight_checks`) judge the choice of base itself, an end-of-life OS or Python,
which is the `FROM` line's fault wherever it sits, or a secret, which leaks whoever
left it. A finding of unknown origin (no base boundary known, or not marked) counts as
own, as gating does.
The weights were calibrated against a hand-ranked set of realistic images
(tests/data/ranking.toml, tests/realistic/test_ranking.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from auditor.findings import Dimension, Finding, Severity


@dataclass(frozen=True)
class Cost:
    first: float
    more: float
    cap: float


@dataclass(frozen=True)
class Weights:
    cost: Mapping[Severity, Cost]
    dimension_weights: Mapping[Dimension, float]
    grades: tuple[tuple[str, float], ...]  # (grade, minimum overall), best first
    max_grade_with_errors: str
    # the best grade with a full-weight warning of the team's (None: no such cap)
    max_grade_with_warnings: str | None = None
    # origin ("own", "base", "unknown") -> share of an own finding's cost; missing = 1
    origin_weight: Mapping[str, float] = field(default_factory=dict)
    # checks that judge the base as chosen (its OS, its Python): full weight anywhere
    full_weight_checks: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Weights:
        return cls(
            cost={Severity.parse(k): Cost(**v) for k, v in data["cost"].items()},
            dimension_weights={
                Dimension(k): float(v) for k, v in data["dimension_weights"].items()
            },
            grades=tuple((str(g), float(m)) for g, m in data["grades"]),
            max_grade_with_errors=str(data["max_grade_with_errors"]),
            max_grade_with_warnings=data.get("max_grade_with_warnings"),
            origin_weight={str(k): float(v) for k, v in data.get("origin_weight", {}).items()},
            full_weight_checks=frozenset(str(c) for c in data.get("full_weight_checks", ())),
        )

    def weight_of(self, finding: Finding) -> float:
        """How much of its cost a finding counts: 1 for the team's own (and unknown)
        origin; less for the base's files, except where the check judges the choice of
        base itself (an end-of-life OS is the `FROM` line's fault, wherever it sits)."""
        if finding.check_id in self.full_weight_checks:
            return 1.0
        return self.origin_weight.get(finding.origin or "unknown", 1.0)


@lru_cache(maxsize=1)
def default_weights() -> Weights:
    text = resources.files("auditor").joinpath("data/scoring.json").read_text("utf-8")
    return Weights.from_json(json.loads(text))


@dataclass(frozen=True)
class Scores:
    overall: float  # 0-100; `score` gives whole numbers, a stored report may hold any
    grade: str
    dimensions: Mapping[Dimension, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "overall": self.overall,
            "grade": self.grade,
            **{d.value: self.dimensions[d] for d in Dimension},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scores:
        return cls(
            overall=_number(data["overall"]),
            grade=str(data["grade"]),
            dimensions={d: _number(data[d.value]) for d in Dimension},
        )


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a score is a number, not {value!r}")
    return value


def check_cost(findings: list[Finding], weights: Weights) -> float:
    """What one check's findings cost its dimension: the findings of each weight (own,
    base) are costed as a group (worst severity first, a little per further one,
    capped) times that weight, and the sum is capped by the cap of the check's worst severity,
    so a check never costs more for being found in both the base and own layers."""
    if not findings:
        return 0.0
    by_weight: dict[float, list[Finding]] = {}
    for f in findings:
        by_weight.setdefault(weights.weight_of(f), []).append(f)
    total = 0.0
    for weight, group in by_weight.items():
        cost = weights.cost[max(f.severity for f in group)]
        total += weight * min(cost.cap, cost.first + cost.more * (len(group) - 1))
    return min(weights.cost[max(f.severity for f in findings)].cap, total)


def counts_in_full(finding: Finding, weights: Weights) -> bool:
    """Whether a finding is the team's to answer for in full (and so may cap the grade):
    a slim base's `_tkinter` that cannot load costs, but is no reason to call an app
    image built well on it a B."""
    return weights.weight_of(finding) >= 1.0


def grade_for(overall: float, has_error: bool, weights: Weights, has_warning: bool = False) -> str:
    """The grade the overall score earns, capped by the worst full-weight finding: an
    error of the team's own is at best `max_grade_with_errors`, a warning at best
    `max_grade_with_warnings`, so the letter says what kind of problem is left."""
    names = [g for g, _ in weights.grades]
    grade = next((g for g, minimum in weights.grades if overall >= minimum), names[-1])
    caps = [weights.max_grade_with_errors] if has_error else []
    if has_warning and weights.max_grade_with_warnings is not None:
        caps.append(weights.max_grade_with_warnings)
    return max([grade, *caps], key=names.index)


def score(
    findings: Iterable[Finding],
    dimensions: Mapping[str, Dimension],
    weights: Weights | None = None,
) -> Scores:
    """`dimensions` maps each check ID to the dimension it scores against."""
    weights = weights or default_weights()
    by_check: dict[str, list[Finding]] = {}
    for f in findings:
        by_check.setdefault(f.check_id, []).append(f)
    lost = dict.fromkeys(Dimension, 0.0)
    for check_id, found in by_check.items():
        dim = dimensions.get(check_id)
        if dim is not None:
            lost[dim] += check_cost(found, weights)
    dims = {d: _round(max(0.0, 100 - lost[d])) for d in Dimension}
    total_weight = sum(weights.dimension_weights.values()) or 1.0
    overall_raw = (
        sum(max(0.0, 100 - lost[d]) * weights.dimension_weights.get(d, 0.0) for d in Dimension)
        / total_weight
    )
    full = [f.severity for fs in by_check.values() for f in fs if counts_in_full(f, weights)]
    overall = _round(overall_raw)
    grade = grade_for(
        overall, Severity.ERROR in full, weights, has_warning=Severity.WARNING in full
    )
    return Scores(overall, grade, dims)


def _round(value: float) -> int:
    """Half up (89.5 -> 90), not Python's half-to-even: scores must be predictable."""
    return int(value + 0.5)
