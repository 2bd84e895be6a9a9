"""SARIF 2.1.0: the official schema and GitHub code scanning's upload requirements."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.checks import by_id
from auditor.report import sarif
from auditor.report.model import Report
from tests.report.support import bad_spec, scan_report

REPO = Path(__file__).resolve().parents[2]
SCHEMA_NAME = "schemas/sarif-schema-2.1.0.json"


def shared_dirs() -> list[Path]:
    """Where the project's shared/ folder (with the official SARIF schema) may be:
    $IMGAUDIT_SHARED_DIR, beside the repository (as CI lays it out), and where this
    workplace keeps it for sessions (/work/shared)."""
    named = os.environ.get("IMGAUDIT_SHARED_DIR")
    return [*([Path(named)] if named else []), REPO.parent / "shared", Path("/work/shared")]


def _official_schema() -> dict[str, Any]:
    for shared in shared_dirs():
        candidate = shared / SCHEMA_NAME
        if candidate.is_file():
            loaded: dict[str, Any] = json.loads(candidate.read_text())
            return loaded
    # A skip, and so a failure under CI (tests/support/require.py): CI has shared/.
    pytest.skip(f"no {SCHEMA_NAME} in {', '.join(map(str, shared_dirs()))}")


def _doc(report: Report) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(sarif.render(report))
    return loaded


def test_valid_against_the_official_schema(any_report: Report) -> None:
    official = _official_schema()
    jsonschema.Draft4Validator(official).validate(_doc(any_report))


def test_schema_check_can_fail(bad_report: Report) -> None:
    broken = _doc(bad_report)
    broken["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(_official_schema()).validate(broken)


def test_github_upload_requirements(any_report: Report) -> None:
    doc = _doc(any_report)
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "imgaudit"
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    assert ids == sorted(r.check_id for r in any_report.results or ())
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    assert run["automationDetails"]["id"].startswith("imgaudit/")
    for result in run["results"]:
        assert result["ruleId"] in ids
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert result["message"]["text"].strip()
        (loc,) = result["locations"]
        artifact = loc["physicalLocation"]["artifactLocation"]
        assert artifact["uri"] and not artifact["uri"].startswith("/")
        assert artifact["uriBaseId"] in run["originalUriBaseIds"]
        assert loc["physicalLocation"]["region"]["startLine"] >= 1
        assert result["partialFingerprints"][sarif.FINGERPRINT_KEY]
    assert len(run["results"]) == len(any_report.findings or ())


def test_rules_carry_the_check_docs_and_levels(bad_report: Report) -> None:
    run = _doc(bad_report)["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    docs = {c.id: c.help for c in bad_report.checks or ()}
    assert {i: r["help"]["text"] for i, r in rules.items()} == docs
    assert rules["TST001"]["properties"]["security-severity"] == "8.0"
    assert [(r["ruleId"], r["level"]) for r in run["results"]] == [
        ("TST001", "error"),
        ("TST002", "warning"),
        ("TST002", "warning"),
        ("TST002", "warning"),
        ("TST003", "note"),
    ]
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    assert locations[0] == {"uri": "config.json", "uriBaseId": "IMAGECONFIG"}
    assert locations[1] == {
        "uri": "app/%3Cimg%20src=x%20onerror=alert(1)%3E",
        "uriBaseId": "IMAGEROOT",
    }
    assert locations[3] == {
        "uri": "usr/local/lib/python3.11/site-packages/numpy/core.so",
        "uriBaseId": "IMAGEROOT",
    }
    (notification,) = run["invocations"][0]["toolExecutionNotifications"]
    assert notification["descriptor"]["id"] == "TST004"


def test_installed_check_list_is_the_fallback_for_old_reports(bad_report: Report) -> None:
    """A report without `checks` still renders; unknown IDs get minimal rules."""
    old = dataclasses.replace(bad_report, checks=None)
    rules = _doc(old)["runs"][0]["tool"]["driver"]["rules"]
    assert by_id("TST001") is None
    assert rules[0]["id"] == "TST001" and rules[0]["name"] == "demo-runs-as-root"


def test_fingerprints_stable_across_scans(tmp_path: Path) -> None:
    """Two builds whose sizes differ: same fingerprints, so GitHub keeps the same alerts."""
    a = _doc(scan_report(bad_spec(big=6000), tmp_path))
    (tmp_path / "b").mkdir()
    spec = bad_spec(big=7000)
    spec.layers[2].items[0] = type(spec.layers[2].items[0])(
        spec.layers[2].items[0].path,
        b"z" * 5100,  # type: ignore[union-attr]
    )
    b = _doc(scan_report(spec, tmp_path / "b"))

    def prints(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [
            (r["ruleId"], r["message"]["text"], r["partialFingerprints"][sarif.FINGERPRINT_KEY])
            for r in doc["runs"][0]["results"]
        ]

    pa, pb = prints(a), prints(b)
    assert [m for _, m, _ in pa] != [m for _, m, _ in pb]  # a message changed (5000 -> 5100)
    assert [(r, f) for r, _, f in pa] == [(r, f) for r, _, f in pb]
    assert len({f for _, _, f in pa}) == len(pa)  # distinct findings, distinct prints
