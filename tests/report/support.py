"""Reports for the format tests, produced by the real pipeline from factory images.

`scan_report(spec, tmp)` writes the image as a docker-archive, loads it with
`load_image`, runs the demo check list (`tests/report/demochecks`) through
`run_checks` and builds the report with `build_report`. Two parts are derived here,
in the tests only, from the same scan, so that the format tests do not change when
the real rules do: `scores` (a simple documented rule over the findings) and
`facts.packages` (dist-info directories found in the merged filesystem).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from auditor.facts import Facts
from auditor.findings import Dimension, Finding
from auditor.loading import LoadOptions, load_image
from auditor.report import sections
from auditor.report.catalog import checks_section
from auditor.report.model import Report
from auditor.report.schema import validate
from auditor.runner import run_checks
from auditor.scoring import Scores
from tests.factory import (
    Dir,
    File,
    ImageSpec,
    Layer,
    Symlink,
    Whiteout,
    build,
    write_docker_archive,
)
from tests.report.demochecks import DEMO_CHECKS

XSS_NAME = "<script>alert(1)</script>"  # a path: the `/` makes `<script>alert(1)<` a dir
XSS_IMG = "<img src=x onerror=alert(1)>"  # a plain file name
PENALTY = {"error": 25, "warning": 10, "info": 2}
DIMENSION_OF = {c.info.id: c.info.dimension.value for c in DEMO_CHECKS}


def demo_scores(findings: list[Finding]) -> Scores:
    """Test-only scoring: 100 minus a penalty per finding in its dimension."""
    dims = {"secure": 100, "small": 100, "fast": 100, "usable": 100}
    for f in findings:
        dim = DIMENSION_OF[f.check_id]
        dims[dim] = max(0, dims[dim] - PENALTY[str(f.severity)])
    overall = round(sum(dims.values()) / 4)
    grade = "A" if overall >= 90 else "B" if overall >= 80 else "C" if overall >= 70 else "D"
    return Scores(overall, grade, {Dimension(d): v for d, v in dims.items()})


def scores(report: Report) -> dict[str, Any]:
    """The report's scores as its JSON spells them (the tests compare rendered text)."""
    assert report.scores is not None
    return report.scores.to_json()


def demo_packages(facts: Facts) -> list[dict[str, Any]]:
    """Installed distributions: `*.dist-info` dirs in site-packages, sized by their files."""
    fs = facts.fs
    files = list(fs.walk_files())
    out = []
    for path, _node in files:
        m = re.match(r"(.*/site-packages)/([^/]+)-([^/-]+)\.dist-info/METADATA$", path)
        if not m:
            continue
        site, name, version = m.groups()
        top = f"{site}/{name.lower()}/"
        size = sum(n.entry.size for p, n in files if p.startswith(top) and n.entry.kind == "f")
        out.append({"name": name, "version": version, "location": "/" + site, "size": size})
    return sorted(out, key=lambda p: p["name"])


def bad_spec(big: int = 6000) -> ImageSpec:
    """Root user, big files (one named like an XSS payload), waste, two packages."""
    site = "usr/local/lib/python3.11/site-packages"
    return ImageSpec(
        name="example.org/demo/app:1.0",
        config={
            "Labels": {
                "org.example.note": '<img src=x onerror="alert(2)">',
                "demo.crash": "on purpose",
            },
            "Env": ["PATH=/usr/local/bin:/usr/bin"],
        },
        layers=[
            Layer(
                [
                    Dir("etc"),
                    File("etc/os-release", b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Demo"\n'),
                    File("usr/share/doc/big.txt", b"d" * big),
                    File("tmp/build-cache.bin", b"c" * 9000),
                ],
                created_by="/bin/sh -c #(nop) ADD file:rootfs in / ",
            ),
            Layer(
                [
                    File(f"{site}/requests/__init__.py", b"r" * 3000),
                    File(f"{site}/requests-2.31.0.dist-info/METADATA", b"Name: requests\n"),
                    File(f"{site}/numpy/core.so", b"n" * 20000),
                    File(f"{site}/numpy-1.26.4.dist-info/METADATA", b"Name: numpy\n"),
                    Symlink("usr/local/bin/python", "python3"),
                ],
                created_by="RUN pip install --no-cache-dir --require-hashes -r requirements.txt"
                " requests numpy # <b>bold</b>",
            ),
            Layer(
                [
                    File(f"app/{XSS_NAME}", b"x" * 5000),
                    File(f"app/{XSS_IMG}", b"y" * 4096),
                    Whiteout("tmp/build-cache.bin"),
                    File("usr/share/doc/big.txt", b"e" * 10),
                ],
                created_by='COPY . /app # <img src=x onerror="alert(3)">',
            ),
        ],
    )


def good_spec() -> ImageSpec:
    """Non-root, small files, no /usr/local: no findings, one skipped check."""
    return ImageSpec(
        name="example.org/demo/good:1.0",
        config={"User": "1000"},
        layers=[Layer([File("etc/os-release", b"ID=debian\n"), File("app/main.py", b"print()")])],
    )


def scan_report(
    spec: ImageSpec, tmp: Path, *, scored: bool = True, with_checks: bool = True
) -> Report:
    archive = write_docker_archive(build(spec), tmp / f"image-{len(list(tmp.iterdir()))}.tar")
    loaded = load_image(f"docker-archive:{archive}", LoadOptions(cache_dir=tmp / "cache", jobs=1))
    facts = Facts(loaded)
    facts_json = facts.to_json()
    packages = demo_packages(facts)
    if packages:
        facts_json["packages"] = packages
    parts: dict[str, Any] = {"facts": facts_json}
    if with_checks:
        outcome = run_checks(DEMO_CHECKS, facts)
        parts.update(
            results=outcome.results,
            findings=outcome.findings,
            checks=checks_section(DEMO_CHECKS),
        )
        if scored:
            parts["scores"] = demo_scores(outcome.findings)
    report = sections.build_report(loaded, **parts)
    validate(report.to_json())
    return report
