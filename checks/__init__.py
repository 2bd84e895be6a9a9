"""Every check imgaudit runs, listed explicitly in one place (no import-time magic).

One module per check; its docstring is the user documentation (`imgaudit explain ID`),
its `INFO` the metadata and its `run(ctx)` the logic. IDs and names are public and
stable (shared criteria).
"""

from __future__ import annotations

from types import ModuleType

from auditor.check import Check

# ---- Base OS, security, size, build structure, health check -----------------------------
from . import (
    bl001_cache_unfriendly_order,
    bl002_single_stage,
    bl003_not_reproducible,
    bl004_layers,
    hc001_healthcheck_broken,
    in001_unreadable_entries,
    os001_base_os_unknown,
    os002_base_os_eol,
    os003_base_os_rolling,
    os004_base_os_musl,
    os005_image_stale,
    os006_pending_updates,
    sec001_runs_as_root,
    sec002_user_unknown,
    sec006_setuid,
    sec007_world_writable,
    sec008_secrets,
    sec009_sudo,
    sz001_image_size,
    sz002_wasted_space,
    sz003_caches,
    sz004_docs,
    sz005_size_regression,
)

_OS_SECURITY_SIZE_BUILD: list[ModuleType] = [
    os001_base_os_unknown,
    os002_base_os_eol,
    os003_base_os_rolling,
    os004_base_os_musl,
    os005_image_stale,
    os006_pending_updates,
    sec001_runs_as_root,
    sec002_user_unknown,
    sec006_setuid,
    sec007_world_writable,
    sec008_secrets,
    sec009_sudo,
    sz001_image_size,
    sz002_wasted_space,
    sz003_caches,
    sz004_docs,
    sz005_size_regression,
    bl001_cache_unfriendly_order,
    bl002_single_stage,
    bl003_not_reproducible,
    bl004_layers,
    in001_unreadable_entries,
    hc001_healthcheck_broken,
]


# ---- Python installation, packages, venv permissions ----------------------------------
from . import (  # noqa: E402
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
from . import (  # noqa: E402
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
