"""`--format junit`: one test case per check, so Jenkins and GitLab list checks as tests.

A failed check carries its findings in `<failure>`, a skipped one its reason in
`<skipped>`, a crashed one `<error>`. Test cases are grouped by dimension through
`classname` (`imgaudit.secure`), which CI UIs show as the suite tree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from auditor.findings import Finding
from auditor.report.catalog import catalog, fmt_score, severity_counts, status_counts
from auditor.report.model import Report

_XML_INVALID = dict.fromkeys(
    [c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)] + [0xFFFE, 0xFFFF]
)


def clean(text: str) -> str:
    """XML 1.0 cannot carry control characters at all: drop them (they come from images)."""
    text = text.translate(_XML_INVALID)
    return "".join(c for c in text if not (0xD800 <= ord(c) <= 0xDFFF))


def _finding_text(f: Finding) -> str:
    lines = [f"[{f.severity}] {f.message}"]
    if f.path:
        lines.append(f"  path: {f.path}")
    for p in f.paths:
        lines.append(f"  also: {p}")
    if f.layer is not None:
        lines.append(f"  layer {f.layer}: {f.created_by or ''}")
    if f.remedy:
        lines.append(f"  fix: {f.remedy}")
    return "\n".join(lines)


def build(report: Report) -> ET.Element:
    metas = catalog(report)
    results = report.results or ()
    by_check: dict[str, list[Finding]] = {}
    for f in report.findings or ():
        by_check.setdefault(f.check_id, []).append(f)
    counts = status_counts(results)
    image = report.image
    reference = report.reference or "image"
    totals = {
        "tests": str(len(results)),
        "failures": str(counts["failed"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skipped"]),
        "time": "0",
    }
    root = ET.Element("testsuites", {"name": "imgaudit", **totals})
    suite = ET.SubElement(root, "testsuite", {"name": clean(f"imgaudit {reference}"), **totals})
    props = ET.SubElement(suite, "properties")
    scores = report.scores
    values = {
        "image.reference": reference,
        "image.digest": image.get("digest") or "",
        "grade": scores.grade if scores else "not scored",
        "score.overall": fmt_score(scores.overall) if scores else "not scored",
    }
    for key, value in values.items():
        ET.SubElement(props, "property", {"name": key, "value": clean(str(value))})
    for result in results:
        check_id = result.check_id
        meta = metas[check_id]
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"imgaudit.{meta.dimension}",
                "name": clean(f"{check_id} {result.name or meta.name}"),
                "time": "0",
            },
        )
        status = result.status.value
        if status == "failed":
            found = by_check.get(check_id, [])
            sev = severity_counts(found)
            summary = ", ".join(f"{n} {s}" for s, n in sev.items() if n)
            worst = next((s for s, n in sev.items() if n), "warning")
            failure = ET.SubElement(
                case,
                "failure",
                {
                    "message": clean(f"{len(found)} finding(s): {summary}"),
                    "type": worst,
                },
            )
            failure.text = clean("\n\n".join(_finding_text(f) for f in found))
        elif status == "skipped":
            ET.SubElement(case, "skipped", {"message": clean(result.reason or "")})
        elif status == "error":
            error = ET.SubElement(
                case, "error", {"message": clean(result.reason or ""), "type": "crash"}
            )
            error.text = clean(result.reason or "")
    return root


def render(report: Report) -> str:
    root = build(report)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
