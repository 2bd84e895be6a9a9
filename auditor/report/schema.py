"""The JSON report's schema (auditor/schema/report-v1.schema.json) and its validator.

The JSON report is a public contract (design.md): every report the test suite
produces is validated against this schema. Other tests can do the same:

    from auditor.report.schema import validate
    validate(report)          # raises jsonschema.ValidationError on a broken report

jsonschema is a test dependency, imported only when validating.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_FILE = "report-v1.schema.json"


@cache
def schema() -> dict[str, Any]:
    text = resources.files("auditor").joinpath("schema").joinpath(SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate(report: dict[str, Any]) -> None:
    """Raise `jsonschema.ValidationError` unless `report` satisfies the v1 contract.

    The report is round-tripped through JSON first, so tuples and other
    Python-only values are judged as they would be written."""
    import jsonschema

    document = json.loads(json.dumps(report))
    jsonschema.Draft202012Validator(
        schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)
