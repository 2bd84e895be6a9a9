"""Scoring: a table of finding sets and the scores and grade a human expects."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditor import audit
from auditor.checks import ALL_CHECKS
from auditor.findings import Dimension, Finding, Severity
from auditor.scoring import Weights, default_weights, score
from tests.checks.support import debian_base
from tests.factory import ImageSpec, Layer, build, host_file, write_docker_archive
from tests.test_scan_gating import app_layers

DIMS = {c.info.id: c.info.dimension for c in ALL_CHECKS}


def f(check: str, severity: str, n: int = 1, origin: str | None = None) -> list[Finding]:
    return [
        Finding(
            check, check.lower(), Severity.parse(severity), f"finding {i}", "fix it",
            origin=origin,
        )
        for i in range(n)
    ]  # fmt: skip


CASES = [
    # (findings, overall, grade, secure, small, fast, usable)
    pytest.param([], 100, "A", 100, 100, 100, 100, id="clean small non-root supported base"),
    pytest.param(f("SZ004", "info"), 100, "A", 100, 99, 100, 100, id="one info barely counts"),
    pytest.param(f("SZ004", "info", 40), 99, "A", 100, 97, 100, 100, id="info cost is capped"),
    pytest.param(
        f("SZ004", "warning", 3), 96, "B", 100, 84, 100, 100,
        id="an own warning: something to fix, so no A",
    ),
    pytest.param(
        f("SZ004", "warning", 3, "base") + f("BL003", "info", 2, "own"), 98, "A",
        100, 94, 99, 100, id="the base's warnings cost a little and leave an A",
    ),
    pytest.param(f("SEC001", "error"), 90, "C", 75, 100, 100, 100, id="one error caps at C"),
    pytest.param(
        f("SEC001", "error") + f("SEC008", "error", 2),
        76, "C", 40, 100, 100, 100, id="several errors",
    ),
    pytest.param(
        f("SEC001", "error") + f("SEC008", "error", 9) + f("OS002", "error"),
        60, "D", 0, 100, 100, 100, id="secure floors at 0",
    ),
    pytest.param(
        f("SZ001", "warning") + f("SZ003", "warning", 2) + f("BL001", "warning")
        + f("OS003", "warning"),
        91, "B", 100, 77, 90, 90, id="warnings across dimensions",
    ),
    pytest.param(
        f("SEC001", "error") + f("SZ001", "warning") + f("SZ002", "warning")
        + f("SZ003", "warning") + f("SZ004", "warning") + f("BL002", "warning")
        + f("BL004", "info", 3) + f("OS001", "warning"),
        76, "C", 75, 60, 89, 90, id="a typical fat single-stage root image",
    ),
    pytest.param(
        f("SEC001", "error") + f("CC001", "warning", 5, "base") + f("CC002", "warning", 3, "base")
        + f("SEC005", "warning") + f("SEC006", "warning", 2, "base") + f("SZ001", "warning")
        + f("SZ004", "warning", 2, "base") + f("BL002", "warning", 1, "base"),
        75, "C", 52, 78, 96, 100,
        id="compilers from the base alone do not make a D: that takes many findings",
    ),
    pytest.param(f("XX999", "error"), 100, "C", 100, 100, 100, 100, id="unknown check"),
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
        assert with_error.overall <= base - 5
        assert with_error.grade == "C"


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


# ---- whose a finding is ------------------------------------------------------------


def test_a_base_finding_costs_less_than_the_same_own_one() -> None:
    own = score(f("SZ003", "warning", 2, "own"), DIMS)
    base = score(f("SZ003", "warning", 2, "base"), DIMS)
    w = default_weights()
    assert 0 < w.origin_weight["base"] < 1
    lost_own = 100 - own.dimensions[Dimension.SMALL]
    lost_base = 100 - base.dimensions[Dimension.SMALL]
    assert lost_base == pytest.approx(lost_own * w.origin_weight["base"], abs=0.5)
    assert base.overall > own.overall


def test_unknown_or_unmarked_origin_counts_as_own() -> None:
    """As the gate does: no base boundary known means the team answers for all of it."""
    own = score(f("SEC004", "warning", 1, "own"), DIMS)
    assert score(f("SEC004", "warning", 1, "unknown"), DIMS) == own
    assert score(f("SEC004", "warning", 1, None), DIMS) == own


def test_a_check_found_in_base_and_own_layers_stays_within_its_cap() -> None:
    w = default_weights()
    both = f("SZ004", "warning", 9, "own") + f("SZ004", "warning", 9, "base")
    assert score(both, DIMS).dimensions[Dimension.SMALL] == 100 - w.cost[Severity.WARNING].cap
    one = f("SZ004", "warning", 1, "own") + f("SZ004", "warning", 1, "base")
    lost = 100 - score(one, DIMS).dimensions[Dimension.SMALL]
    first = w.cost[Severity.WARNING].first
    assert lost == pytest.approx(first * (1 + w.origin_weight["base"]), abs=0.5)


def test_a_base_error_costs_but_does_not_cap_the_grade() -> None:
    """The slim base's `_tkinter` cannot load: true, the base's, and no reason to call a
    well-built app image B; the same error from the team's own layer is."""
    base = score(f("EL001", "error", 1, "base"), DIMS)
    own = score(f("EL001", "error", 1, "own"), DIMS)
    assert base.grade == "A" and base.dimensions[Dimension.USABLE] < 100
    assert own.grade == default_weights().max_grade_with_errors == "C"


@pytest.mark.parametrize("check", ["OS002", "PY003", "SEC008"])
def test_full_weight_checks_count_in_full_wherever_found(check: str) -> None:
    """An end-of-life OS or Python is what the `FROM` line chose, and a secret leaks
    whoever left it: these weigh as the team's own even in base layers."""
    assert check in default_weights().full_weight_checks
    assert score(f(check, "error", 1, "base"), DIMS) == score(f(check, "error", 1, "own"), DIMS)
    assert score(f(check, "error", 1, "base"), DIMS).grade == "C"


XZ = shutil.which("xz")


@pytest.mark.skipif(XZ is None, reason="needs the host's xz (apt-get install xz-utils)")
def test_the_pipeline_weighs_a_base_layers_error_less(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same broken program (xz without its liblzma: EL001, an error) in the base
    image's layer and in the team's own layer, the base boundary inferred from the
    history (the base's Dockerfile ends in CMD): the base's costs less and leaves an A."""
    monkeypatch.chdir(tmp_path)  # no config file found upward from here
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    tool = host_file(str(XZ), "usr/local/bin/tool", 0o755)
    scores = {}
    for where in ("base", "own"):
        rootfs = debian_base([tool] if where == "base" else [])
        rootfs.after = ['/bin/sh -c #(nop)  CMD ["bash"]']
        layers = [rootfs, *app_layers()]
        if where == "own":
            layers.append(Layer([tool], "RUN install-tool"))
        spec = ImageSpec(layers=layers, config={"User": "app"})
        report = audit(f"docker-archive:{write_docker_archive(build(spec), tmp_path / where)}")
        assert [(x.check_id, x.origin) for x in report.findings or ()] == [("EL001", where)]
        assert report.scores is not None
        scores[where] = report.scores
    assert scores["base"].overall > scores["own"].overall
    assert (scores["base"].grade, scores["own"].grade) == ("A", "C")
