"""What every renderer needs to know about the checks that ran, carried in the report.

The report's `checks` section lists each check's public metadata (ID, slug, title,
dimension, default severity, criterion) and its documentation (the module docstring),
so that every format (SARIF rules, JUnit test cases, findings grouped by dimension)
renders from the report alone: a report stored today renders the same next year,
whatever checks the installed imgaudit ships. Older reports without the section fall
back to the installed check list (`checks.by_id`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.check import Check

DIMENSIONS = ("secure", "small", "fast", "usable")
SEVERITIES = ("error", "warning", "info")  # most severe first


@dataclass(frozen=True)
class CheckMeta:
    id: str
    name: str
    title: str
    dimension: str  # one of DIMENSIONS, or "other" when unknown
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


def checks_section(checks: Iterable[Check]) -> list[dict[str, Any]]:
    """The report's `checks` part: metadata of every check that ran, sorted by ID."""
    return [meta_of(c).to_json() for c in sorted(checks, key=lambda c: c.info.id)]


def catalog(report: dict[str, Any]) -> dict[str, CheckMeta]:
    """Metadata per check ID for every check named in the report's results or findings."""
    out: dict[str, CheckMeta] = {}
    for item in report.get("checks") or []:
        out[item["id"]] = CheckMeta(
            id=item["id"],
            name=item.get("name", item["id"]),
            title=item.get("title", ""),
            dimension=item.get("dimension") or "other",
            severity=item.get("severity", "warning"),
            criterion=item.get("criterion", ""),
            help=item.get("help", ""),
        )
    named = [(r["check_id"], r.get("name", "")) for r in report.get("results") or []]
    named += [(f["check_id"], f.get("name", "")) for f in report.get("findings") or []]
    for check_id, name in named:
        if check_id not in out:
            out[check_id] = _installed(check_id) or CheckMeta(
                check_id, name or check_id, name or check_id, "other", "warning", "", ""
            )
    return out


def _installed(check_id: str) -> CheckMeta | None:
    from auditor.checks import by_id  # the installed list: only for reports without `checks`

    check = by_id(check_id)
    return meta_of(check) if check is not None else None


def dimension_of(finding: dict[str, Any], metas: dict[str, CheckMeta]) -> str:
    explicit = finding.get("dimension")
    if isinstance(explicit, str) and explicit:
        return explicit
    meta = metas.get(finding["check_id"])
    return meta.dimension if meta else "other"


def severity_counts(findings: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    return counts


def count_text(counts: dict[str, int]) -> str:
    """`1 error, 2 warnings, 0 info`."""
    return ", ".join(f"{n} {s}{'s' if n != 1 and s != 'info' else ''}" for s, n in counts.items())


def status_counts(results: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(("passed", "failed", "skipped", "error"), 0)
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts


def score_value(value: Any) -> float | None:
    """A dimension score as a number (the contract: 0-100), tolerating {"score": n}."""
    if isinstance(value, dict):
        value = value.get("score")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def scores_of(report: dict[str, Any]) -> dict[str, Any] | None:
    """The `scores` section, or None when the report was not scored."""
    scores = report.get("scores")
    return scores if isinstance(scores, dict) and scores else None


def fmt_score(value: Any) -> str:
    number = score_value(value)
    return "-" if number is None else f"{number:.0f}"


def grouped(
    findings: Sequence[dict[str, Any]], metas: dict[str, CheckMeta]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Findings by dimension (secure, small, fast, usable, other), most severe first."""
    order = {s: i for i, s in enumerate(SEVERITIES)}
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        groups.setdefault(dimension_of(f, metas), []).append(f)
    dims = [d for d in DIMENSIONS if d in groups] + sorted(d for d in groups if d not in DIMENSIONS)
    return [
        (
            d,
            sorted(
                groups[d],
                key=lambda f: (
                    order.get(f["severity"], 9),
                    f["check_id"],
                    f.get("path") or "",
                    f["message"],
                ),
            ),
        )
        for d in dims
    ]
