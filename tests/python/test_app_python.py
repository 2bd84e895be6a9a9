"""Which interpreter the app runs (entrypoint, console-script shebangs, PATH, venvs), and
what follows from it: PY001 only for an app on the distro's Python, PY002 gentle with a
distro Python that is a tool's dependency. Images hold Debian's real python3.11 (from
the host's dpkg files) beside the host's own CPython and a venv made from it; the
engine-built twin, where the image runs its own command, is in
tests/integration/test_python_inventory.py."""

from __future__ import annotations

import pytest

from auditor.checks import py001_system_python, py002_stdlib_incomplete
from auditor.facts.apppython import shebang
from tests.factory import File, ImageSpec, Layer, Whiteout
from tests.python import pyimage
from tests.python.conftest import Scan, findings, status

V = pyimage.VERSION
VENV = "opt/acme/venv"
needs_debian = pytest.mark.skipif(
    not pyimage.debian_python_available(), reason="needs Debian's python3.11 on the host"
)
VENV_PATH = f"/{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _script(path: str, interpreter: str) -> File:
    return File(path, f"#!{interpreter}\nimport sys\n".encode(), mode=0o755)


def _image(*extra: File, **config: object) -> ImageSpec:
    venv = [
        *pyimage.venv_items(VENV, "/opt/acme/python/bin"),
        _script(f"{VENV}/bin/gunicorn", f"/{VENV}/bin/python"),
        _script(f"{VENV}/bin/uvicorn", f"/{VENV}/bin/python"),
    ]
    layers = [pyimage.debian_python_layer(), pyimage.cpython_layer(), Layer([*venv, *extra])]
    return ImageSpec(layers, config=config)


@needs_debian
@pytest.mark.parametrize(
    ("config", "environment", "how"),
    [
        ({"Cmd": [f"/{VENV}/bin/gunicorn", "app:app"]}, VENV, "entrypoint"),
        ({"Cmd": ["gunicorn", "app:app"], "Env": [f"PATH={VENV_PATH}"]}, VENV, "entrypoint"),
        (
            {"Cmd": ["sh", "-c", "python manage.py migrate && exec uvicorn app:app"],
             "Env": [f"PATH={VENV_PATH}"]},
            VENV,
            "entrypoint",
        ),
        ({"Entrypoint": ["tini", "--"], "Cmd": ["python3", "-m", "app"]}, "usr/bin/python3.11",
         "entrypoint"),
        ({"Cmd": ["/app/run.py"], "WorkingDir": "/app"}, "usr/bin/python3.11", "entrypoint"),
        ({"Cmd": ["/app/start.sh"]}, VENV, "venv"),  # a shell script: the only venv
        ({"Cmd": ["/app/start.sh"], "Env": [f"PATH={VENV_PATH}"]}, VENV, "path"),
    ],
)  # fmt: skip
def test_app_python(scan: Scan, config: dict, environment: str, how: str) -> None:
    run_py = _script("app/run.py", "/usr/bin/env python3")
    start = File("app/start.sh", b'#!/bin/sh\nexec "$@"\n', mode=0o755)
    facts = scan(_image(run_py, start, **config))
    app = facts.app_python
    assert (app.environment, app.how) == (environment, how)
    base = f"opt/acme/python/bin/python{V}" if environment == VENV else "usr/bin/python3.11"
    assert app.interpreter == base


@needs_debian
def test_distro_python_as_a_dependency_is_not_the_apps(scan: Scan) -> None:
    """The app runs its venv; Debian's python3 lacks _sqlite3: info, and no PY001."""
    gone = Layer([Whiteout(f"usr/lib/python3.11/lib-dynload/{_debian_so('_sqlite3')}")])
    spec = _image(Cmd=[f"/{VENV}/bin/gunicorn"])
    facts = scan(ImageSpec([*spec.layers, gone], config=spec.config))
    assert status(py001_system_python, facts) == "passed"
    [f] = [f for f in findings(py002_stdlib_incomplete, facts) if "_sqlite3" in f.message]
    assert f.severity.name == "INFO"
    assert f.message == (
        "Python 3.11 at /usr/bin/python3.11 lacks _sqlite3 (a dependency of distro packages, "
        "not the app's interpreter)"
    )
    # the same image running Debian's python3: its missing _sqlite3 is the app's error
    facts = scan(ImageSpec([*spec.layers, gone], config={"Cmd": ["python3", "app.py"]}))
    [f] = [f for f in findings(py002_stdlib_incomplete, facts) if "_sqlite3" in f.message]
    assert f.severity.name == "ERROR"
    [p] = findings(py001_system_python, facts)
    assert p.message == (
        "the app uses the distribution's Python 3.11 (distro, package python3.11-minimal): "
        "the entrypoint runs it (/usr/bin/python3)"
    )
    assert p.severity.name == "WARNING"


@needs_debian
@pytest.mark.parametrize("path", [None, VENV_PATH])
def test_a_process_supervisor_is_not_the_app(scan: Scan, path: str | None) -> None:
    """`apt-get install supervisor`, `CMD ["/usr/bin/supervisord", "-n"]`, the app a
    `[program:web] command=/opt/venv/bin/gunicorn`: in the running image supervisord runs
    on /usr/bin/python3.11 and gunicorn on the venv. imgaudit took supervisord for the app:
    PY001 "the app uses the distribution's Python" and PY002 "lacks ensurepip" as an
    error. The supervisor gives no answer now: PATH's venv python, else the only venv."""
    supervisord = _script("usr/bin/supervisord", "/usr/bin/python3")
    env = {"Env": [f"PATH={path}"]} if path else {}
    facts = scan(_image(supervisord, Cmd=["/usr/bin/supervisord", "-n"], **env))
    app = facts.app_python
    assert (app.environment, app.how) == (VENV, "path" if path else "venv")
    assert status(py001_system_python, facts) == "passed"


def _debian_so(module: str) -> str:
    from pathlib import Path

    return next(p.name for p in Path("/usr/lib/python3.11/lib-dynload").glob(f"{module}.*.so"))


def test_shebangs() -> None:
    assert shebang(b"#!/opt/v/bin/python\nx") == "/opt/v/bin/python"
    assert shebang(b"#!/usr/bin/env python3\n") == "python3"
    assert shebang(b"#!/usr/bin/env -S python3 -u\n") == "python3"
    long = b"#!/bin/sh\n'''exec' /very/long/path/bin/python \"$0\" \"$@\"\n' '''\n"
    assert shebang(long) == "/very/long/path/bin/python"
    assert shebang(b"#!\n") is None
