"""The Python facts equal what the image's own interpreters say, run by the engine:
the package inventory is what each interpreter and venv lists with its own
`importlib.metadata.distributions()`; each full version is its `sys.version`; the
app's interpreter is the one the image's own command runs; and distroless's
status.d makes Debian's python the distro's.

The images (tests/integration/python_cases.py) hold every case importlib has a rule
for: Debian's dist-packages with dist-info, egg-info directories and a single-file
egg-info, venvs with and without system site-packages, root's and a user's
`pip install --user`, `--target` trees off sys.path until PYTHONPATH names them,
.pth files (hidden ones too), an .egg put on sys.path by easy-install.pth, upper-case
suffixes, and malformed metadata. Compared per environment: canonical name, version
as written (None when the metadata has none), and the metadata's real path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from auditor.checks import py001_system_python, py005_stdlib_tests
from auditor.facts import Facts
from auditor.loading import LoadOptions, load_image
from auditor.runner import Check, run_checks
from tests.integration import python_cases as cases
from tests.support.baseimages import BuiltImage, save
from tests.support.cpython import source_cpython
from tests.support.require import unavailable
from tests.support.services import DockerEngine, ServiceUnavailable

Key = tuple[str | None, str | None, str]


@pytest.fixture(scope="module")
def inventory_images(
    docker_engine: DockerEngine, bookworm_python: BuiltImage
) -> Iterator[tuple[str, str]]:
    try:
        yield cases.build_inventory_images(docker_engine)
    except ServiceUnavailable as exc:  # no PyPI for the wheels
        unavailable(exc.reason)


def _facts(engine: DockerEngine, tag: str, tmp: Path) -> Facts:
    path = save(engine, tag, tmp / (tag.replace("/", "_").replace(":", "_") + ".tar"))
    return Facts(load_image(f"docker-archive:{path}", LoadOptions(use_cache=False, jobs=1)))


def _truth(engine: DockerEngine, tag: str, python: str) -> tuple[set[Key], set[str]]:
    """(distributions the interpreter lists, the interpreter's own egg-info paths)."""
    dists = cases.environment_truth(engine, tag, python)["dists"]
    own = {path for name, _v, path in dists if name == "Python" and "/lib-dynload/" in path}
    listed = {
        (canonicalize_name(name) if name is not None else None, version, path)
        for name, version, path in dists
        if path not in own
    }
    return listed, own


def _listed_by(facts: Facts, environment: str) -> set[Key]:
    inventory = facts.inventory
    return {
        (d.name, d.version, "/" + d.meta_dir)
        for d in (*inventory.distributions, *inventory.unnamed)
        if environment.lstrip("/") in d.environments
    }


@pytest.mark.parametrize("image", ["root", "user"])
def test_inventory_equals_importlib_per_environment(
    docker_engine: DockerEngine,
    inventory_images: tuple[str, str],
    tmp_path: Path,
    image: str,
) -> None:
    tag = inventory_images[0 if image == "root" else 1]
    facts = _facts(docker_engine, tag, tmp_path)
    assert sorted("/" + e.path for e in facts.environments) == sorted(cases.ENVIRONMENTS)
    for environment, python in cases.ENVIRONMENTS.items():
        truth, own = _truth(docker_engine, tag, python)
        assert _listed_by(facts, environment) == truth, environment
        assert {"/" + p for p in facts.inventory.interpreter_metadata} == own
    # what no interpreter lists is still inventoried, with no environment
    off_path = {"/" + d.meta_dir for d in facts.distributions if not d.environments}
    if image == "root":
        assert off_path == {"/app/deps/packaging-25.0.dist-info"}  # --target, no PYTHONPATH
    else:  # root's user site is not the app user's
        assert off_path == {"/root/.local/lib/python3.11/site-packages/attrs-25.3.0.dist-info"}


def test_inventory_reads_requirements_and_kinds(
    docker_engine: DockerEngine, inventory_images: tuple[str, str], tmp_path: Path
) -> None:
    facts = _facts(docker_engine, inventory_images[0], tmp_path)
    by_meta = {d.meta_dir.rsplit("/", 1)[-1]: d for d in facts.distributions}
    mixed = by_meta["Mixed_Case-1.0.DIST-INFO"]
    assert (mixed.name, mixed.display_name, mixed.kind) == ("mixed-case", "Mixed_Case", "dist-info")
    assert [str(r) for r in mixed.requires] == ["idna>=3", 'attrs; extra == "x"']
    foo = by_meta["Foo_Bar-1.0.egg-info"]  # requires.txt sections become markers
    assert [str(r) for r in foo.requires] == [
        "six>=1.0",
        'idna; extra == "test"',
        'attrs; python_version < "4"',
    ]
    egg = by_meta["EGG-INFO"]
    assert (egg.name, egg.kind, egg.location) == (
        "eggy",
        "egg",
        "usr/local/lib/python3.11/dist-packages/eggy-2.0-py3.11.egg",
    )
    assert by_meta["python_apt-2.6.0.egg-info"].kind == "egg-info"  # Debian's single file
    assert by_meta["badversion-1.0.dist-info"].version == "not a version!"  # as written
    merged = by_meta["merged-1.0.dist-info"]  # merge markers in RECORD: rows skipped
    site = "usr/local/lib/python3.11/dist-packages"
    assert merged.files == (f"{site}/merged/__init__.py", f"{site}/merged-1.0.dist-info/RECORD")
    report = facts.content_json()
    unnamed = {p["metadata"] for p in report["unnamed_packages"]}
    assert unnamed == {
        f"/{cases.DIST_PACKAGES}/{n}-1.0.dist-info" for n in ("conflicted", "emptymeta", "nometa")
    }


# ---- full versions, and which interpreter the app runs ------------------------------


def test_full_versions_equal_sys_version(
    docker_engine: DockerEngine, inventory_images: tuple[str, str], tmp_path: Path
) -> None:
    facts = _facts(docker_engine, inventory_images[0], tmp_path)
    [debian] = facts.pythons
    truth = cases.environment_truth(docker_engine, inventory_images[0], "/usr/bin/python3.11")
    assert (debian.full_version, debian.full_version_source) == (truth["version"], "binary")


@pytest.fixture(scope="module")
def app_images(docker_engine: DockerEngine, bookworm_python: BuiltImage) -> dict[str, str]:
    return cases.build_app_images(docker_engine, source_cpython(docker_engine))


@pytest.mark.parametrize("variant", sorted(cases.APP_VARIANTS))
def test_app_python_is_what_the_image_runs(
    docker_engine: DockerEngine, app_images: dict[str, str], tmp_path: Path, variant: str
) -> None:
    """The image's own command prints the interpreter that runs it: imgaudit names the
    same venv (or none), base interpreter and full version, and PY001 follows."""
    tag = app_images[variant]
    ran = json.loads(cases.run_image(docker_engine, tag))
    facts = _facts(docker_engine, tag, tmp_path)
    app = facts.app_python
    assert app.how == "entrypoint"
    venv = ran["prefix"].lstrip("/") if ran["prefix"] != ran["base_prefix"] else None
    assert (app.environment if app.environment != app.interpreter else None) == venv
    [base] = [i for i in facts.pythons if i.path == app.interpreter]
    assert ("/" + base.prefix, base.full_version) == (ran["base_prefix"], ran["version"])
    outcome = run_checks([Check.from_module(py001_system_python)], facts, {})
    flagged = [f.message for f in outcome.findings]
    if base.origin == "distro":
        assert len(flagged) == 1 and flagged[0].startswith("the app uses the distribution's")
    else:  # Debian's python3 is in the image, for apt's sake only
        assert flagged == []


def test_distroless_dpkg_status_d_owns_the_distro_python(
    docker_engine: DockerEngine, bookworm_python: BuiltImage, tmp_path: Path
) -> None:
    tag = cases.build_distroless_image(docker_engine)
    facts = _facts(docker_engine, tag, tmp_path)
    assert facts.dpkg.origin == "/var/lib/dpkg/status.d" and not facts.fs.listdir(
        "var/lib/dpkg/info"
    )
    [interp] = facts.pythons
    truth = cases.environment_truth(docker_engine, tag, "/usr/bin/python3.11")
    assert (interp.origin, interp.package, interp.full_version) == (
        "distro",
        "python3.11-minimal",
        truth["version"],
    )
    # Debian's own stdlib test files (libpython3.11-stdlib) are the distro's, not a finding
    assert facts.dpkg.owner("usr/lib/python3.11/test/__init__.py") is not None
    outcome = run_checks([Check.from_module(py005_stdlib_tests)], facts, {})
    assert outcome.findings == []
    # the base image's CMD runs python3: PY001, for that reason only (Debian's own
    # python3-pip etc. in dist-packages are the distro's, through their md5sums)
    [f] = run_checks([Check.from_module(py001_system_python)], facts, {}).findings
    assert f.message.endswith("the entrypoint runs it (/usr/bin/python3)")
