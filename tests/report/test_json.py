"""The JSON report: the contract, validated by the shipped schema."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.loading import LoadOptions, load_image
from auditor.report import json_format, sections
from auditor.report.model import Report
from auditor.report.schema import schema, validate
from tests.factory import build, write_docker_archive
from tests.report.support import demo_scores, good_spec


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())


def test_rendered_json_round_trips_and_validates(any_report: Report) -> None:
    document = json.loads(json_format.render(any_report))
    assert document == json.loads(json.dumps(any_report.to_json()))
    validate(document)
    assert Report.from_json(document) == any_report


def test_from_json_keeps_sections_it_does_not_know(bad_report: Report) -> None:
    """A later schema addition survives a read by this version (schema 1: add freely)."""
    document = {**bad_report.to_json(), "sbom": {"format": "spdx"}}
    assert Report.from_json(document).to_json() == document
    with pytest.raises(ValueError, match="schema_version 1"):
        Report.from_json({**document, "schema_version": 2})
    with pytest.raises(ValueError, match="not an imgaudit report"):
        Report.from_json({k: v for k, v in document.items() if k != "waste"})


def test_bad_report_sections(bad_report: Report) -> None:
    doc = bad_report.to_json()
    assert doc["schema_version"] == 1
    assert [(r["check_id"], r["status"]) for r in doc["results"]] == [
        ("TST001", "failed"),
        ("TST002", "failed"),
        ("TST003", "failed"),
        ("TST004", "error"),
    ]
    assert [c["id"] for c in doc["checks"]] == ["TST001", "TST002", "TST003", "TST004"]
    assert doc["checks"][0]["help"].startswith("The image runs as root.")
    assert doc["scores"]["grade"] in "ABCDF"


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda r: r["findings"][0].update(severity="fatal"), "severity"),
        (lambda r: r["results"][3].pop("reason"), "reason"),
        (lambda r: r["scores"].pop("secure"), "secure"),
        (lambda r: r["findings"][1].update(path="relative/path"), "path"),
        (lambda r: r.update(schema_version=2), "schema_version"),
    ],
)
def test_schema_rejects_broken_reports(bad_report: Report, mutate: Any, where: str) -> None:
    broken = copy.deepcopy(bad_report.to_json())
    mutate(broken)
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_suite_hook_validates_every_built_report(tmp_path: Path) -> None:
    """tests/conftest.py wraps build_report: a report breaking the contract fails the test."""
    archive = write_docker_archive(build(good_spec()), tmp_path / "good.tar")
    loaded = load_image(f"docker-archive:{archive}", LoadOptions(cache_dir=tmp_path, jobs=1))
    scores = demo_scores([])
    sections.build_report(loaded, scores=scores)  # fine
    with pytest.raises(jsonschema.ValidationError, match="101"):
        sections.build_report(loaded, scores=dataclasses.replace(scores, overall=101))
