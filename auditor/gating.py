"""Whether a scan fails CI: findings at or above `--fail-on`, or a score under `--fail-under`.

Kept apart from the scan command so the rule is one small tested function: exit 1
when either threshold trips, 0 otherwise (2 is for usage and input errors, raised
before any of this runs).

Only the team's own findings trip `--fail-on` by default: a finding whose origin is
the base image (auditor/facts/provenance.py) is shown and scored, but the team cannot
fix it in its own Dockerfile, and a gate that fails on what nobody in the pipeline can
change gets switched off. `--strict` gates on the base's findings too. A finding of
unknown origin (no base boundary known) counts as the team's.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.findings import Finding, Severity


def failures(
    severities: Sequence[Severity], overall: float, fail_on: Severity, fail_under: float | None
) -> list[str]:
    """Why the gate trips (empty: it passes), from the gated findings' severities and
    the score."""
    reasons = []
    tripping = [s for s in severities if s >= fail_on]
    if tripping:
        reasons.append(f"{len(tripping)} finding(s) at or above {fail_on}")
    if fail_under is not None and overall < fail_under:
        reasons.append(f"score {overall} is under {fail_under:g}")
    return reasons


def gated(findings: Sequence[Finding], strict: bool = False) -> list[Finding]:
    """The findings `--fail-on` counts: all of them under `--strict`, else all but the
    base image's."""
    return [f for f in findings if strict or f.origin != "base"]


def report_failures(
    findings: Sequence[Finding],
    overall: float | None,
    fail_on: Severity,
    fail_under: float | None,
    strict: bool = False,
) -> list[str]:
    """`failures` over findings (a report's, or a family comparison's); `overall`: the
    report's score (None: not scored, so no score can trip the gate)."""
    severities = [f.severity for f in gated(findings, strict)]
    return failures(severities, overall if overall is not None else 100, fail_on, fail_under)


def base_held_back(findings: Sequence[Finding], fail_on: Severity, strict: bool = False) -> int:
    """How many of the base image's findings are at or above `fail_on` but not gated
    (the scan says so, so that a passing gate never hides them silently)."""
    if strict:
        return 0
    return sum(1 for f in findings if f.origin == "base" and f.severity >= fail_on)
