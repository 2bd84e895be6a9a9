"""What makes a module a check (auditor/check.py): every shipped check has that shape,
and a module that gets an optional part wrong is refused when the list is built, not
silently run without it."""

from __future__ import annotations

import types
from collections.abc import Iterator

import pytest

from auditor.check import GIVEN, Check, CheckModule
from auditor.checks import ALL_CHECKS, os005_image_stale, os006_pending_updates, py006_bytecode
from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo("TST900", "demo", "A demo check", Severity.INFO, "none", Dimension.FAST)


def _run(ctx: CheckContext) -> Iterator[Finding]:
    yield from ()


def module(**names: object) -> types.ModuleType:
    m = types.ModuleType("demo_check", "Demo: its docstring is its documentation.")
    for key, value in names.items():
        setattr(m, key, value)
    return m


def test_every_shipped_check_is_a_check_module() -> None:
    assert len(ALL_CHECKS) == 42
    assert all(c.doc and c.info.id for c in ALL_CHECKS)
    assert isinstance(os005_image_stale, CheckModule)


def test_optional_parts_are_read_from_the_module() -> None:
    stale = Check.from_module(os005_image_stale)
    assert stale.gather is os005_image_stale.gather and stale.judge is not None
    assert stale.options == {"max-age-days": 90}
    assert Check.from_module(py006_bytecode).offload
    assert Check.from_module(os006_pending_updates).inputs == ("packages_index",)
    plain = Check.from_module(module(INFO=INFO, run=_run))
    assert (plain.gather, plain.options, plain.offload, plain.inputs) == (None, {}, False, ())
    assert plain.doc == "Demo: its docstring is its documentation."


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ({"run": _run}, "defines INFO and run"),
        ({"INFO": INFO}, "defines INFO and run"),
        ({"INFO": INFO, "run": _run, "gather": _run}, "defines gather and judge"),
        ({"INFO": INFO, "run": _run, "INPUTS": ("baselines",)}, "no given fact"),
    ],
)
def test_malformed_modules_are_refused(names: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Check.from_module(module(**names))


def test_inputs_name_given_facts() -> None:
    used = {name for check in ALL_CHECKS for name in check.inputs}
    assert used == set(GIVEN)
