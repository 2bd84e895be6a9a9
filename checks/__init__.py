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
from checks import in001_unreadable_entries, sz005_size_regression

_OS_SECURITY_SIZE_BUILD: list[ModuleType] = [in001_unreadable_entries, sz005_size_regression]


# ---- Python installation, packages, venv permissions ----------------------------------
from checks import (  # noqa: E402
    pk001_built_from_sdist,
    pk004_editable_install,
    py001_system_python,
    py002_stdlib_incomplete,
    py003_python_eol,
    py004_version_family,
    py005_stdlib_tests,
    py006_bytecode,
    py007_broken_venv,
    sec003_writable_venv,
    sec004_writable_app,
    sec005_pip_writable,
)

_PYTHON: list[ModuleType] = [
    py001_system_python,
    py002_stdlib_incomplete,
    py003_python_eol,
    py004_version_family,
    py005_stdlib_tests,
    py006_bytecode,
    py007_broken_venv,
    pk001_built_from_sdist,
    pk004_editable_install,
    sec003_writable_venv,
    sec004_writable_app,
    sec005_pip_writable,
]


# ---- ELF linkage, wheels' libraries, compilers -----------------------------------------
# (modules imported here)

_ELF_COMPILERS: list[ModuleType] = []


ALL_CHECKS: tuple[Check, ...] = tuple(
    Check.from_module(m)
    for m in sorted([*_OS_SECURITY_SIZE_BUILD, *_PYTHON, *_ELF_COMPILERS], key=lambda m: m.INFO.id)
)


def by_id(check_id: str) -> Check | None:
    wanted = check_id.upper()
    return next((c for c in ALL_CHECKS if c.info.id == wanted or c.info.name == check_id), None)
