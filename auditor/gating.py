"""Whether a scan fails CI: findings at or above `--fail-on`, or a score under `--fail-under`.

Kept apart from the scan command so the rule is one small tested function: exit 1
when either threshold trips, 0 otherwise (2 is for usage and input errors, raised
before any of this runs).
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.findings import Finding, Severity


def failures(
    severities: Sequence[Severity], overall: float, fail_on: Severity, fail_under: float | None
) -> list[str]:
    """Why the gate trips (empty: it passes), from the findings' severities and the score."""
    reasons = []
    tripping = [s for s in severities if s >= fail_on]
    if tripping:
        reasons.append(f"{len(tripping)} finding(s) at or above {fail_on}")
    if fail_under is not None and overall < fail_under:
        reasons.append(f"score {overall} is under {fail_under:g}")
    return reasons


def report_failures(
    findings: Sequence[Finding], overall: float | None, fail_on: Severity, fail_under: float | None
) -> list[str]:
    """`failures` over findings (a report's, or a family comparison's); `overall`: the
    report's score (None: not scored, so no score can trip the gate)."""
    severities = [f.severity for f in findings]
    return failures(severities, overall if overall is not None else 100, fail_on, fail_under)
