"""`--format cyclonedx`: the image's inventory as a CycloneDX 1.6 JSON SBOM.

Built with the CycloneDX project's own library (cyclonedx-python-lib), which owns the
document's shape and serialisation; this module only says what goes in:

- the image as `metadata.component` (type container): its name and tag, the config
  digest (the image ID, the same for every transport), the platform, and the base
  image when the report knows it (`pedigree.ancestors` and a property);
- every dpkg package, `pkg:deb/<os id>/NAME@VERSION?arch=ARCH&distro=<id>-<version>`
  (with `upstream=SOURCE` when the source package has another name);
- every Python distribution, `pkg:pypi/NAME@VERSION` (the canonical name), with its
  location, metadata directory, environments and layer as properties and its metadata
  directory as evidence of where it was found;
- every CPython interpreter (type application, its full version; a CPE only for one
  no distribution package ships, whose vulnerabilities are upstream's);
- `dependencies`: the image on every component, and the edges that resolve inside the
  image (auditor/report/sbom_inventory.py says how);
- imgaudit's findings as properties `imgaudit:finding:<check ID>` =
  `<severity>: <message>` on the component they concern (a path it owns, a name in
  the evidence, the venv or site directory it lives in); findings about no component
  sit on the image.

`serialNumber` and `metadata.timestamp` are new on every rendering, as the CycloneDX
specification asks of every BOM generated; everything else is sorted and repeatable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType, Pedigree
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from auditor import __version__
from auditor.findings import Finding
from auditor.references import split_reference
from auditor.report.model import Report
from auditor.report.sbom_inventory import (
    DebPackage,
    Interpreter,
    Inventory,
    PythonDist,
    inventory,
)

NS = "imgaudit"
# Findings about the directory a distribution lives in: its venv or site directory.
ENVIRONMENT_CHECKS = {
    "SEC003": "venv",  # writable-venv: evidence.venv
    "PY007": "venv",  # broken-venv: evidence.venv
    "SEC005": None,  # pip-writable: path is the site directory
}
# Evidence keys that name a distribution or a dpkg package.
DIST_KEYS = ("distribution", "name")
DEB_KEYS = ("package", "dpkg_package_of_file")


def render(report: Report) -> str:
    bom = build_bom(report)
    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"


def build_bom(report: Report) -> Bom:
    facts = report.facts or {}
    image = report.image
    found = inventory(facts, str(image.get("architecture") or ""))
    findings = list(report.findings or ())
    attached: set[int] = set()

    def findings_of(match: Any) -> list[Property]:
        props = []
        for i, f in enumerate(findings):
            if match(f):
                attached.add(i)
                props.append(_finding_property(f))
        return props

    os_json = facts.get("os") or {}
    components: dict[str, Component] = {}
    for deb in found.debs:
        props = findings_of(lambda f, d=deb: _concerns_deb(f, d))
        components[deb.ref] = _deb_component(deb, os_json, props)
    layers = image.get("layers") or []
    for dist in found.pythons:
        props = findings_of(lambda f, d=dist: _concerns_python(f, d))
        components[dist.ref] = _python_component(dist, layers, props)
    for interp in found.interpreters:
        props = findings_of(lambda f, i=interp: _concerns_interpreter(f, i))
        components[interp.ref] = _interpreter_component(interp, props)

    rest = [_finding_property(f) for i, f in enumerate(findings) if i not in attached]
    root = _image_component(report, rest)
    bom = Bom(
        metadata=BomMetaData(
            component=root,
            tools=ToolRepository(
                components=[
                    Component(type=ComponentType.APPLICATION, name="imgaudit", version=__version__)
                ]
            ),
        ),
        components=components.values(),
    )
    bom.register_dependency(root, components.values())
    _register_edges(bom, found, components)
    return bom


def _register_edges(bom: Bom, found: Inventory, components: Mapping[str, Component]) -> None:
    for ref in found.refs:
        targets = [components[t] for t in found.depends.get(ref, ()) if t in components]
        bom.register_dependency(components[ref], targets)


# ---- components -------------------------------------------------------------------------


def _prop(name: str, value: object) -> Property:
    return Property(name=f"{NS}:{name}", value=str(value))


def _finding_property(f: Finding) -> Property:
    return _prop(f"finding:{f.check_id}", f"{f.severity}: {f.message}")


def deb_purl(deb: DebPackage, os_json: Mapping[str, Any]) -> PackageURL:
    """`pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12`."""
    os_id = str(os_json.get("id") or "debian")
    release = os_json.get("version_id") or os_json.get("version_codename")
    qualifiers = {"arch": deb.architecture} if deb.architecture else {}
    if os_json.get("id") and release:
        qualifiers["distro"] = f"{os_id}-{release}"
    if deb.source and deb.source != deb.name:
        qualifiers["upstream"] = deb.source
    return PackageURL(
        type="deb", namespace=os_id, name=deb.name, version=deb.version, qualifiers=qualifiers
    )


def _deb_component(deb: DebPackage, os_json: Mapping[str, Any], props: list[Property]) -> Component:
    purl = deb_purl(deb, os_json)
    return Component(
        type=ComponentType.LIBRARY,
        name=deb.name,
        version=deb.version,
        purl=purl,
        bom_ref=deb.ref,
        properties=[_prop("package:type", "dpkg"), *props],
    )


def python_purl(dist: PythonDist) -> PackageURL:
    """`pkg:pypi/NAME@VERSION`, NAME canonical (PEP 503), as the purl spec asks."""
    return PackageURL(type="pypi", name=dist.name, version=dist.version)


def _python_component(
    dist: PythonDist, layers: list[Mapping[str, Any]], props: list[Property]
) -> Component:
    extra = [
        _prop("package:type", "python"),
        _prop("python:location", dist.location),
        _prop("python:metadata", dist.metadata),
        _prop("python:kind", dist.kind),
        *(_prop("python:environment", e) for e in dist.environments),
        *(_prop("python:wheel-tag", t) for t in dist.wheel_tags),
    ]
    if dist.installer:
        extra.append(_prop("python:installer", dist.installer))
    if dist.editable:
        extra.append(_prop("python:editable", "true"))
    if dist.layer is not None:
        extra.append(_prop("layer", dist.layer))
        if 0 <= dist.layer < len(layers) and layers[dist.layer].get("diff_id"):
            extra.append(_prop("layer:diff-id", layers[dist.layer]["diff_id"]))
    return Component(
        type=ComponentType.LIBRARY,
        name=dist.display_name,
        version=dist.version,
        purl=python_purl(dist),
        bom_ref=dist.ref,
        properties=[*extra, *props],
        evidence=ComponentEvidence(occurrences=[Occurrence(location=dist.metadata)]),
    )


def _interpreter_component(interp: Interpreter, props: list[Property]) -> Component:
    extra = [_prop("package:type", "cpython"), _prop("python:path", interp.path)]
    for key, value in (
        ("python:origin", interp.origin),
        ("python:prefix", interp.prefix),
        ("python:stdlib", interp.stdlib),
        ("dpkg:package", interp.package),
    ):
        if value:
            extra.append(_prop(key, value))
    cpe = None
    if interp.full_version and interp.origin != "distro" and interp.package is None:
        cpe = f"cpe:2.3:a:python:python:{interp.full_version}:*:*:*:*:*:*:*"
    return Component(
        type=ComponentType.APPLICATION,
        name="cpython",
        version=interp.full_version or interp.version,
        bom_ref=interp.ref,
        cpe=cpe,
        properties=[*extra, *props],
        evidence=ComponentEvidence(occurrences=[Occurrence(location=interp.path)]),
    )


def _image_component(report: Report, findings: Iterable[Property]) -> Component:
    image = report.image
    digest = str(image.get("digest") or "")
    name, tag = split_reference(report.reference) if report.reference else ("", "")
    platform = "/".join(str(image[k]) for k in ("os", "architecture") if image.get(k))
    props = [_prop("image:digest", digest)]
    if platform:
        props.append(_prop("image:platform", platform))
    provenance = (report.facts or {}).get("provenance") or {}
    base = provenance.get("base")
    pedigree = None
    if base:
        props.append(_prop("image:base", base))
        if provenance.get("base_layers") is not None:
            props.append(_prop("image:base-layers", provenance["base_layers"]))
        base_name, base_tag = split_reference(base)
        pedigree = Pedigree(
            ancestors=[
                Component(
                    type=ComponentType.CONTAINER,
                    name=base_name or base,
                    version=base_tag or None,
                    bom_ref=f"image:{base}",
                )
            ]
        )
    if report.scores is not None:
        props += [_prop("grade", report.scores.grade), _prop("score", report.scores.overall)]
    return Component(
        type=ComponentType.CONTAINER,
        name=name or digest,
        version=tag or digest,
        bom_ref=f"image:{digest}",
        properties=[*props, *findings],
        pedigree=pedigree,
    )


# ---- which component a finding concerns -------------------------------------------------


def _within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _paths(f: Finding) -> list[str]:
    return [p for p in (f.path, *f.paths) if p]


def _evidence_names(f: Finding, keys: Iterable[str]) -> set[str]:
    return {str(f.evidence[k]) for k in keys if isinstance(f.evidence.get(k), str)}


def _concerns_deb(f: Finding, deb: DebPackage) -> bool:
    return deb.name in _evidence_names(f, DEB_KEYS)


def _concerns_python(f: Finding, dist: PythonDist) -> bool:
    paths = _paths(f)
    if any(dist.owns(p) for p in paths):
        return True
    from packaging.utils import canonicalize_name

    named = {canonicalize_name(n) for n in _evidence_names(f, DIST_KEYS)}
    if dist.name in named and (not paths or any(_within(p, dist.location) for p in paths)):
        return True
    if f.check_id in ENVIRONMENT_CHECKS:
        key = ENVIRONMENT_CHECKS[f.check_id]
        where = f.evidence.get(key) if key else f.path
        if isinstance(where, str) and where:
            return _within(dist.location, where)
    return False


SITE_DIRS = ("site-packages", "dist-packages")


def _concerns_interpreter(f: Finding, interp: Interpreter) -> bool:
    """Its program, or its standard library (not the site directory inside it, whose
    distributions are components of their own)."""
    if f.evidence.get("interpreter") == interp.path:
        return True
    return any(p == interp.path or _in_stdlib(p, interp.stdlib) for p in _paths(f))


def _in_stdlib(path: str, stdlib: str | None) -> bool:
    if not stdlib or not _within(path, stdlib):
        return False
    return path[len(stdlib) :].lstrip("/").split("/", 1)[0] not in SITE_DIRS
