"""The default output: a readable summary for a terminal (tabulate)."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from auditor.report.units import human_bytes, short_digest, shorten


def render(report: dict[str, Any]) -> str:
    image = report["image"]
    waste = report["waste"]
    out: list[str] = []
    summary = [
        ("Image", image["reference"] or report["source"]["reference"]),
        ("Digest", image["digest"]),
        ("Platform", f"{image['os']}/{image['architecture']}"),
        ("User", image["user"] or "(root: no User set)"),
        (
            "Size",
            f"{human_bytes(image['size'])} uncompressed, "
            f"{human_bytes(image['compressed_size'])} compressed",
        ),
        (
            "Wasted",
            f"{human_bytes(waste['wasted_bytes'])} (efficiency {waste['efficiency'] * 100:.1f}%)",
        ),
    ]
    out.append(tabulate(summary, tablefmt="plain"))
    rows = [
        (
            ly["index"],
            human_bytes(ly["size"]),
            short_digest(ly["diff_id"]),
            shorten(ly["created_by"] or "", 48),
        )
        for ly in image["layers"]
    ]
    out.append("")
    out.append(tabulate(rows, headers=["#", "Size", "Layer", "Created by"], tablefmt="simple"))
    dirs = report.get("sizes", {}).get("directories", [])[:10]
    if dirs:
        out.append("")
        out.append(
            tabulate(
                [(human_bytes(d["bytes"]), d["path"]) for d in dirs],
                headers=["Size", "Largest directories"],
                tablefmt="simple",
            )
        )
    files = waste["files"][:10]
    if files:
        out.append("")
        out.append(
            tabulate(
                [
                    (human_bytes(f["wasted_bytes"]), ",".join(map(str, f["layers"])), f["path"])
                    for f in files
                ],
                headers=["Wasted", "Layers", "Path"],
                tablefmt="simple",
            )
        )
    out.extend(scores_and_findings(report))
    return "\n".join(out) + "\n"


def scores_and_findings(report: dict[str, Any]) -> list[str]:
    """Grade, dimension scores and one row per finding (ID, severity, path, layer, base/own).

    Kept small on purpose: the polished formats live elsewhere (issue 11)."""
    out: list[str] = []
    scores = report.get("scores")
    if scores:
        out.append("")
        out.append(
            f"Grade {scores['grade']}  score {scores['overall']}/100  "
            f"(secure {scores['secure']}, small {scores['small']}, "
            f"fast {scores['fast']}, usable {scores['usable']})"
        )
    findings = report.get("findings", [])
    if findings:
        rows = [
            (
                f["check_id"],
                f["severity"],
                shorten(f.get("path") or "", 40),
                "" if f.get("layer") is None else f["layer"],
                {True: "base", False: "own"}.get(f.get("in_base"), ""),
                shorten(f["message"], 70),
            )
            for f in findings
        ]
        out.append("")
        out.append(
            tabulate(
                rows,
                headers=["Check", "Severity", "Path", "Layer", "From", "Finding"],
                tablefmt="simple",
            )
        )
    problems = [r for r in report.get("results", []) if r["status"] == "error"]
    for r in problems:
        out.append(f"check {r['check_id']} crashed: {r.get('reason', '')}")
    for ignore in (report.get("config") or {}).get("expired_ignores", []):
        out.append(f"expired ignore ({ignore['expires']}) for {ignore['check']} no longer applies")
    return out
