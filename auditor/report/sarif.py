"""`--format sarif`: SARIF 2.1.0 as GitHub code scanning accepts it.

One rule per check that ran (from `results`), documented by the check's docstring;
one result per finding with a level, a message, and a location: the image path
(relative to the `IMAGEROOT` base, as GitHub wants relative URIs) or, for findings
about the image configuration (User, Env, ...), the pseudo-file `config.json` under
`IMAGECONFIG`. A finding with a Dockerfile line (`--dockerfile`) is located on that
line instead (relative to `%SRCROOT%`, the repository GitHub checked out), so code
scanning shows it on the pull request's diff, and keeps the image path as its logical
location. `partialFingerprints` hash the check, the path and the message with
its numbers blanked, so a finding keeps its alert across rebuilds even when a size
or a count changes. Crashed checks become tool execution notifications.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from auditor.findings import Finding
from auditor.report.catalog import catalog
from auditor.report.dockerfile_links import repo_path, uri
from auditor.report.model import CheckMeta, Report

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
# GitHub sorts security alerts by this (CVSS-like) number.
SECURITY_SEVERITY = {"error": "8.0", "warning": "5.0", "info": "2.0"}
FINGERPRINT_KEY = "imgauditFinding/v1"
CONFIG_URI = "config.json"
INFORMATION_URI = "https://github.com/imgaudit/imgaudit"


def fingerprint(check_id: str, path: str | None, message: str) -> str:
    """Stable across scans: numbers (sizes, counts, ages) do not change the identity."""
    text = "\0".join((check_id, path or "", re.sub(r"\d+", "#", message)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _rule(meta: CheckMeta) -> dict[str, Any]:
    help_text = meta.help or meta.title or meta.name
    tags = [meta.dimension]
    if meta.dimension == "secure":
        tags.append("security")
    properties: dict[str, Any] = {"tags": tags, "precision": "high"}
    if meta.dimension == "secure":
        properties["security-severity"] = SECURITY_SEVERITY.get(meta.severity, "5.0")
    if meta.criterion:
        properties["criterion"] = meta.criterion
    return {
        "id": meta.id,
        "name": meta.name,
        "shortDescription": {"text": meta.title or meta.name},
        "fullDescription": {"text": meta.criterion or meta.title or meta.name},
        "help": {"text": help_text, "markdown": help_text},
        "defaultConfiguration": {"level": LEVELS.get(meta.severity, "warning")},
        "properties": properties,
    }


def _location(path: str | None) -> dict[str, Any]:
    if path:
        artifact = {"uri": _uri(path), "uriBaseId": "IMAGEROOT"}
    else:
        artifact = {"uri": CONFIG_URI, "uriBaseId": "IMAGECONFIG"}
    return {"physicalLocation": {"artifactLocation": artifact, "region": {"startLine": 1}}}


def _dockerfile_location(f: Finding) -> dict[str, Any]:
    """The Dockerfile line that wrote the layer (GitHub shows it on the PR diff), with
    the image path (or the config) kept as the logical location."""
    assert f.dockerfile is not None
    path = repo_path(f.dockerfile.path)
    artifact: dict[str, Any] = {"uri": uri(path)}
    if not path.startswith("/"):
        artifact["uriBaseId"] = "%SRCROOT%"
    else:
        artifact["uri"] = "file://" + uri(path)
    logical = (
        {"fullyQualifiedName": f.path, "name": f.path.rsplit("/", 1)[-1] or "/", "kind": "file"}
        if f.path
        else {"fullyQualifiedName": CONFIG_URI, "name": CONFIG_URI, "kind": "image-config"}
    )
    return {
        "physicalLocation": {
            "artifactLocation": artifact,
            "region": {"startLine": f.dockerfile.line},
        },
        "logicalLocations": [logical],
    }


def _uri(path: str) -> str:
    """An image path as a relative URI reference (percent-encoding what must be)."""
    from urllib.parse import quote

    return quote(path.lstrip("/"), safe="/!$&'()*+,;=:@-._~")


def _result(f: Finding, rule_index: int) -> dict[str, Any]:
    text = f.message
    if f.remedy:
        text += f"\nFix: {f.remedy}"
    related = [p for p in f.paths if p != f.path]
    found = f.to_json()
    result: dict[str, Any] = {
        "ruleId": f.check_id,
        "ruleIndex": rule_index,
        "level": LEVELS[str(f.severity)],
        "message": {"text": text},
        "locations": [_dockerfile_location(f) if f.dockerfile else _location(f.path)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(f.check_id, f.path, f.message)},
        "properties": {
            k: found[k]
            for k in ("severity", "layer", "created_by", "bytes", "evidence")
            if k in found
        },
    }
    if related:
        result["relatedLocations"] = [
            {"id": i, **_location(p)} for i, p in enumerate(related[:50], start=1)
        ]
    return result


def _repository(reference: str | None) -> str:
    """`registry/org/app:1.2@sha256:..` -> `registry/org/app` (the alert category)."""
    ref = (reference or "image").split("@", 1)[0]
    head, _, tail = ref.rpartition("/")
    tail = tail.split(":", 1)[0]
    return f"{head}/{tail}" if head else tail


def build(report: Report) -> dict[str, Any]:
    metas = catalog(report)
    findings = report.findings or ()
    ran = [r.check_id for r in report.results or ()]
    ids = sorted(set(ran) | {f.check_id for f in findings})
    rules = [_rule(metas[i]) for i in ids]
    index = {i: n for n, i in enumerate(ids)}
    results = [_result(f, index[f.check_id]) for f in findings]
    notifications = [
        {
            "level": "error",
            "message": {"text": f"check {r.check_id} failed to run: {r.reason or ''}"},
            "descriptor": {"id": r.check_id, "index": index[r.check_id]},
        }
        for r in report.results or ()
        if r.status.value == "error"
    ]
    image = report.image
    reference = report.reference or None
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run_properties: dict[str, Any] = {
        "image": {
            "reference": reference,
            "digest": image.get("digest"),
            "platform": f"{image.get('os')}/{image.get('architecture')}",
        }
    }
    scores = report.scores
    run_properties["scores"] = scores.to_json() if scores is not None else "not scored"
    tool = report.tool
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "imgaudit",
                        "version": str(tool.get("version", "0")),
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"imgaudit/{_repository(reference)}/"},
                "originalUriBaseIds": {
                    "IMAGEROOT": {
                        "uri": "file:///",
                        "description": {"text": "the root of the image's filesystem"},
                    },
                    "IMAGECONFIG": {
                        "uri": "file:///.imgaudit/",
                        "description": {
                            "text": "the image configuration (User, Env, Entrypoint, ...)"
                        },
                    },
                },
                "invocations": [invocation],
                "results": results,
                "properties": run_properties,
            }
        ],
    }


def render(report: Report) -> str:
    return json.dumps(build(report), indent=2, ensure_ascii=False) + "\n"
