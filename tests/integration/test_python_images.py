"""Python checks on images built by a real engine: Debian's python3 (system python), a
CPython installed in /opt/acme/python with a venv made by it and packages from real
wheels (the good image), the same after a locally built sdist wheel and a chown (the
bad image), and a venv copied without its interpreter (the multi-stage break).

The CPython is the tests' one source build (tests/support/cpython.py derives the /opt
install from the realistic set's python-full), so the images are the same whatever
Python the test host has; the image also finds libpython through an ld.so.conf.d entry,
as an /opt install does. Wheels come from PyPI (tests/support/downloads.py: manylinux
binary wheels for CPython 3.11); the bad image's wheel is built from markupsafe's sdist
inside the engine by the source build's own interpreter (so it is tagged
cp311-cp311-linux_x86_64 whatever the host runs). What the good image's interpreter can
import is asked of that interpreter, run in the image.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.check import Check
from auditor.checks import _PYTHON
from auditor.facts import Facts
from auditor.loading import LoadOptions, load_image
from auditor.runner import run_checks
from tests.support.baseimages import BuiltImage, build, save
from tests.support.cpython import PREFIX, SourceCPython, source_cpython
from tests.support.downloads import pypi_or_skip
from tests.support.services import DockerEngine

V = "3.11"  # the source-built interpreter's (tests/support/cpython.py)
CHECKS = [Check.from_module(m) for m in _PYTHON]
OPTIONS = {"PY003": {"today": "2026-11-28"}}
PINS = ["six==1.17.0", "markupsafe==3.0.3"]
STDLIB_DATA = Path(__file__).resolve().parents[2] / "auditor" / "data" / "stdlib.json"


@pytest.fixture(scope="session")
def wheels() -> tuple[Path, Path]:
    """(binary wheels of PINS for CPython 3.11, markupsafe's sdist), cached."""
    binary = pypi_or_skip(PINS, label="py-images")
    sdist = pypi_or_skip(PINS[1:], sdist=True, label="py-images-sdist")
    return binary, sdist


@pytest.fixture(scope="session")
def cpython(docker_engine: DockerEngine) -> SourceCPython:
    """CPython built from source in the engine (cached in its data root)."""
    return source_cpython(docker_engine)


GOOD = f"""\
FROM {{base}}
RUN apt-get update -q && apt-get install -y -q --no-install-recommends {{runtime}} \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
COPY --from={{cpython}} {PREFIX} {PREFIX}
COPY wheels /wheels
RUN echo /opt/acme/python/lib > /etc/ld.so.conf.d/acme-python.conf && ldconfig \\
 && /opt/acme/python/bin/python{V} -m venv /opt/acme/venv \\
 && /opt/acme/venv/bin/pip install -q --no-index --find-links /wheels six markupsafe \\
 && rm -rf /wheels /root/.cache \\
 && groupadd -g 1000 app && useradd -u 1000 -g app -d /app app
COPY app /app
RUN /opt/acme/venv/bin/python -m compileall -q -f --invalidation-mode checked-hash \\
    /opt/acme/venv/lib /app
USER app
WORKDIR /app
CMD ["/opt/acme/venv/bin/python", "main.py"]
"""

BAD = """\
FROM {build} AS sdist-build
COPY sdist /sdist
RUN pip wheel -q --no-deps --no-build-isolation --no-index --wheel-dir /built /sdist/*

FROM {good}
USER root
COPY --from=sdist-build /built /wheels
RUN /opt/acme/venv/bin/pip install -q --no-index --no-deps --force-reinstall /wheels/*.whl \\
 && rm -rf /wheels /root/.cache && chown -R app:app /opt/acme/venv /app
USER app
"""

BROKEN = """\
FROM {base}
COPY --from={good} /opt/acme/venv /opt/acme/venv
CMD ["/opt/acme/venv/bin/python"]
"""

SYSTEM = """\
FROM {base}
RUN python3 -m venv /app/venv
"""


def _scan(engine: DockerEngine, tag: str, tmp: Path) -> tuple[Facts, list[tuple[str, str, str]]]:
    path = save(engine, tag, tmp / (tag.replace("/", "_").replace(":", "_") + ".tar"))
    loaded = load_image(f"docker-archive:{path}", LoadOptions(use_cache=False, jobs=1))
    facts = Facts(loaded)
    outcome = run_checks(CHECKS, facts, OPTIONS)
    errors = [r for r in outcome.results if r.status.value == "error"]
    assert not errors, errors
    return facts, [(f.check_id, str(f.severity), f.message) for f in outcome.findings]


@pytest.fixture(scope="module")
def images(
    docker_engine: DockerEngine,
    bookworm_minbase: BuiltImage,
    bookworm_python: BuiltImage,
    wheels: tuple[Path, Path],
    cpython: SourceCPython,
) -> Iterator[dict[str, str]]:
    binary, sdist = wheels
    app = {"main.py": b"import six, markupsafe\nprint(markupsafe.escape('<ok>'))\n"}
    tags = {
        "good": "imgaudit-test/py-good:latest",
        "bad": "imgaudit-test/py-bad:latest",
        "broken": "imgaudit-test/py-broken:latest",
        "system": "imgaudit-test/py-system:latest",
    }
    good = GOOD.format(base=bookworm_minbase.tag, cpython=cpython.image.tag,
                       runtime=" ".join(cpython.runtime_packages))  # fmt: skip
    build(docker_engine, tags["good"], good, {"wheels": binary, "app/main.py": app["main.py"]})
    build(docker_engine, tags["bad"], BAD.format(build=cpython.build.tag, good=tags["good"]),
          {"sdist": sdist})  # fmt: skip
    build(docker_engine, tags["broken"],
          BROKEN.format(base=bookworm_minbase.tag, good=tags["good"]))  # fmt: skip
    build(docker_engine, tags["system"], SYSTEM.format(base=bookworm_python.tag))
    yield tags


def test_good_image_has_no_python_findings(
    docker_engine: DockerEngine, images: dict[str, str], tmp_path: Path
) -> None:
    facts, found = _scan(docker_engine, images["good"], tmp_path)
    [interp] = facts.pythons
    assert (interp.executable, interp.origin) == (f"opt/acme/python/bin/python{V}", "source-build")
    names = sorted(d.name for d in facts.distributions)
    assert names == ["markupsafe", "pip", "setuptools", "six"]
    [venv] = facts.venvs
    assert venv.home_python == f"opt/acme/python/bin/python{V}" and venv.has_pip
    # Built without gdbm/Berkeley DB headers: _dbm is what the interpreter, run in the
    # image, cannot import; PY002's info finding says so, and nothing else is found.
    assert unimportable(docker_engine, images["good"], f"/{PREFIX}/bin/python{V}") == ["_dbm"]
    assert found == [DBM]


def unimportable(engine: DockerEngine, tag: str, python: str) -> list[str]:
    """The stdlib extensions (auditor/data/stdlib.json, an any_of group by its name) that
    `python` in the image cannot import: the interpreter run by the engine answers."""
    groups = {e["name"]: e.get("any_of", [e["name"]]) for e in json.loads(
        STDLIB_DATA.read_text())["extensions"]}  # fmt: skip
    probe = (
        "import importlib, json, sys\n"
        "def ok(m):\n"
        "    try:\n        importlib.import_module(m)\n    except ImportError:\n"
        "        return False\n    return True\n"
        "groups = json.loads(sys.argv[1])\n"
        "print(json.dumps([g for g, ms in groups.items() if not any(ok(m) for m in ms)]))"
    )
    client = engine.client()
    try:
        out = client.containers.run(
            tag, [python, "-c", probe, json.dumps(groups)], remove=True, network_mode="none"
        )
    finally:
        client.close()
    missing: list[str] = json.loads(out)
    return missing


DBM = ("PY002", "info", f"Python {V} at /opt/acme/python/bin/python{V} lacks _dbm")
SITE = f"/opt/acme/venv/lib/python{V}/site-packages"
TAG = "cp{0}-cp{0}-linux_x86_64".format(V.replace(".", ""))


def test_bad_image(docker_engine: DockerEngine, images: dict[str, str], tmp_path: Path) -> None:
    """A wheel built from the sdist, then `chown -R app` of the venv and the app."""
    facts, found = _scan(docker_engine, images["bad"], tmp_path)
    scan = facts.venv_writable["opt/acme/venv"]
    assert scan.writable and len(scan.writable) == scan.checked  # every path chowned
    assert found == [
        ("PK001", "warning", f"MarkupSafe 3.0.3 was built from source (wheel tag {TAG})"),
        ("SEC003", "warning", f"venv /opt/acme/venv: {scan.checked} of {scan.checked} paths are "
                              "writable by app (uid 1000)"),
        ("SEC004", "warning", "/app: 4 code paths are writable by app (uid 1000)"),
        ("SEC005", "warning", f"pip is installed in /opt/acme/venv and {SITE} is writable by "
                              "app (uid 1000)"),
        DBM,
        # pip's reinstall compiled markupsafe's 2 modules in timestamp mode
        ("PY006", "info", f"{SITE}: 2 pyc files are timestamp-based (rebuilds differ; "
                          "stale after timestamp rewrites)"),
    ]  # fmt: skip


def test_broken_venv_image(
    docker_engine: DockerEngine, images: dict[str, str], tmp_path: Path
) -> None:
    """`COPY --from=good /opt/acme/venv` without /opt/acme/python: the multi-stage break."""
    facts, found = _scan(docker_engine, images["broken"], tmp_path)
    assert facts.pythons == []
    assert found == [
        ("PY007", "error", f"venv /opt/acme/venv: 3 console script(s) run "
                           f"/opt/acme/venv/bin/python{V}, which is not in the image"),
        ("PY007", "error", f"venv /opt/acme/venv: bin/python points at python{V}, "
                           "which is not in the image"),
        ("PY007", "error", "venv /opt/acme/venv: home /opt/acme/python/bin has no python in "
                           "the image"),
        ("SEC005", "warning", f"pip is installed in /opt/acme/venv and {SITE} is writable by "
                              "root (uid 0)"),
    ]  # fmt: skip


def test_system_python_image(
    docker_engine: DockerEngine, images: dict[str, str], tmp_path: Path
) -> None:
    """Debian's python3 + python3-venv, a venv made from /usr/bin/python3, and the base
    image's CMD ["python3"]: the app runs Debian's python3 itself."""
    facts, found = _scan(docker_engine, images["system"], tmp_path)
    [interp] = facts.pythons
    assert (interp.executable, interp.origin, interp.package) == (
        "usr/bin/python3.11", "distro", "python3.11-minimal",
    )  # fmt: skip
    assert interp.full_version is not None and interp.full_version.startswith("3.11.")
    states = {m.name: m.state for m in interp.modules}
    assert states["zlib"] == states["pyexpat"] == "builtin" and states["_ssl"] == "shared"
    assert found == [
        ("PY001", "warning", "the app uses the distribution's Python 3.11 (distro, package "
                             "python3.11-minimal): the entrypoint runs it (/usr/bin/python3); "
                             "venv home: /app/venv"),
        ("SEC005", "warning", "pip is installed in /app/venv and "
                              "/app/venv/lib/python3.11/site-packages is writable by root (uid 0)"),
        # no PY006: the image runs `python3`, not the venv, and Debian's own modules are
        # the distro's (ensurepip's timestamp pycs in /app/venv are no import of the app)
    ]  # fmt: skip
    assert facts.app_python.environment == "usr/bin/python3.11"
