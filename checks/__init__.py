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

_OS_SECURITY_SIZE_BUILD: list[ModuleType] = []


# ---- Python installation, packages, venv permissions ----------------------------------
# (modules imported here)

_PYTHON: list[ModuleType] = []


# ---- ELF linkage, wheels' libraries, compilers -----------------------------------------
from checks import (  # noqa: E402
    cc001_compiler_present,
    cc002_dev_files,
    el001_missing_library,
    el002_missing_symbol_version,
    el003_libc_mismatch,
    pk002_wheel_external_libs,
    pk003_glibc_too_old,
)

_ELF_COMPILERS: list[ModuleType] = [
    el001_missing_library,
    el002_missing_symbol_version,
    el003_libc_mismatch,
    pk002_wheel_external_libs,
    pk003_glibc_too_old,
    cc001_compiler_present,
    cc002_dev_files,
]


ALL_CHECKS: tuple[Check, ...] = tuple(
    Check.from_module(m)
    for m in sorted([*_OS_SECURITY_SIZE_BUILD, *_PYTHON, *_ELF_COMPILERS], key=lambda m: m.INFO.id)
)


def by_id(check_id: str) -> Check | None:
    wanted = check_id.upper()
    return next((c for c in ALL_CHECKS if c.info.id == wanted or c.info.name == check_id), None)
