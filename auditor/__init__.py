"""imgaudit: audit finished container images for Python applications.

The package follows one straight data flow (see README "Architecture"):
sources -> layers -> fs -> facts -> checks -> scoring -> report, wired together in one
place, auditor/pipeline.py. The library API, for scripts, notebooks and other tools:

    from auditor import audit
    report = audit("docker-archive:app.tar", config=".imgaudit.toml")
    print(report.scores.grade if report.scores else "not scored")

`import auditor` stays cheap (the command line's start-up depends on it): the API's
names are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from auditor.errors import InputError
    from auditor.pipeline import Family, Settings, audit, audit_many
    from auditor.report.model import Report

__all__ = ["Family", "InputError", "Report", "Settings", "__version__", "audit", "audit_many"]

_LAZY = {
    "audit": "auditor.pipeline",
    "audit_many": "auditor.pipeline",
    "Settings": "auditor.pipeline",
    "Family": "auditor.pipeline",
    "Report": "auditor.report.model",
    "InputError": "auditor.errors",
}


def __getattr__(name: str) -> Any:
    """The API's names, imported when first asked for (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'auditor' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
