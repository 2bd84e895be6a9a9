"""Run checks against an image: every check yields exactly one result.

A check that raises `Skip` is skipped with its reason; one that raises anything else
becomes an `error` result and the scan goes on. Findings get provenance (the layer
and history step that last wrote their path) filled in here, once, for every check.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from auditor.context import CheckContext
from auditor.facts import Facts
from auditor.findings import CheckInfo, CheckResult, Finding, Skip, Status

CheckFunction = Callable[[CheckContext], Iterable[Finding]]


@dataclass(frozen=True)
class Check:
    info: CheckInfo
    run: CheckFunction
    doc: str
    options: dict[str, Any] = field(default_factory=dict)  # option -> default (config keys)

    @classmethod
    def from_module(cls, module: ModuleType) -> Check:
        options = dict(getattr(module, "OPTIONS", {}))
        return cls(module.INFO, module.run, (module.__doc__ or "").strip(), options)


@dataclass
class RunOutcome:
    results: list[CheckResult]
    findings: list[Finding]


def run_checks(
    checks: Sequence[Check],
    facts: Facts,
    options: dict[str, dict[str, Any]] | None = None,
    strict: bool = False,
) -> RunOutcome:
    results: list[CheckResult] = []
    findings: list[Finding] = []
    for check in checks:
        ctx = CheckContext(facts, (options or {}).get(check.info.id, {}), strict)
        try:
            found = [_with_provenance(f, facts) for f in check.run(ctx)]
        except Skip as skip:
            results.append(CheckResult(check.info.id, check.info.name, Status.SKIPPED, str(skip)))
            continue
        except Exception as exc:  # a broken check must not break the scan
            where = traceback.extract_tb(exc.__traceback__)[-1]
            reason = (
                f"{type(exc).__name__}: {exc} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
            )
            results.append(CheckResult(check.info.id, check.info.name, Status.ERROR, reason))
            continue
        status = Status.FAILED if found else Status.PASSED
        results.append(CheckResult(check.info.id, check.info.name, status))
        findings.extend(found)
    findings.sort(key=Finding.sort_key)
    return RunOutcome(results, findings)


def _with_provenance(finding: Finding, facts: Facts) -> Finding:
    if finding.layer is not None or finding.path is None:
        if finding.layer is not None and finding.created_by is None:
            return finding.with_(created_by=_step(facts, finding.layer))
        return finding
    node = facts.fs.get(finding.path)
    if node is None:
        return finding
    return finding.with_(layer=node.layer, created_by=_step(facts, node.layer))


def _step(facts: Facts, layer: int) -> str | None:
    steps = facts.loaded.created_by
    return steps[layer] if 0 <= layer < len(steps) else None
