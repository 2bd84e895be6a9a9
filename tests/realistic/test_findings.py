"""Every finding imgaudit reports on the realistic set, judged against the running image.

One test per (image, check), plus the two facts sections ``inventory`` (packages vs
``importlib.metadata``) and ``pythons`` (full versions). A test fails when the check
reports something running the image contradicts (a false finding) or stays silent about
something the check exists to report (a miss); the failure message lists each with the
reason (tests/realistic/judge.py).

Issue 15 is the list of what is wrong today. Each (image, check) that fails on today's
code is marked ``xfail(strict=True)`` in :data:`ISSUE_15` with what is wrong: when a fix
lands the test passes, strict xfail turns that into a failure, and the marker must go.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.realistic.judge import Verdict, judge_image, load_expected
from tests.support.realistic_images import ALL_IMAGES

IMAGES = [r.name for r in ALL_IMAGES]
CHECKS = [
    *("BL001", "BL002", "BL003", "BL004", "CC001", "CC002", "EL001", "EL002", "EL003"),
    *("HC001", "IN001", "OS001", "OS002", "OS003", "OS004", "OS005", "OS006"),
    *("PK001", "PK002", "PK003", "PK004"),
    *("PY001", "PY002", "PY003", "PY004", "PY005", "PY006", "PY007"),
    *("SEC001", "SEC002", "SEC003", "SEC004", "SEC005", "SEC006", "SEC007", "SEC008", "SEC009"),
    *("SZ001", "SZ002", "SZ003", "SZ004", "SZ005"),
]
SECTIONS = ["inventory", "pythons"]

#: check -> (what imgaudit gets wrong there today, the images where it shows): issue 15.
#: Filled from the "before" tally (tests/data/realistic/BEFORE.md); when a fix lands the
#: strict xfail fails, and the image (or the line) must go.
ISSUE_15: dict[str, tuple[str, tuple[str, ...]]] = {}


def _cases() -> list[Any]:
    cases = []
    for image in IMAGES:
        for check in CHECKS + SECTIONS:
            what, where = ISSUE_15.get(check, ("", ()))
            wrong = what if image in where else None
            marks = [pytest.mark.xfail(strict=True, reason=f"issue 15: {wrong}")] if wrong else []
            cases.append(pytest.param(image, check, marks=marks, id=f"{image}-{check}"))
    return cases


@pytest.fixture(scope="session")
def expected() -> dict[str, dict[str, dict[str, Any]]]:
    return load_expected()


@pytest.fixture(scope="session")
def verdicts(
    realistic_truth: Callable[[str], dict[str, Any]],
    realistic_report: Callable[[str], dict[str, Any]],
    expected: dict[str, dict[str, dict[str, Any]]],
) -> Callable[[str], dict[str, list[Verdict]]]:
    """Each image judged once per session (the truth of the full image has thousands of
    ELF files; every check of the image reads the same verdicts)."""
    memo: dict[str, dict[str, list[Verdict]]] = {}

    def get(image: str) -> dict[str, list[Verdict]]:
        if image not in memo:
            memo[image] = judge_image(
                image, realistic_report(image), realistic_truth(image), expected
            )
        return memo[image]

    return get


@pytest.mark.parametrize(("image", "check"), _cases())
def test_findings_agree_with_the_running_image(
    image: str, check: str, verdicts: Callable[[str], dict[str, list[Verdict]]]
) -> None:
    wrong = [v for v in verdicts(image).get(check, []) if v.kind != "correct"]
    assert not wrong, "\n".join(f"{v.kind}: {v.subject} -- {v.reason}" for v in wrong)


def test_every_check_is_judged() -> None:
    """A new check must join CHECKS (and get an oracle or reviewed expectations)."""
    out = subprocess.run(
        [sys.executable, "-m", "auditor", "checks"], capture_output=True, text=True, check=True
    ).stdout
    listed = [line.split()[0] for line in out.splitlines()[2:] if line.strip()]
    assert listed == CHECKS


def test_reviewed_expectations_name_real_images_and_checks(
    expected: dict[str, dict[str, dict[str, Any]]],
) -> None:
    for image, rules in expected.items():
        assert image in [*IMAGES, "*"], image
        for check, rule in rules.items():
            assert check in CHECKS, (image, check)
            assert isinstance(rule.get("fires"), bool) and rule.get("reason"), (image, check)
