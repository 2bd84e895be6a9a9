"""`--format codequality`: GitLab's Code Quality report format, as GitLab documents it.

https://docs.gitlab.com/ci/testing/code_quality/#code-quality-report-format: a JSON
array of objects, each with `description` (string), `check_name` (string),
`fingerprint` (string, unique per issue), `severity` (info, minor, major, critical,
blocker) and `location.path` (relative to the repository) with `location.lines.begin`
(an integer line). GITLAB_SCHEMA below is that table as JSON Schema; every report the
tests make is validated with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.cli import main
from auditor.findings import Finding
from auditor.report import codequality
from auditor.report.formats import OutputFormat
from auditor.report.model import Report
from tests.factory import File
from tests.report.support import bad_spec, scan_report

REPO = Path(__file__).resolve().parents[2]

GITLAB_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "minLength": 1},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path", "lines"],
                "properties": {
                    # relative to the repository: no leading slash, no ./
                    "path": {"type": "string", "pattern": r"^(?!/)(?!\./)\S"},
                    "lines": {
                        "type": "object",
                        "required": ["begin"],
                        "properties": {"begin": {"type": "integer", "minimum": 1}},
                    },
                },
            },
        },
    },
}


def rendered(report: Report) -> list[dict[str, Any]]:
    doc: list[dict[str, Any]] = json.loads(OutputFormat.CODEQUALITY.renderer()(report))
    jsonschema.validate(doc, GITLAB_SCHEMA)
    assert len({issue["fingerprint"] for issue in doc}) == len(doc)
    return doc


def test_every_report_is_gitlab_code_quality(any_report: Report) -> None:
    doc = rendered(any_report)
    findings = sorted(any_report.findings or (), key=Finding.sort_key)
    assert len(doc) == len(findings)
    for issue, finding in zip(doc, findings):
        assert issue["check_name"] == f"imgaudit/{finding.check_id}"
        assert finding.message in issue["description"]
        assert issue["severity"] == codequality.SEVERITIES[str(finding.severity)]
        # No --dockerfile here: the repository's Dockerfile, line 1.
        assert issue["location"] == {"path": "Dockerfile", "lines": {"begin": 1}}


def test_bad_report_has_every_severity(bad_report: Report) -> None:
    severities = {issue["severity"] for issue in rendered(bad_report)}
    assert {"critical", "major"} <= severities


def test_fingerprints_stable_across_builds(tmp_path: Path) -> None:
    """Two builds of one image whose sizes differ: GitLab must see the same issues, so
    an MR that changes an unrelated size shows neither new nor resolved findings."""
    a = rendered(scan_report(bad_spec(big=6000), tmp_path))
    (tmp_path / "b").mkdir()
    spec = bad_spec(big=7000)
    big_file = spec.layers[2].items[0]
    assert isinstance(big_file, File)
    spec.layers[2].items[0] = File(big_file.path, b"z" * 5100)  # 5000 bytes before
    b = rendered(scan_report(spec, tmp_path / "b"))
    assert [i["description"] for i in a] != [i["description"] for i in b]  # a size moved
    assert [(i["check_name"], i["fingerprint"]) for i in a] == [
        (i["check_name"], i["fingerprint"]) for i in b
    ]


def test_fingerprints_differ_between_images(bad_report: Report) -> None:
    """Two images scanned in one pipeline: the same finding in each is two issues."""
    other = Report.from_json(
        {**bad_report.to_json(), "image": {**bad_report.image, "reference": "example.org/x:1"}}
    )
    assert {i["fingerprint"] for i in rendered(bad_report)}.isdisjoint(
        {i["fingerprint"] for i in rendered(other)}
    )


def test_the_report_names_the_dockerfile(bad_report: Report) -> None:
    """A report that matched a Dockerfile (`--dockerfile ./build/Dockerfile`) puts the
    findings no line matched on that file, relative to the repository."""
    data = bad_report.to_json()
    data["dockerfile"] = {"path": "./build/Dockerfile"}
    doc = rendered(Report.from_json(data))
    assert {issue["location"]["path"] for issue in doc} == {"build/Dockerfile"}
    cwd = Path.cwd()
    data["dockerfile"] = {"path": str(cwd / "ci" / "Dockerfile")}
    doc = rendered(Report.from_json(data))
    assert {issue["location"]["path"] for issue in doc} == {"ci/Dockerfile"}


@pytest.mark.xfail(
    not hasattr(Finding, "dockerfile") and "dockerfile" not in Finding.__dataclass_fields__,
    reason="findings carry `dockerfile` {path, line, instruction} from issue-18-dockerfile",
    strict=True,
)
def test_a_finding_on_a_dockerfile_line(bad_report: Report) -> None:
    data = bad_report.to_json()
    first = data["findings"][0]
    first["dockerfile"] = {"path": "./Dockerfile", "line": 7, "instruction": "COPY . /app"}
    doc = rendered(Report.from_json(data))
    located = [i for i in doc if i["location"]["lines"]["begin"] == 7]
    assert len(located) == 1 and located[0]["location"]["path"] == "Dockerfile"
    assert first["message"] in located[0]["description"]


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """GitLab's usual artifact name picks the format; --format prints it."""
    sample = str(REPO / "testdata" / "sample.tar")
    out = tmp_path / "gl-code-quality-report.json"
    assert main(["scan", sample, "--quiet", "--no-cache", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, GITLAB_SCHEMA)
    assert "SEC004" in {issue["check_name"].split("/")[1] for issue in doc}
    assert main(["scan", sample, "--quiet", "--no-cache", "--format", "codequality"]) == 0
    assert json.loads(capsys.readouterr().out) == doc
