"""The fleet summary: one document from a run's outcomes and the previous run.

What a platform team reads first: how the grades spread, which findings hit the most
images (grouped by check, worst severity first), the biggest images, the images
that grew since the last fleet run, and the images that could not be scanned.
Plain data (JSON-ready); view.py renders it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from auditor.fleet.engine import Stats
from auditor.fleet.outcome import Outcome

TOP = 10
GRADES = ("A", "B", "C", "D", "E", "F")
_RANK = {"error": 3, "warning": 2, "info": 1}


def build(
    outcomes: list[Outcome],
    stats: Stats,
    run_id: int | None = None,
    previous: list[dict[str, Any]] | None = None,
    previous_run_id: int | None = None,
) -> dict[str, Any]:
    """`previous`: the fleet_results rows of the previous run (reference, size, error)."""
    ok = [o for o in outcomes if not o.error]
    grades = Counter(o.grade or "-" for o in ok)
    before = {r["reference"]: r for r in previous or [] if not r.get("error")}
    return {
        "run_id": run_id,
        "previous_run_id": previous_run_id,
        "stats": stats.to_json(),
        "grades": {g: grades[g] for g in (*GRADES, "-") if grades.get(g)},
        "images": [_image(o, before.get(o.reference)) for o in outcomes],
        "worst_findings": _worst(ok),
        "biggest": [
            {"reference": o.reference, "size": o.size, "grade": o.grade}
            for o in sorted(ok, key=lambda o: (-o.size, o.reference))[:TOP]
        ],
        "growth": _growth(ok, before),
        "errors": [{"reference": o.reference, "error": o.error} for o in outcomes if o.error],
    }


def _image(o: Outcome, before: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "reference": o.reference,
        "repository": o.repository,
        "tag": o.tag,
        "digest": o.digest,
        "size": o.size,
        "grade": o.grade,
        "score": o.score,
        "findings": o.findings,
        "severities": o.severities,
        "scan_id": o.scan_id,
        "error": o.error,
        "previous_size": before["size"] if before else None,
    }


def _worst(ok: list[Outcome]) -> list[dict[str, Any]]:
    """Findings grouped by check: how many images each hits, worst severity first."""
    groups: dict[str, dict[str, Any]] = {}
    for o in ok:
        for f in o.checks:
            check = str(f.get("check_id") or "?")
            g = groups.setdefault(
                check,
                {
                    "check_id": check,
                    "name": f.get("name"),
                    "severity": f.get("severity"),
                    "message": f.get("message"),
                    "images": [],
                },
            )
            if _RANK.get(str(f.get("severity")), 0) > _RANK.get(str(g["severity"]), 0):
                g.update(severity=f.get("severity"), message=f.get("message"))
            if o.reference not in g["images"]:
                g["images"].append(o.reference)
    ranked = sorted(
        groups.values(),
        key=lambda g: (-_RANK.get(str(g["severity"]), 0), -len(g["images"]), g["check_id"]),
    )
    return [{**g, "count": len(g["images"]), "images": g["images"][:5]} for g in ranked[:TOP]]


def _growth(ok: list[Outcome], before: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for o in ok:
        prev = before.get(o.reference)
        if prev is None or int(prev["size"]) == o.size:
            continue
        delta = o.size - int(prev["size"])
        rows.append(
            {
                "reference": o.reference,
                "size": o.size,
                "previous_size": int(prev["size"]),
                "delta": delta,
                "percent": round(100.0 * delta / prev["size"], 2) if prev["size"] else None,
            }
        )
    rows.sort(key=lambda r: (-r["delta"], r["reference"]))
    return rows[:TOP]
