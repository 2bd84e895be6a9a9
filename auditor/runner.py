"""Run checks against an image: every check yields exactly one result.

A check that raises `Skip` is skipped with its reason; one that raises anything else
becomes an `error` result and the scan goes on. Findings get provenance (the layer
and history step that last wrote their path) filled in here, once, for every check.

Checks that compare against today's date come in two phases: `gather(ctx)` reads what
the check needs from the image into plain data (never asking for the date), and
`judge(ctx, gathered)` applies the date. The result cache keeps the gathered data, so
on a later day such a check is judged again without reading a single layer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditor.check import Check, CheckFunction
from auditor.context import CheckContext
from auditor.facts import Facts
from auditor.findings import CheckResult, Finding, Skip, Status
from auditor.memory import gc_paused
from auditor.results import ImageResults


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
    jobs: int = 1,
) -> RunOutcome:
    """`stored`: this image's result cache; a check whose result it holds for the same
    options and given inputs (and date, if the check asked for one) is not run again.
    When any check has to run, the layers are read before the first one does, so that
    a damaged layer is the user's input error (exit 2), not one check's error result.
    `jobs`: the scan's process budget (0: one per core; 1: no second process)."""
    planned = []
    for check in checks:
        ctx = CheckContext(facts, (options or {}).get(check.info.id, {}), strict)
        key = _key(stored, check, ctx.options, facts)
        if check.gather is not None:
            recalled: Any = stored.recall_data(key) if stored and key else None
        else:
            recalled = _recall(stored, key, ctx)
        planned.append((check, ctx, key, recalled))
    if any(recalled is None for *_, recalled in planned):
        facts.read_layers()  # now, outside any check
    results: list[CheckResult] = []
    findings: list[Finding] = []
    with gc_paused():  # facts build many small objects; see gc_paused
        _run_planned(planned, facts, stored, results, findings, jobs)
    findings.sort(key=Finding.sort_key)
    return RunOutcome(results, findings)


def _run_planned(
    planned: list[tuple[Check, CheckContext, str | None, Any]],
    facts: Facts,
    stored: ImageResults | None,
    results: list[CheckResult],
    findings: list[Finding],
    jobs: int,
) -> None:
    """Checks marked OFFLOAD (most walk the tree on their own; the set is chosen so that
    both processes end at about the same time on the bench image) run in a second
    process beside the others when there are two cores (auditor/second_process.py)."""
    beside = [
        i
        for i, (check, _, _, recalled) in enumerate(planned)
        if check.offload and check.gather is None and recalled is None
    ]
    pending = None
    if beside:
        # deferred: start-up time, see README "Performance" (multiprocessing, ~10 ms: a
        # scan answered from the result cache runs no check)
        from auditor import second_process

        if second_process.usable(jobs) and _small_enough_to_fork(facts):

            def beside_work(partner: second_process.Partner) -> list[Any]:
                facts.share_inventory(partner)
                return [_run_as_data(planned[i], facts) for i in beside]

            pending = second_process.start(beside_work, partnered=True)
            if pending is not None and pending.partner is not None:
                # the inventory, which checks of both processes need, split between them
                facts.share_inventory(pending.partner)
    done: dict[int, tuple[CheckResult, list[Finding], dt.date | None]] = {}
    for i, (check, ctx, key, recalled) in enumerate(planned):
        if pending is not None and i in beside:
            continue
        if check.gather is not None:
            done[i] = (*_run_two_phase(check, ctx, facts, stored, key, recalled), None)
        elif recalled is not None:
            done[i] = (*recalled, None)
        else:
            done[i] = (*_run(check, ctx, facts), ctx.today_used)
    if pending is not None:
        data = pending.result()
        for i, row in zip(beside, data or [None] * len(beside)):
            if row is None:  # the second process died: run the check here
                check, ctx, _, _ = planned[i]
                done[i] = (*_run(check, ctx, facts), ctx.today_used)
                continue
            result, found, today = row
            done[i] = (
                CheckResult.from_json(result),
                [Finding.from_json(f) for f in found],
                dt.date.fromisoformat(today) if today else None,
            )
    for i, (check, _, key, recalled) in enumerate(planned):
        result, found, today = done[i]
        fresh = recalled is None and check.gather is None
        if stored and key and fresh and result.status is not Status.ERROR:
            result, found = stored.remember(key, result, found, today)
        results.append(result)
        findings.extend(found)


#: Surviving paths above which checks do not fork a second process. The fork shares the
#: merged model copy-on-write, but CPython writes a reference count into every object a
#: walk touches, so the child ends up copying the pages of the whole model: ~450 bytes
#: per path, which doubled the process tree's memory on a 1M-file image (919 MB PSS, of
#: which 466 MB in the child; bench/PROFILE.md). Below this, the copy is small and the
#: second core's time is worth it (the 100k-path bench image keeps it).
SECOND_PROCESS_MAX_PATHS = 250_000


def _small_enough_to_fork(facts: Facts) -> bool:
    return len(facts.fs.nodes) <= SECOND_PROCESS_MAX_PATHS


def _run_as_data(
    entry: tuple[Check, CheckContext, str | None, Any], facts: Facts
) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """A check's outcome as plain data, to cross the pipe from the second process."""
    check, ctx, _, _ = entry
    result, found = _run(check, ctx, facts)
    today = ctx.today_used.isoformat() if ctx.today_used else None
    return result.to_json(), [f.to_json() for f in found], today


def _run_two_phase(
    check: Check,
    ctx: CheckContext,
    facts: Facts,
    stored: ImageResults | None,
    key: str | None,
    recalled: Any,
) -> tuple[CheckResult, list[Finding]]:
    """Gather (unless the cache holds the gathered data), then judge, always."""
    assert check.gather is not None and check.judge is not None
    gather, judge = check.gather, check.judge
    gathered = recalled
    if gathered is None:
        try:
            gathered = gather(ctx)
        except Exception:  # reported as the check's error by the run below
            return _run(check, ctx, facts)
        if stored and key and ctx.today_used is None:
            gathered = stored.remember_data(key, check.info.id, gathered)
    return _run(check, ctx, facts, lambda c: judge(c, gathered))


def _recall(
    stored: ImageResults | None, key: str | None, ctx: CheckContext
) -> tuple[CheckResult, list[Finding]] | None:
    if stored is None or key is None:
        return None
    try:
        return stored.recall(key, ctx.check_date)
    except ValueError:  # a malformed `today` option: the check itself will say so
        return None


def _key(
    stored: ImageResults | None, check: Check, options: dict[str, Any], facts: Facts
) -> str | None:
    if stored is None:
        return None
    inputs = {name: facts.given_identity(name) for name in check.inputs}
    return stored.check_key(check.info.id, options, inputs)


def _run(
    check: Check, ctx: CheckContext, facts: Facts, run: CheckFunction | None = None
) -> tuple[CheckResult, list[Finding]]:
    info = check.info
    try:
        found = [_with_provenance(f, facts) for f in (run or check.run)(ctx)]
    except Skip as skip:
        return CheckResult(info.id, info.name, Status.SKIPPED, str(skip)), []
    except Exception as exc:  # a broken check must not break the scan
        import traceback  # deferred: only a broken check needs it (start-up time)

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
    if not facts.fs_loaded:
        # Only two-phase checks judge without the layers; their findings carry the
        # layer gathered with them, and a path without one is not in the image.
        return finding
    node = facts.fs.get(finding.path)
    if node is None:
        return finding
    return finding.with_(layer=node.layer, created_by=_step(facts, node.layer))


def _step(facts: Facts, layer: int) -> str | None:
    steps = facts.created_by
    return steps[layer] if 0 <= layer < len(steps) else None
