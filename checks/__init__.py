"""Every check imgaudit runs, listed explicitly in one place (no import-time magic).

One module per check; its docstring is the user documentation (`imgaudit explain ID`),
its `INFO` the metadata and its `run(ctx)` the logic. IDs and names are public and
stable (shared criteria).
"""

from __future__ import annotations

from types import ModuleType

from auditor.runner import Check

# ---- Base OS, security, size, build structure ------------------------------------------
# (modules imported here, e.g. `from checks import os001_base_os_unknown`)
from checks import sz005_size_regression

_OS_SECURITY_SIZE_BUILD: list[ModuleType] = [sz005_size_regression]


# ---- Python installation, packages, venv permissions ----------------------------------
# (modules imported here)

_PYTHON: list[ModuleType] = []


# ---- ELF linkage, wheels' libraries, compilers -----------------------------------------
# (modules imported here)

_ELF_COMPILERS: list[ModuleType] = []


ALL_CHECKS: tuple[Check, ...] = tuple(
    Check.from_module(m)
    for m in sorted([*_OS_SECURITY_SIZE_BUILD, *_PYTHON, *_ELF_COMPILERS],
                    key=lambda m: m.INFO.id)
)


def by_id(check_id: str) -> Check | None:
    wanted = check_id.upper()
    return next((c for c in ALL_CHECKS if c.info.id == wanted or c.info.name == check_id), None)
