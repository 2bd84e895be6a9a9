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
    return "\n".join(out) + "\n"
