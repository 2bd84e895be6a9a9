"""A small, real check list for the report tests: each module is a check like those in
`checks/` (docstring, INFO, run), run through `auditor.runner.run_checks` on factory
images, so the reports the format tests render are produced by the real pipeline."""

from __future__ import annotations

from auditor.check import Check
from tests.report.demochecks import tst001_root, tst002_big_files, tst003_python, tst004_crash

DEMO_CHECKS: tuple[Check, ...] = tuple(
    Check.from_module(m) for m in (tst001_root, tst002_big_files, tst003_python, tst004_crash)
)
