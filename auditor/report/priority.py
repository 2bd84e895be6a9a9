"""The one order in which people read findings: what to fix first comes first.

Errors, then warnings, then info; within a severity, findings in the user's own layers
before those in base-image layers (the user chose to add their own, and can change
them); then the bytes at stake, largest first; then check ID and path, so the order is
total and the same on every run. The table, the markdown comment and the summary line
on stderr all read findings through `by_priority`, so they can never disagree about
what is worst. (The JSON report keeps its own stable order, `Finding.sort_key`: a
contract that diff tools and stored reports rely on.)

Info findings are context, not work: unless the reader asks (`--verbose`), the table
and markdown fold them into one line per check with a count (`condensed`). The
machine formats (JSON, SARIF, JUnit, HTML) always carry every finding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from auditor.findings import Finding, Severity

#: How many findings the summary line on stderr names.
TOP = 3


def priority(finding: Finding) -> tuple[int, int, int, str, str, str]:
    """Sort key: severity, own before base (unknown origin counts as own, as the gate
    and the scores count it), bytes."""
    return (
        -int(finding.severity),
        1 if finding.origin == "base" else 0,
        -(finding.bytes or 0),
        finding.check_id,
        finding.path or "",
        finding.message,
    )


def by_priority(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=priority)


def top(findings: Iterable[Finding], n: int = TOP) -> list[Finding]:
    """The `n` findings to fix first."""
    return by_priority(findings)[:n]


@dataclass(frozen=True)
class InfoGroup:
    """One check's info findings, folded into one line."""

    check_id: str
    name: str
    findings: tuple[Finding, ...]  # in priority order

    @property
    def count(self) -> int:
        return len(self.findings)

    @property
    def bytes(self) -> int:
        return sum(f.bytes or 0 for f in self.findings)


def condensed(
    findings: Iterable[Finding], *, verbose: bool = False
) -> tuple[list[Finding], list[InfoGroup]]:
    """Findings to list one by one (priority order) and the info ones folded per check
    (in the order of each check's first finding). With `verbose`, nothing is folded."""
    ordered = by_priority(findings)
    if verbose:
        return ordered, []
    listed = [f for f in ordered if f.severity > Severity.INFO]
    groups: dict[str, list[Finding]] = {}
    for f in ordered:
        if f.severity == Severity.INFO:
            groups.setdefault(f.check_id, []).append(f)
    return listed, [InfoGroup(cid, fs[0].name, tuple(fs)) for cid, fs in groups.items()]
