"""What every renderer needs to know about the checks that ran, and the counts they show.

The report's `checks` section lists each check's public metadata and documentation
(`CheckMeta`), so that every format (SARIF rules, JUnit test cases, findings grouped by
dimension) renders from the report alone: a report stored today renders the same next
year, whatever checks the installed imgaudit ships. Older reports without the section
fall back to the installed check list (`auditor.checks.by_id`).
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.check import Check
from auditor.findings import CheckResult, Finding
from auditor.report.model import CheckMeta, Report

DIMENSIONS = ("secure", "small", "fast", "usable")
SEVERITIES = ("error", "warning", "info")  # most severe first
STATUSES = ("passed", "failed", "skipped", "error")


def meta_of(check: Check) -> CheckMeta:
    info = check.info
    return CheckMeta(
        id=info.id,
        name=info.name,
        title=info.title,
        dimension=info.dimension.value,
        severity=str(info.severity),
        criterion=info.criterion,
        help=check.doc,
    )


def checks_section(checks: Iterable[Check]) -> tuple[CheckMeta, ...]:
    """The report's `checks` part: metadata of every check that ran, sorted by ID."""
    return tuple(meta_of(c) for c in sorted(checks, key=lambda c: c.info.id))


def catalog(report: Report) -> dict[str, CheckMeta]:
    """Metadata per check ID for every check named in the report's results or findings."""
    out = {meta.id: meta for meta in report.checks or ()}
    named = [(r.check_id, r.name) for r in report.results or ()]
    named += [(f.check_id, f.name) for f in report.findings or ()]
    for check_id, name in named:
        if check_id not in out:
            out[check_id] = _installed(check_id) or CheckMeta(
                check_id, name or check_id, name or check_id, "other", "warning", "", ""
            )
    return out


def _installed(check_id: str) -> CheckMeta | None:
    from auditor.checks import by_id  # the installed list: only for reports without `checks`

    check: Check | None = by_id(check_id)
    return meta_of(check) if check is not None else None


def dimension_of(finding: Finding, metas: dict[str, CheckMeta]) -> str:
    meta = metas.get(finding.check_id)
    return meta.dimension if meta else "other"


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts[str(f.severity)] += 1
    return counts


def count_text(counts: dict[str, int]) -> str:
    """`1 error, 2 warnings, 0 info`."""
    return ", ".join(f"{n} {s}{'s' if n != 1 and s != 'info' else ''}" for s, n in counts.items())


def status_counts(results: Iterable[CheckResult]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for r in results:
        counts[r.status.value] += 1
    return counts


def fmt_score(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
