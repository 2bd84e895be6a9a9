"""`--format cyclonedx`: a CycloneDX 1.6 SBOM of a factory image with real parts.

The image: the dpkg database of a real Debian 12 minbase (testdata/debian-bookworm),
the test host's CPython at /opt/acme/python, and a venv owned by the runtime user
with real distributions copied from the test venv (cffi, pycparser, jinja2,
markupsafe), cffi's WHEEL retagged as pip writes it for a wheel it built. Every SBOM
is validated with cyclonedx-python-lib's own strict JSON schema validator, and its
package set compared with what the facts found in the same image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from auditor import Settings, audit
from auditor.cli import main
from auditor.facts import Facts
from auditor.facts.dpkg import parse_status
from auditor.loading import LoadOptions, load_image
from auditor.report import cyclonedx
from auditor.report.model import Report
from auditor.report.sbom_inventory import inventory, parse_relations
from tests.checks.support import debian_base, real_file
from tests.factory import File, ImageSpec, Layer, write_docker_archive
from tests.python import pyimage

ROOT = Path(__file__).resolve().parents[2]
VENV = "app/venv"
SITE = f"{VENV}/lib/python{pyimage.VERSION}/site-packages"
HOME = "/opt/acme/python/bin"
ABI = "cp" + pyimage.VERSION.replace(".", "")
BUILT_TAG = f"{ABI}-{ABI}-linux_x86_64"
# A dist-info written as pip writes one, with requirements whose markers do not hold for
# a CPython 3 on Linux, one whose version the image does not satisfy, one that holds.
DEMO_METADATA = b"""\
Metadata-Version: 2.1
Name: Demo_App
Version: 1.0
Requires-Dist: six ; python_version < "3.0"
Requires-Dist: MarkupSafe>=99
Requires-Dist: pycparser ; sys_platform == "linux" and platform_machine == "x86_64"
Requires-Dist: jinja2 ; extra == "templates"
"""


def validate(text: str) -> dict[str, Any]:
    """The SBOM as JSON, after the library's own strict schema validation."""
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    doc: dict[str, Any] = json.loads(text)
    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.6")
    return doc


def dist(name: str) -> str:
    return next(p.name for p in pyimage.HOST_SITE.glob(f"{name}-*.dist-info"))


def spec() -> ImageSpec:
    items = list(pyimage.venv_items(VENV, HOME, uid=1000, gid=1000))
    for name in ("cffi", "pycparser", "jinja2", "markupsafe"):
        tag = BUILT_TAG if name == "cffi" else None
        items += pyimage.dist_items(SITE, dist(name), uid=1000, gid=1000, wheel_tag=tag)
    demo = f"{SITE}/demo_app-1.0.dist-info"
    items += [
        File(f"{demo}/METADATA", DEMO_METADATA, uid=1000, gid=1000),
        File(f"{demo}/RECORD", f"{demo.rsplit('/', 1)[1]}/METADATA,,\n".encode()),
    ]
    return ImageSpec(
        [
            debian_base(setuid=False),
            pyimage.cpython_layer(),
            Layer(items, created_by="RUN pip install -r requirements.txt"),
        ],
        name="acme/app:1.4",
        config={"User": "1000", "Cmd": [f"/{VENV}/bin/python"]},
    )


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Facts]:
    path = tmp_path_factory.mktemp("sbom") / "app.tar"
    write_docker_archive(pyimage.build(spec()), path)
    options = LoadOptions(use_cache=False, jobs=1)
    report = audit(f"docker-archive:{path}", Settings(loading=options))
    facts = Facts(load_image(f"docker-archive:{path}", options))
    return report, facts


def components(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        c["bom-ref"]: c
        for c in doc["components"]
        if {"name": "imgaudit:package:type", "value": kind} in c.get("properties", [])
    }


def props(component: dict[str, Any], name: str) -> list[str]:
    return [p["value"] for p in component.get("properties", []) if p["name"] == f"imgaudit:{name}"]


def depends(doc: dict[str, Any]) -> dict[str, set[str]]:
    return {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}


def test_package_set_is_the_facts(scanned: tuple[Report, Facts]) -> None:
    report, facts = scanned
    doc = validate(cyclonedx.render(report))
    debs = components(doc, "dpkg")
    assert {(c["name"], c["version"]) for c in debs.values()} == {
        (p.name, p.version) for p in facts.dpkg.packages.values()
    }
    assert len(debs) == len(parse_status(real_file("status").decode()))
    pythons = components(doc, "python")
    assert {(c["purl"], props(c, "python:metadata")[0]) for c in pythons.values()} == {
        (f"pkg:pypi/{d.name}@{d.version}", "/" + d.meta_dir) for d in facts.distributions
    }
    assert "pkg:pypi/demo-app@1.0" in {c["purl"] for c in pythons.values()}  # canonical name
    [interp] = components(doc, "cpython").values()
    [python] = facts.pythons
    assert props(interp, "python:path") == ["/" + python.path]
    assert interp["version"] == python.full_version
    assert interp["cpe"] == f"cpe:2.3:a:python:python:{python.full_version}:*:*:*:*:*:*:*"


def test_purls_properties_and_the_image(scanned: tuple[Report, Facts]) -> None:
    report, facts = scanned
    doc = validate(cyclonedx.render(report))
    libc = components(doc, "dpkg")["dpkg:libc6"]
    version = facts.dpkg.packages["libc6"].version
    assert libc["purl"] == (
        f"pkg:deb/debian/libc6@{version.replace('+', '%2B')}"
        "?arch=amd64&distro=debian-12&upstream=glibc"
    )
    cffi = next(c for c in components(doc, "python").values() if c["name"] == "cffi")
    assert props(cffi, "python:location") == [f"/{SITE}"]
    assert props(cffi, "python:environment") == [f"/{VENV}"]
    assert props(cffi, "layer") == ["2"]
    assert props(cffi, "layer:diff-id") == [report.image["layers"][2]["diff_id"]]
    assert cffi["evidence"]["occurrences"] == [{"location": props(cffi, "python:metadata")[0]}]
    root = doc["metadata"]["component"]
    assert (root["type"], root["name"], root["version"]) == ("container", "acme/app", "1.4")
    assert props(root, "image:digest") == [report.image["digest"]]
    assert props(root, "image:platform") == ["linux/amd64"]
    assert report.scores is not None and props(root, "grade") == [report.scores.grade]
    assert doc["metadata"]["tools"]["components"][0]["name"] == "imgaudit"


def test_findings_sit_on_the_components_they_concern(scanned: tuple[Report, Facts]) -> None:
    report, _ = scanned
    doc = validate(cyclonedx.render(report))
    by_check = {f.check_id for f in report.findings or ()}
    assert {"PK001", "SEC003"} <= by_check
    for component in components(doc, "python").values():
        built = props(component, "finding:PK001")
        assert bool(built) == (component["name"] == "cffi"), component["name"]
        # the venv is writable by the runtime user: every distribution in it says so
        assert [v.split(":")[0] for v in props(component, "finding:SEC003")] == ["warning"]
    root = doc["metadata"]["component"]
    assert not props(root, "finding:PK001") and not props(root, "finding:SEC003")
    # every finding is somewhere: on a component, or on the image
    placed = [
        p["name"].split(":")[-1]
        for c in [root, *doc["components"]]
        for p in c.get("properties", [])
        if p["name"].startswith("imgaudit:finding:")
    ]
    assert set(placed) == by_check


def test_dependencies_resolve_inside_the_image(scanned: tuple[Report, Facts]) -> None:
    report, facts = scanned
    doc = validate(cyclonedx.render(report))
    graph = depends(doc)
    refs = {c["bom-ref"] for c in doc["components"]}
    assert graph[doc["metadata"]["component"]["bom-ref"]] == refs
    assert all(targets <= refs for targets in graph.values())
    ref = {d.name: f"python:/{d.meta_dir}" for d in facts.distributions}
    # cffi: `pycparser; implementation_name != "PyPy"` holds for CPython
    assert graph[ref["cffi"]] == {ref["pycparser"]}
    assert graph[ref["jinja2"]] == {ref["markupsafe"]}  # Babel only with extra "i18n"
    # demo: only the requirement whose marker holds and whose version is installed
    assert graph[ref["demo-app"]] == {ref["pycparser"]}
    assert graph[ref["markupsafe"]] == graph[ref["pycparser"]] == set()
    # dpkg: the minbase is a consistent install: every Depends/Pre-Depends group of
    # every package resolves to an installed package (awk through mawk's Provides)
    assert graph["dpkg:base-files"] == {"dpkg:mawk"}
    assert {"dpkg:libc6", "dpkg:libtinfo6"} <= graph["dpkg:bash"]
    providers: dict[str, set[str]] = {}
    for pkg in facts.dpkg.packages.values():
        for group in parse_relations(pkg.provides):
            for rel in group:
                providers.setdefault(rel.name, set()).add(pkg.name)
    for pkg in facts.dpkg.packages.values():
        resolved = {t.removeprefix("dpkg:") for t in graph[f"dpkg:{pkg.name}"]}
        field = ", ".join(f for f in (pkg.pre_depends, pkg.depends) if f)
        for group in parse_relations(field):
            names = {rel.name for rel in group}
            if pkg.name in names:
                continue
            candidates = names.union(*(providers.get(n, set()) for n in names))
            assert resolved & candidates, (pkg.name, group)


def test_same_report_same_sbom_but_serial_and_time(scanned: tuple[Report, Facts]) -> None:
    report, _ = scanned
    first, second = (json.loads(cyclonedx.render(report)) for _ in range(2))
    assert first["serialNumber"] != second["serialNumber"]
    for doc in (first, second):
        doc.pop("serialNumber")
        doc["metadata"].pop("timestamp")
    assert first == second
    assert (
        inventory(report.facts or {}).refs
        == inventory(Report.from_json(report.to_json()).facts or {}).refs
    )


def test_cli_writes_the_sbom_by_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sbom.cdx.json"
    code = main(["scan", str(ROOT / "testdata" / "sample.tar"), "-o", str(out), "--no-cache"])
    assert code == 0
    assert capsys.readouterr().out == ""
    doc = validate(out.read_text())
    assert doc["metadata"]["component"]["name"] == "imgaudit/sample"
    assert (
        main(["scan", str(ROOT / "testdata" / "sample.tar"), "-f", "cyclonedx", "--no-cache"]) == 0
    )
    validate(capsys.readouterr().out)
