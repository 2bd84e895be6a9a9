"""Findings located in the Dockerfile (`--dockerfile`), as each format shows them.

The report is the format tests' `bad_spec` image, its layers' history written as the
classic builder writes it, scanned by the real pipeline pieces (tests/report/support.py),
then located in DOCKERFILE by the same step `audit()` runs (auditor/dockerfile_lines.py).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.dockerfile import parse_text
from auditor.dockerfile_lines import locate_in
from auditor.report import github_annotations, markdown, sarif
from auditor.report.model import Report
from auditor.report.schema import validate
from tests.report.support import bad_spec, scan_report
from tests.report.test_sarif import _official_schema

DOCKERFILE = """\
FROM debian:12
# the dependencies
RUN pip install --no-cache-dir \\
    requests numpy
COPY . /app
"""
PATH = "docker/Dockerfile"
HISTORY = [
    "/bin/sh -c #(nop) ADD file:0123abcd in / ",
    "/bin/sh -c pip install --no-cache-dir     requests numpy",
    "/bin/sh -c #(nop) COPY dir:abc123 in /app ",
]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Report]:
    """(the report without --dockerfile, the same report located)."""
    spec = bad_spec()
    for layer, created_by in zip(spec.layers, HISTORY):
        layer.created_by = created_by
    plain = scan_report(spec, tmp_path_factory.mktemp("dockerfile"))
    config = {"history": [{"created_by": c} for c in HISTORY]}
    located = locate_in(parse_text(DOCKERFILE, PATH), config, 3, plain.findings or ())
    report = dataclasses.replace(
        plain, findings=tuple(located.findings), dockerfile=located.matching.to_json()
    )
    return plain, report


def lines(report: Report) -> list[tuple[str, str | None, int | None]]:
    return [
        (f.check_id, f.path, f.dockerfile.line if f.dockerfile else None)
        for f in report.findings or ()
    ]


def test_json_report_names_the_line_of_each_layer(reports: tuple[Report, Report]) -> None:
    _, report = reports
    document = report.to_json()
    validate(document)
    assert lines(report) == [
        ("TST001", None, None),  # about the config: no layer, no line
        ("TST002", "/app/<img src=x onerror=alert(1)>", 5),
        ("TST002", "/app/<script>alert(1)</script>", 5),
        ("TST002", "/usr/local/lib/python3.11/site-packages/numpy/core.so", 3),
        ("TST003", None, None),
    ]
    numpy = document["findings"][3]
    assert numpy["dockerfile"] == {
        "path": PATH,
        "line": 3,
        "instruction": "RUN pip install --no-cache-dir requests numpy",
    }
    assert numpy["remedy"].startswith("line 3: `RUN pip install --no-cache-dir requests numpy`: ")
    section = document["dockerfile"]
    assert section["base_steps"] == 1
    assert [(m["line"], m["layer"]) for m in section["matched"]] == [(3, 1), (5, 2)]
    assert Report.from_json(document) == report


def test_a_broken_dockerfile_section_fails_the_schema(reports: tuple[Report, Report]) -> None:
    document = json.loads(json.dumps(reports[1].to_json()))
    document["findings"][1]["dockerfile"]["line"] = 0
    with pytest.raises(jsonschema.ValidationError, match=r"0 is less than the minimum of 1"):
        validate(document)


def _sarif(report: Report) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(sarif.render(report))
    return doc


def test_sarif_locates_the_finding_on_the_line_and_keeps_the_image_path(
    reports: tuple[Report, Report],
) -> None:
    plain, report = reports
    doc = _sarif(report)
    jsonschema.Draft4Validator(_official_schema()).validate(doc)
    results = doc["runs"][0]["results"]
    numpy = results[3]
    (location,) = numpy["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": PATH, "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 3},
    }
    assert location["logicalLocations"][0]["fullyQualifiedName"] == (
        "/usr/local/lib/python3.11/site-packages/numpy/core.so"
    )
    # a finding without a line keeps its image location
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == (
        "IMAGECONFIG"
    )
    # the alerts GitHub already has stay the same alerts
    prints = [r["partialFingerprints"] for r in results]
    assert prints == [r["partialFingerprints"] for r in _sarif(plain)["runs"][0]["results"]]


def test_github_annotations_land_on_the_line(reports: tuple[Report, Report]) -> None:
    out = github_annotations.render(reports[1]).splitlines()
    assert out[3].startswith("::warning file=docker/Dockerfile,line=3,title=TST002 ")
    assert "(/usr/local/lib/python3.11/site-packages/numpy/core.so in the image)" in out[3]
    assert out[0].startswith("::error title=TST001 ")  # no line, no file


def test_markdown_links_to_the_line(
    reports: tuple[Report, Report], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    text = markdown.render(reports[1])
    assert "[docker/Dockerfile line 3](docker/Dockerfile#L3)" in text
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "org/app")
    monkeypatch.setenv("GITHUB_SHA", "0123abc")
    text = markdown.render(reports[1])
    assert "(https://github.com/org/app/blob/0123abc/docker/Dockerfile#L5)" in text


def test_an_absolute_dockerfile_path_is_made_relative_to_the_checkout(
    reports: tuple[Report, Report], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    plain, _ = reports
    config = {"history": [{"created_by": c} for c in HISTORY]}
    absolute = str(tmp_path / "Dockerfile")
    located = locate_in(parse_text(DOCKERFILE, absolute), config, 3, plain.findings or ())
    report = dataclasses.replace(plain, findings=tuple(located.findings))
    artifact = _sarif(report)["runs"][0]["results"][3]["locations"][0]["physicalLocation"]
    assert artifact["artifactLocation"] == {"uri": "Dockerfile", "uriBaseId": "%SRCROOT%"}
