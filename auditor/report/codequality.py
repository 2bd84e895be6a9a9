"""`--format codequality`: GitLab's Code Quality report, so findings show in merge requests.

GitLab reads `artifacts:reports:codequality`: a JSON array of issues, each with
`description`, `check_name`, `fingerprint`, `severity` (info, minor, major, critical,
blocker) and `location.path` + `location.lines.begin` (a subset of the Code Climate
issue spec; the Code Climate fields added here, `type`, `categories` and
`content.body`, are ignored by GitLab and read by Code Climate tools).

Where an image finding lives in the repository: the Dockerfile line that wrote its
layer when `--dockerfile` matched one (the finding's `dockerfile` {path, line}); else
the Dockerfile the report names, else `Dockerfile`, at line 1, so GitLab still lists
it and the MR diff shows it on the file that builds the image.

The fingerprint is how GitLab tells "new in this MR" from "already on the target
branch": it must not change when the image is rebuilt. It hashes the image's
repository (not its tag or digest), the check, the path in the image and the message
with its numbers blanked (sizes and counts move between builds), never the Dockerfile
line (an edit above it moves it). Two findings with the same identity get an
occurrence number, in the report's stable order, as GitLab wants fingerprints unique.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from auditor.findings import Finding
from auditor.references import repository
from auditor.report.catalog import catalog, dimension_of
from auditor.report.dockerfile_links import repo_path
from auditor.report.model import Report

DEFAULT_PATH = "Dockerfile"
# An imgaudit error means the image fails at run time or is plainly unsafe; "blocker"
# is left to the gate (--fail-on), which is what blocks a merge.
SEVERITIES = {"info": "info", "warning": "major", "error": "critical"}
CATEGORIES = {
    "secure": "Security",
    "small": "Performance",
    "fast": "Performance",
    "usable": "Bug Risk",
}


def render(report: Report) -> str:
    return json.dumps(issues(report), indent=2, ensure_ascii=False) + "\n"


def issues(report: Report) -> list[dict[str, Any]]:
    metas = catalog(report)
    image = repository(report.reference)
    fallback = _report_dockerfile(report) or DEFAULT_PATH
    seen: dict[str, int] = {}
    out = []
    for finding in sorted(report.findings or (), key=Finding.sort_key):
        identity = _identity(image, finding)
        seen[identity] = seen.get(identity, 0) + 1
        if seen[identity] > 1:
            identity = f"{identity}\0{seen[identity]}"
        path, line = _location(finding, fallback)
        issue: dict[str, Any] = {
            "type": "issue",
            "description": _description(finding),
            "check_name": f"imgaudit/{finding.check_id}",
            "fingerprint": hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32],
            "severity": SEVERITIES.get(str(finding.severity), "major"),
            "categories": [CATEGORIES.get(dimension_of(finding, metas), "Bug Risk")],
            "location": {"path": path, "lines": {"begin": line}},
        }
        body = _body(finding)
        if body:
            issue["content"] = {"body": body}
        out.append(issue)
    return out


def _identity(image: str, finding: Finding) -> str:
    message = re.sub(r"\d+", "#", finding.message)
    return "\0".join((image, finding.check_id, finding.path or "", message))


def _location(finding: Finding, fallback: str) -> tuple[str, int]:
    where = finding.dockerfile
    return (repo_path(where.path), where.line) if where is not None else (fallback, 1)


def _report_dockerfile(report: Report) -> str | None:
    """The Dockerfile the report was matched against, relative to the repository (the
    job's working directory): `./Dockerfile` -> `Dockerfile`."""
    section = report.dockerfile
    path = section.get("path") if isinstance(section, dict) else None
    return repo_path(path) if isinstance(path, str) and path else None


def _description(finding: Finding) -> str:
    text = f"{finding.check_id} {finding.name}: {finding.message}"
    if finding.path and finding.path not in finding.message:
        text += f" ({finding.path})"
    return text


def _body(finding: Finding) -> str:
    """Markdown for Code Climate readers: the remedy, the layer, further paths."""
    parts = []
    if finding.remedy:
        parts.append(f"Fix: {finding.remedy}")
    if finding.created_by:
        parts.append(f"Layer {finding.layer}: `{finding.created_by}`")
    if finding.paths:
        parts.append("\n".join(f"- `{path}`" for path in finding.paths))
    return "\n\n".join(parts)
