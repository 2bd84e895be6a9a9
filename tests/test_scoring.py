"""Scoring: a table of finding sets and the scores and grade a human expects."""

from __future__ import annotations

import pytest

from auditor.checks import ALL_CHECKS
from auditor.findings import Dimension, Finding, Severity
from auditor.scoring import Weights, default_weights, score

DIMS = {c.info.id: c.info.dimension for c in ALL_CHECKS}


def f(check: str, severity: str, n: int = 1) -> list[Finding]:
    return [
        Finding(check, check.lower(), Severity.parse(severity), f"finding {i}", "fix it")
        for i in range(n)
    ]


CASES = [
    # (findings, overall, grade, secure, small, fast, usable)
    pytest.param([], 100, "A", 100, 100, 100, 100, id="clean small non-root supported base"),
    pytest.param(f("SZ004", "info"), 100, "A", 100, 98, 100, 100, id="one info barely counts"),
    pytest.param(f("SZ004", "warning", 3), 97, "A", 100, 84, 100, 100, id="warnings of one check"),
    pytest.param(f("SZ004", "info", 40), 99, "A", 100, 95, 100, 100, id="info cost is capped"),
    pytest.param(f("SEC001", "error"), 90, "B", 70, 100, 100, 100, id="one error caps at B"),
    pytest.param(
        f("SEC001", "error") + f("SEC008", "error", 2),
        76, "C", 30, 100, 100, 100, id="several errors",
    ),
    pytest.param(
        f("SEC001", "error") + f("SEC008", "error", 9) + f("OS002", "error"),
        65, "D", 0, 100, 100, 100, id="secure floors at 0",
    ),
    pytest.param(
        f("SZ001", "warning") + f("SZ003", "warning", 2) + f("BL001", "warning")
        + f("OS003", "warning"),
        91, "A", 100, 77, 90, 90, id="warnings across dimensions",
    ),
    pytest.param(
        f("SEC001", "error") + f("SZ001", "warning") + f("SZ002", "warning")
        + f("SZ003", "warning") + f("SZ004", "warning") + f("BL002", "warning")
        + f("BL004", "info", 3) + f("OS001", "warning"),
        76, "C", 70, 60, 87, 90, id="a typical fat single-stage root image",
    ),
    pytest.param(f("XX999", "error"), 100, "B", 100, 100, 100, 100, id="unknown check"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("findings", "overall", "grade", "secure", "small", "fast", "usable"), CASES
)
def test_score_table(
    findings: list[Finding],
    overall: int,
    grade: str,
    secure: int,
    small: int,
    fast: int,
    usable: int,
) -> None:
    s = score(findings, DIMS)
    assert s.to_json() == {
        "overall": overall,
        "grade": grade,
        "secure": secure,
        "small": small,
        "fast": fast,
        "usable": usable,
    }


def test_every_error_costs_visibly() -> None:
    base = score(f("SZ004", "warning"), DIMS).overall
    for check in ("SEC001", "OS002", "SEC002"):
        with_error = score(f("SZ004", "warning") + f(check, "error"), DIMS)
        assert with_error.overall <= base - 7
        assert with_error.grade != "A"


def test_weights_are_data() -> None:
    w = default_weights()
    assert set(w.dimension_weights) == set(Dimension)
    custom = Weights.from_json(
        {
            "cost": {
                "error": {"first": 50, "more": 0, "cap": 50},
                "warning": {"first": 0, "more": 0, "cap": 0},
                "info": {"first": 0, "more": 0, "cap": 0},
            },
            "dimension_weights": {"secure": 1, "small": 0, "fast": 0, "usable": 0},
            "grades": [["A", 90], ["F", 0]],
            "max_grade_with_errors": "F",
        }
    )
    assert score(f("SEC001", "error"), DIMS, custom).to_json()["overall"] == 50
    assert score(f("SZ001", "warning"), DIMS, custom).grade == "A"
