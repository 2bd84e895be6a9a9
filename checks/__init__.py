"""Every check imgaudit runs, listed explicitly in one place (no import-time magic).

One module per check; its docstring is the user documentation (`imgaudit explain ID`),
its `INFO` the metadata and its `run(ctx)` the logic. IDs and names are public and
stable (shared criteria).
"""

from __future__ import annotations

from auditor.runner import Check

_MODULES: list[object] = [
    # Add check modules here, grouped by criterion, in ID order.
]

ALL_CHECKS: tuple[Check, ...] = tuple(Check.from_module(m) for m in _MODULES)  # type: ignore[arg-type]


def by_id(check_id: str) -> Check | None:
    wanted = check_id.upper()
    return next((c for c in ALL_CHECKS if c.info.id == wanted or c.info.name == check_id), None)
