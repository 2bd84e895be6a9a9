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
from auditor.results import ImageResults, Uncacheable

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
    stored: ImageResults | None = None,
) -> RunOutcome:
    """`stored`: this image's result cache; a check whose result it holds for the same
    options (and date, if the check asked for one) is not run again. When any check has
    to run, the layers are read before the first one does, so that a damaged layer is
    the user's input error (exit 2), not one check's error result."""
    planned = []
    for check in checks:
        ctx = CheckContext(facts, (options or {}).get(check.info.id, {}), strict)
        key = _key(stored, check.info.id, ctx.options)
        recalled = _recall(stored, key, ctx)
        planned.append((check, ctx, key, recalled))
    if any(recalled is None for *_, recalled in planned):
        facts.fs  # noqa: B018 - read the layers now, outside any check
    results: list[CheckResult] = []
    findings: list[Finding] = []
    for check, ctx, key, recalled in planned:
        result, found = recalled or _run(check, ctx, facts)
        if stored and key and recalled is None and result.status is not Status.ERROR:
            result, found = stored.remember(key, result, found, ctx.today_used)
        results.append(result)
        findings.extend(found)
    findings.sort(key=Finding.sort_key)
    return RunOutcome(results, findings)


def _recall(
    stored: ImageResults | None, key: str | None, ctx: CheckContext
) -> tuple[CheckResult, list[Finding]] | None:
    if stored is None or key is None:
        return None
    try:
        return stored.recall(key, ctx.check_date)
    except ValueError:  # a malformed `today` option: the check itself will say so
        return None


def _key(stored: ImageResults | None, check_id: str, options: dict[str, Any]) -> str | None:
    if stored is None:
        return None
    try:
        return stored.check_key(check_id, options)
    except Uncacheable:
        return None


def _run(check: Check, ctx: CheckContext, facts: Facts) -> tuple[CheckResult, list[Finding]]:
    info = check.info
    try:
        found = [_with_provenance(f, facts) for f in check.run(ctx)]
    except Skip as skip:
        return CheckResult(info.id, info.name, Status.SKIPPED, str(skip)), []
    except Exception as exc:  # a broken check must not break the scan
        where = traceback.extract_tb(exc.__traceback__)[-1]
        reason = f"{type(exc).__name__}: {exc} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        return CheckResult(info.id, info.name, Status.ERROR, reason), []
    status = Status.FAILED if found else Status.PASSED
    return CheckResult(info.id, info.name, status), found


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
