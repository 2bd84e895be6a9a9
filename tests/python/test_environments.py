"""Venvs, installed distributions, permissions and bytecode: facts and checks PY006,
PY007, PK001, PK004, SEC003, SEC004, SEC005, on images with the host's real CPython and
real distributions copied from the host's site-packages."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.checks import (
    el001_missing_library,
    el002_missing_symbol_version,
    el003_libc_mismatch,
    pk001_built_from_sdist,
    pk002_wheel_external_libs,
    pk004_editable_install,
    py006_bytecode,
    py007_broken_venv,
    sec003_writable_venv,
    sec004_writable_app,
    sec005_pip_writable,
)
from auditor.facts.venvs import parse_cfg, shebang_interpreter
from auditor.findings import Finding
from tests.factory import (
    MTIME,
    Dir,
    File,
    ImageSpec,
    Layer,
    Symlink,
    Whiteout,
    compiled_library,
    host_file,
)
from tests.python import pyimage
from tests.python.conftest import Scan, findings, status

V = pyimage.VERSION
PY = f"/opt/acme/python/bin/python{V}"
VENV = "opt/acme/venv"
SITE = f"{VENV}/lib/python{V}/site-packages"
PASSWD = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
GROUP = b"root:x:0:\napp:x:1000:\n"
USERS = [File("etc/passwd", PASSWD), File("etc/group", GROUP)]


def dist(name: str) -> str:
    return next(p.name for p in pyimage.HOST_SITE.glob(f"{name}-*.dist-info"))


def image(*layers: Layer, user: str = "", **config: object) -> ImageSpec:
    return ImageSpec([pyimage.cpython_layer(), *layers], config={"User": user, **config})


# ---- venvs (PY007) ----------------------------------------------------------------------


def test_venv_facts_good(scan: Scan) -> None:
    facts = scan(image(Layer(pyimage.venv_items(VENV, "/opt/acme/python/bin"))))
    [v] = facts.venvs
    assert v.path == VENV
    assert v.home_python == f"opt/acme/python/bin/python{V}"
    assert v.site_packages == (SITE,)
    assert not v.has_pip and not v.include_system_site_packages and not v.broken_scripts
    assert status(py007_broken_venv, facts) == "passed"


@pytest.mark.parametrize(
    ("shebang", "interpreter"),
    [("#!/usr/bin/python3.9", "/usr/bin/python3.9"), ("#!/usr/bin/env python2", "python2")],
)
def test_command_script_whose_interpreter_is_gone(
    scan: Scan, shebang: str, interpreter: str
) -> None:
    """A mutated python:3.11-slim FastAPI image whose /usr/local/bin/fastapi (no venv)
    names a python the image lacks: `docker run` fails with "exec /usr/local/bin/fastapi:
    no such file or directory" (env: "No such file or directory"), the container never
    starts. PY007 said nothing: it looked at venvs only."""
    script = f"{shebang}\nimport sys\nfrom fastapi_cli.cli import main\n".encode()
    layer = Layer([File("usr/local/bin/fastapi", script, mode=0o755)], created_by="RUN sed ...")
    config = {"Cmd": ["fastapi", "run", "app/main.py"], "Env": ["PATH=/usr/local/bin:/usr/bin"]}
    [f] = findings(py007_broken_venv, scan(image(layer, **config)))
    assert (f.message, f.path) == (
        f"the container's command /usr/local/bin/fastapi runs {interpreter}, which is not "
        "in the image: the container does not start",
        "/usr/local/bin/fastapi",
    )
    for good in (f"#!{PY}", "#!/usr/bin/env python3"):
        script = f"{good}\nimport sys\n".encode()
        items = [File("usr/local/bin/fastapi", script, mode=0o755),
                 Symlink("usr/local/bin/python3", PY)]  # fmt: skip
        assert status(py007_broken_venv, scan(image(Layer(items), **config))) == "skipped"


@pytest.mark.parametrize("stdlib", [True, False])
def test_copies_venv_whose_home_has_no_python(scan: Scan, stdlib: bool) -> None:
    """`python -m venv --copies /opt/v2` in a mutated python:3.11-slim, then the python
    links of /usr/local/bin removed: `home = /usr/local/bin` holds no python, yet
    /opt/v2/bin/python (its own copy of the binary) runs and imports ssl and sqlite3: its
    getpath finds /usr/local/lib/python3.11/os.py from `home` upward. PY007 said
    "home /usr/local/bin has no python in the image", an error. Without that stdlib
    the copy has nothing to run with: the error stays."""
    items = [
        i
        for i in pyimage.venv_items(VENV, "/usr/local/bin")
        if not (isinstance(i, Symlink) and i.path.startswith(f"{VENV}/bin/python"))
    ]
    items.append(File(f"{VENV}/bin/python", pyimage.HOST_EXECUTABLE.read_bytes(), 0o755))
    if stdlib:
        items += [Dir("usr/local/bin"), File(f"usr/local/lib/python{V}/os.py", b"# os\n")]
    facts = scan(image(Layer(items, created_by="RUN python -m venv --copies ...")))
    found = [f.message for f in findings(py007_broken_venv, facts)]
    assert found == (
        [] if stdlib else [f"venv /{VENV}: home /usr/local/bin has no python in the image"]
    )


def test_venv_copied_without_its_interpreter(scan: Scan) -> None:
    """The multi-stage break: the venv came from a stage whose python was /usr/local."""
    script = b"#!/usr/local/bin/python3.11\nimport sys\nfrom app import main\n"
    layer = Layer(
        [
            *pyimage.venv_items(VENV, "/usr/local/bin"),
            File(f"{VENV}/bin/gunicorn", script, mode=0o755),
        ],
        created_by="COPY --from=build /opt/acme/venv /opt/acme/venv",
    )
    facts = scan(image(layer))
    found = findings(py007_broken_venv, facts)
    assert [(f.message, f.path) for f in found] == [  # sorted by path
        (
            f"venv /{VENV}: 1 console script(s) run /usr/local/bin/python3.11, "
            "which is not in the image",
            f"/{VENV}/bin/gunicorn",
        ),
        (
            f"venv /{VENV}: bin/python points at python{V}, which is not in the image",
            f"/{VENV}/bin/python",
        ),
        (f"venv /{VENV}: home /usr/local/bin has no python in the image", f"/{VENV}/pyvenv.cfg"),
    ]
    assert {f.layer for f in found} == {1}
    assert found[2].created_by == "COPY --from=build /opt/acme/venv /opt/acme/venv"


def test_venv_cfg_crlf_without_home_judged_by_link(scan: Scan) -> None:
    items = pyimage.venv_items(VENV, "/opt/acme/python/bin", crlf=True)
    cfg = File(f"{VENV}/pyvenv.cfg", b"include-system-site-packages=true\r\nversion=3.11.7\r\n")
    items = [cfg if getattr(i, "path", "") == f"{VENV}/pyvenv.cfg" else i for i in items]
    facts = scan(image(Layer(items)))
    [v] = facts.venvs
    assert v.home is None and v.include_system_site_packages and v.version == "3.11.7"
    assert v.home_python == f"opt/acme/python/bin/python{V}"
    assert status(py007_broken_venv, facts) == "passed"


def test_cfg_and_shebang_parsing() -> None:
    assert parse_cfg(b"\xef\xbb\xbfhome = /usr/bin\r\nFoo=bar\r\n# c\r\njunk\r\n") == {
        "home": "/usr/bin",
        "foo": "bar",
    }
    assert shebang_interpreter(b"#!/opt/v/bin/python\nx") == "/opt/v/bin/python"
    long = b"#!/bin/sh\n'''exec' /very/long/path/bin/python \"$0\" \"$@\"\n' '''\n"
    assert shebang_interpreter(long) == "/very/long/path/bin/python"
    assert shebang_interpreter(b"#!/usr/bin/env python3\n") is None
    assert shebang_interpreter(b"\x7fELF") is None


# ---- distributions (PK001, PK004) -------------------------------------------------------


def venv_with(*dists: str, **kw: object) -> Layer:
    items = pyimage.venv_items(VENV, "/opt/acme/python/bin")
    for d in dists:
        items += pyimage.dist_items(SITE, d, **kw)  # type: ignore[arg-type]
    return Layer(items, created_by="RUN pip install -r requirements.txt")


def test_distribution_facts_from_real_dist_info(scan: Scan) -> None:
    six, ms = dist("six"), dist("markupsafe")
    facts = scan(image(venv_with(six, ms)))
    by_name = {d.name: d for d in facts.distributions}
    assert sorted(by_name) == ["markupsafe", "six"]
    s = by_name["six"]
    assert (s.version, s.installer, s.location) == (
        six.removesuffix(".dist-info").split("-")[1],
        "pip",
        SITE,
    )
    assert s.wheel_tags == ("py2-none-any", "py3-none-any")  # as the real WHEEL says
    # RECORD's size column, plus the files RECORD lists without a size (RECORD itself;
    # the pycs were not copied)
    record_bytes = (pyimage.HOST_SITE / six / "RECORD").stat().st_size
    assert s.size == sum(size or 0 for _, size in pyimage.record_files(six)) + record_bytes
    assert s.top_level == ("six",)
    m = by_name["markupsafe"]
    assert all("manylinux" in t for t in m.wheel_tags) and not m.built_locally
    assert m.top_level == ("markupsafe",)
    assert status(pk001_built_from_sdist, facts) == "passed"
    assert status(pk004_editable_install, facts) == "passed"


def test_uvs_cache_of_unpacked_wheels_is_no_installed_distribution(scan: Scan) -> None:
    """`uv sync` without a cache mount leaves every package unpacked in
    /root/.cache/uv/archive-v0/<id>/ (dist-info included); the image's interpreters list
    only the venv's copy (importlib.metadata); the inventory listed both. A `pip install
    --target` directory is still listed, with no environment."""
    six = dist("six")
    cache = "root/.cache/uv/archive-v0/qMSrpUnwXrFBlPXy"
    left = Layer(pyimage.dist_items(cache, six), "RUN uv sync --frozen")
    target = Layer(pyimage.dist_items("app/deps", six), "RUN pip install --target /app/deps")
    facts = scan(image(venv_with(six), left, target))
    assert sorted((d.location, d.environments) for d in facts.distributions) == [
        ("app/deps", ()),
        (SITE, (VENV,)),
    ]


def test_wheel_built_from_sdist(scan: Scan) -> None:
    ms = dist("markupsafe")
    tag = f"cp{V.replace('.', '')}-cp{V.replace('.', '')}-linux_x86_64"
    facts = scan(image(venv_with(ms, wheel_tag=tag)))
    [f] = findings(pk001_built_from_sdist, facts)
    version = ms.removesuffix(".dist-info").split("-")[1]
    assert f.message == f"MarkupSafe {version} was built from source (wheel tag {tag})"
    assert f.path == f"/{SITE}/{ms}/WHEEL"
    record_bytes = (pyimage.HOST_SITE / ms / "RECORD").stat().st_size
    assert f.bytes == sum(size or 0 for _, size in pyimage.record_files(ms)) + record_bytes


@pytest.mark.parametrize(
    ("installer", "flagged"), [("conda", False), ("rpm", False), ("pip", True)]
)
def test_a_package_managers_linux_tag_is_not_a_build_in_the_image(
    scan: Scan, installer: str, flagged: bool
) -> None:
    """conda-build, rattler-build and Fedora's RPM build run pip while building their own
    binary package, then write INSTALLER `conda` / `rpm`: the `linux_` tag is theirs, and
    the image build compiled nothing (pip's own INSTALLER: the finding stands)."""
    tag = f"cp{V.replace('.', '')}-cp{V.replace('.', '')}-linux_x86_64"
    facts = scan(image(venv_with(dist("markupsafe"), wheel_tag=tag, installer=installer)))
    [d] = facts.distributions
    assert d.built_locally and d.installer == installer
    assert len(findings(pk001_built_from_sdist, facts)) == int(flagged)


def test_editable_install(scan: Scan) -> None:
    editable = next(
        p.parent.name
        for p in pyimage.HOST_SITE.glob("*.dist-info/direct_url.json")
        if '"editable": true' in p.read_text()
    )
    facts = scan(image(venv_with(editable, dist("six"))))
    [f] = findings(pk004_editable_install, facts)
    assert f.path == f"/{SITE}/{editable}"
    url = json.loads((pyimage.HOST_SITE / editable / "direct_url.json").read_text())["url"]
    name = editable.split("-")[0]
    # the host's source tree is not in the image: its finder maps to nothing here
    assert f.message.startswith(f"{name} is an editable install of {url}, and the code")
    assert f.severity.name == "ERROR"


def test_editable_install_whose_code_is_gone(scan: Scan) -> None:
    """`pip install -e .` of the app in a builder's /app (setuptools, PEP 660), then only
    the venv copied into the slim look-alike: the running image said "No module named
    'myapp'" (a console script, `python -m myapp`), and PK004 said only "myapp is an
    editable install" (a warning, exit 0). A src layout writes a path .pth (/app/src), a
    flat one setuptools' finder (MAPPING {'myapp': '/app/myapp'}). With the code there, or
    a module by that name elsewhere on the path, it stays a warning; a finder it cannot
    read says nothing more."""
    meta = [
        File(f"{SITE}/myapp-0.1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: myapp\n"
             b"Version: 0.1.0\n"),
        File(f"{SITE}/myapp-0.1.0.dist-info/direct_url.json",
             b'{"dir_info": {"editable": true}, "url": "file:///app"}'),
        File(f"{SITE}/myapp-0.1.0.dist-info/top_level.txt", b"myapp\n"),
    ]  # fmt: skip
    record = b"__editable__.myapp-0.1.0.pth,,\n__editable___myapp_0_1_0_finder.py,,\n"
    static = File(f"{SITE}/__editable__.myapp-0.1.0.pth", b"/app/src\n")
    hook = b"import __editable___myapp_0_1_0_finder; __editable___myapp_0_1_0_finder.install()\n"
    finder = File(f"{SITE}/__editable___myapp_0_1_0_finder.py",
                  b"import sys\nMAPPING: dict[str, str] = {'myapp': '/app/myapp'}\n"
                  b"NAMESPACES: dict[str, list[str]] = {}\n")  # fmt: skip
    venv = pyimage.venv_items(VENV, "/opt/acme/python/bin")
    rec = File(f"{SITE}/myapp-0.1.0.dist-info/RECORD", record)

    def judged(*items: File | Dir, wd: str = "/srv") -> list[tuple[str, str]]:
        facts = scan(image(Layer([*venv, *meta, rec, *items]), WorkingDir=wd))
        return [(f.severity.name, f.message) for f in findings(pk004_editable_install, facts)]

    plain = "myapp is an editable install of file:///app"
    gone = plain + ", and the code it points at is not in the image ({}): `import myapp` fails"
    assert judged(static) == [("ERROR", gone.format("/app/src"))]
    hooked = File(static.path, hook)
    assert judged(hooked, finder) == [("ERROR", gone.format("/app/myapp"))]
    # the code is there
    assert judged(static, File("app/src/myapp/__init__.py", b"")) == [("WARNING", plain)]
    assert judged(hooked, finder, File("app/myapp/__init__.py", b"")) == [("WARNING", plain)]
    # a module by that name in the working directory: whether the import fails, the
    # files cannot say (the missing code is still said)
    said = plain + ", and the code it points at is not in the image (/app/src)"
    assert judged(static, File("srv/myapp.py", b"")) == [("WARNING", said)]
    # a finder whose table is not setuptools' (or not there): nothing more is said
    other = File(finder.path, b"from editables.redirector import RedirectingFinder\n")
    assert judged(hooked, other) == [("WARNING", plain)]
    assert judged(hooked) == [("WARNING", plain)]
    # hatchling (and flit): a `_editable_impl_myapp.pth` path line, a RECORD naming only
    # it and no top_level.txt: the importable names are unknown (a .pth is no module), so
    # the missing code is said at warning level. The running image: "No module named
    # myapp" (PY007 says so for `python -m myapp`).
    hatch = [f for f in meta if not f.path.endswith("top_level.txt")]
    pth = File(f"{SITE}/_editable_impl_myapp.pth", b"/app/src\n")
    rec_hatch = File(rec.path, b"_editable_impl_myapp.pth,,\n")
    facts = scan(image(Layer([*venv, *hatch, rec_hatch, pth]), WorkingDir="/srv"))
    [d] = [d for d in facts.distributions if d.name == "myapp"]
    assert d.top_level == ()
    [f] = findings(pk004_editable_install, facts)
    assert (f.severity.name, f.message) == (
        "WARNING",
        plain + ", and the code it points at is not in the image (/app/src)",
    )


def test_egg_link_editable_install(scan: Scan) -> None:
    """`setup.py develop`: an egg-link and easy-install.pth put the project directory on
    sys.path; importlib lists its egg-info there (not the egg-link), PK004 names it. A
    link whose project is not in the image is reported by itself."""
    pkg_info = b"Metadata-Version: 1.1\nName: proj\nVersion: 0.1\n"
    items = [
        *pyimage.venv_items(VENV, "/opt/acme/python/bin"),
        File(f"{SITE}/proj.egg-link", b"/src/proj\n.\n"),
        File(f"{SITE}/gone.egg-link", b"/src/gone\n.\n"),
        File(f"{SITE}/easy-install.pth", b"/src/proj\n/src/gone\n"),
        File("src/proj/proj.egg-info/PKG-INFO", pkg_info),
        File("src/proj/proj/__init__.py", b""),
    ]
    facts = scan(image(Layer(items)))
    [d] = facts.distributions
    assert (d.name, d.location, d.environments, d.editable) == ("proj", "src/proj", (VENV,), True)
    found = findings(pk004_editable_install, facts)
    assert sorted((f.message, f.path) for f in found) == [
        ("gone.egg-link links an editable install of /src/gone", f"/{SITE}/gone.egg-link"),
        ("proj is an editable install of file:///src/proj", "/src/proj/proj.egg-info"),
    ]


# ---- permissions (SEC003, SEC004, SEC005) -----------------------------------------------


def app_layer(uid: int) -> Layer:
    return Layer(
        [
            *USERS,
            Dir("app", uid=uid, gid=uid),
            File("app/main.py", b"print('hi')\n", uid=uid, gid=uid),
            Dir("app/data", uid=1000, gid=1000),
        ],
        created_by="COPY . /app",
    )


def test_root_owned_venv_and_app_pass_as_non_root(scan: Scan) -> None:
    pip = dist("pip")
    facts = scan(
        image(
            venv_with(pip), app_layer(0), user="app", WorkingDir="/app", Cmd=["python", "main.py"]
        )
    )
    assert facts.runtime_user.uid == 1000
    for check in (sec003_writable_venv, sec004_writable_app, sec005_pip_writable):
        assert status(check, facts) == "passed", check.INFO.id
    assert facts.app_dirs == ["app"]


def test_chowned_venv_and_app_fail(scan: Scan) -> None:
    pip = dist("pip")
    items = pyimage.venv_items(VENV, "/opt/acme/python/bin", uid=1000, gid=1000)
    items += pyimage.dist_items(SITE, pip, uid=1000, gid=1000)
    venv = Layer(items, created_by="COPY --chown=app /venv /opt/acme/venv")
    facts = scan(image(venv, app_layer(1000), user="app", WorkingDir="/app"))
    [v] = findings(sec003_writable_venv, facts)
    assert v.message.startswith(f"venv /{VENV}: ") and "writable by app (uid 1000)" in v.message
    chowned = {i.path for i in items if isinstance(i, (File, Dir)) and i.uid == 1000}
    assert set(facts.venv_writable[VENV].writable) == chowned  # not the root-owned parents
    assert v.evidence["writable"] == len(chowned)
    [a] = findings(sec004_writable_app, facts)
    assert (a.message, a.path, a.paths) == (
        "/app: 2 code paths are writable by app (uid 1000)",
        "/app",
        ("/app/main.py",),
    )
    [p] = findings(sec005_pip_writable, facts)
    assert p.message == f"pip is installed in /{VENV} and /{SITE} is writable by app (uid 1000)"


def test_group_writable_counts_through_supplementary_group(scan: Scan) -> None:
    users = Layer([File("etc/passwd", PASSWD), File("etc/group", GROUP + b"deploy:x:2000:app\n")])
    code = Layer([Dir("srv", mode=0o775, gid=2000), File("srv/app.py", b"", gid=2000)])
    facts = scan(image(users, code, user="app"))
    [a] = findings(sec004_writable_app, facts)
    assert a.path == "/srv" and a.paths == ()


def test_nested_app_dirs_report_each_code_path_once(scan: Scan) -> None:
    """`WORKDIR /srv/app` + `COPY --chown=app app /srv/app`: /srv (a default app
    directory, root-owned) and /srv/app (the WorkingDir) are both app directories; the
    running image shows two writable code paths, /srv/app and its app.py, which were
    reported twice (once as '/srv: 2 code paths'). Each is reported under the deepest
    app directory holding it; a writable one directly in /srv stays /srv's."""
    code = Layer(
        [
            Dir("srv"),
            Dir("srv/app", uid=1000, gid=1000),
            File("srv/app/app.py", b"", uid=1000, gid=1000),
            File("srv/tool.py", b"", uid=1000, gid=1000),
        ],
        created_by="COPY --chown=1000:1000 app /srv/app",
    )
    facts = scan(image(Layer(USERS), code, user="app", WorkingDir="/srv/app"))
    assert facts.app_dirs == ["srv", "srv/app"]
    found = sorted(
        (a.evidence["app_dir"], a.path, a.paths) for a in findings(sec004_writable_app, facts)
    )
    assert found == [
        ("/srv", "/srv/tool.py", ()),
        ("/srv/app", "/srv/app", ("/srv/app/app.py",)),
    ]


def test_runs_as_root_skips_writable_checks_but_pip_counts(scan: Scan) -> None:
    facts = scan(image(venv_with(dist("pip")), app_layer(0)))
    assert status(sec003_writable_venv, facts) == "skipped"
    assert status(sec004_writable_app, facts) == "skipped"
    [p] = findings(sec005_pip_writable, facts)
    assert "writable by root (uid 0)" in p.message


#: the official images' entrypoint (postgres, redis): prepare as root, then run the
#: command as the app's user; padded past the 512 bytes kept of any bin/ file
SWITCH_SCRIPTS = {
    "gosu": 'exec gosu app "$0" "$@"',
    "setpriv": 'exec setpriv --reuid=app --regid=app --init-groups "$0" "$@"',
    "su": 'exec su -s /bin/sh app -c \'exec "$0" "$@"\' -- "$@"',
    "runuser": 'exec runuser -u app -- "$@"',
    "variable": 'exec gosu "$APP_USER" "$@"',
}


def entrypoint_layer(line: str) -> Layer:
    script = (
        "#!/bin/sh\nset -e\n"
        + "# prepare the data directory as root\n" * 20
        + "if [ \"$(id -u)\" = '0' ]; then\n\tchown -R app /app/data\n"
        + f'\t{line}\nfi\nexec "$@"\n'
    ).encode()
    assert len(script) > 512
    return Layer(
        [Dir("usr/local/bin"), File("usr/local/bin/docker-entrypoint.sh", script, mode=0o755)],
        created_by="COPY docker-entrypoint.sh /usr/local/bin/",
    )


@pytest.mark.parametrize("tool", sorted(SWITCH_SCRIPTS))
def test_root_image_switching_to_a_user_is_judged_as_that_user(scan: Scan, tool: str) -> None:
    """No User, `ENTRYPOINT ["docker-entrypoint.sh"]` that ends in `exec gosu app "$0"
    "$@"` (or setpriv, su, runuser): the running image's gunicorn runs as uid 999 (ps),
    and with `chown -R app /app /opt/venv` that uid can write the venv, the code and
    site-packages (test -w as that uid). SEC003/SEC004 were skipped ("runs as root") and
    SEC005 judged root; now all three judge the user the entrypoint switches to."""
    items = pyimage.venv_items(VENV, "/opt/acme/python/bin", uid=1000, gid=1000)
    items += pyimage.dist_items(SITE, dist("pip"), uid=1000, gid=1000)
    venv = Layer(items, created_by="RUN chown -R app /opt/acme/venv")
    config = {
        "WorkingDir": "/app",
        "Entrypoint": ["docker-entrypoint.sh"],
        "Cmd": ["gunicorn", "app:app"],
        "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "APP_USER=app"],
    }
    facts = scan(image(venv, app_layer(1000), entrypoint_layer(SWITCH_SCRIPTS[tool]), **config))
    assert facts.runtime_user.uid == 0 and facts.app_user.uid == 1000
    expected = "writable by app (uid 1000), the user the entrypoint switches to with "
    for check in (sec003_writable_venv, sec004_writable_app, sec005_pip_writable):
        [f] = findings(check, facts)
        assert expected + ("gosu" if tool == "variable" else tool) in f.message, check.INFO.id


def test_root_image_switching_to_a_user_that_cannot_write(scan: Scan) -> None:
    """The same with a root-owned venv and app: uid 999 cannot `pip install` (test -w
    fails), so SEC005 no longer reports site-packages as writable by root."""
    config = {"Entrypoint": ["/usr/local/bin/docker-entrypoint.sh"], "Cmd": ["gunicorn"]}
    layers = (venv_with(dist("pip")), app_layer(0), entrypoint_layer(SWITCH_SCRIPTS["gosu"]))
    facts = scan(image(*layers, **config))
    for check in (sec003_writable_venv, sec004_writable_app, sec005_pip_writable):
        assert status(check, facts) == "passed", check.INFO.id
    # two users named: which one runs the app the files cannot tell
    two = entrypoint_layer('exec gosu app "$@"; exec gosu nobody "$@"')
    facts = scan(image(venv_with(dist("pip")), app_layer(0), two, **config))
    assert facts.privilege_drop is not None and facts.privilege_drop.user is None
    assert facts.app_user.uid == 0
    assert status(sec003_writable_venv, facts) == "skipped"


def test_sourceless_pip_counts(scan: Scan) -> None:
    """pip compiled with `compileall -b` and its .py deleted: `python -m pip` runs from
    `pip/__init__.pyc` (seen in a mutated python:3.11-slim), so pip is installed."""
    items = pyimage.venv_items(VENV, "/opt/acme/python/bin")
    items += [Dir(f"{SITE}/pip"), File(f"{SITE}/pip/__init__.pyc", b"\xa7\r\r\n" + b"\0" * 12)]
    facts = scan(image(Layer(items, created_by="RUN python -m compileall -b ..."), app_layer(0)))
    [v] = facts.venvs
    assert v.has_pip
    [p] = findings(sec005_pip_writable, facts)
    assert "writable by root (uid 0)" in p.message


# ---- imports from PYTHONPATH and .pth directories (EL001, PK002) -------------------------

PQ_EXT = "deps/pq/_pq.cpython-311-x86_64-linux-gnu.so"


@pytest.mark.parametrize(
    ("how", "severity", "what"),
    [
        ("PYTHONPATH", "error", f"`import pq._pq` fails (/{PQ_EXT})"),
        (".pth", "error", f"`import pq._pq` fails (/{PQ_EXT})"),
        (None, "warning", f"/{PQ_EXT} cannot be loaded when a program dlopen()s it"),
    ],
)
def test_extension_on_pythonpath_or_pth_is_an_import(
    scan: Scan, how: str | None, severity: str, what: str
) -> None:
    """psycopg2 moved to /deps of the realistic django image, its vendored libpq deleted:
    with `ENV PYTHONPATH=/deps` or a .pth naming /deps, `python -c "import psycopg2"`
    fails with "libpq-e8a033dd.so.5.16: cannot open shared object file", an error as in
    site-packages (imgaudit said a warning: "cannot be loaded when a program dlopen()s
    it"). Off every sys.path, nothing imports it: the warning stays."""
    lib = compiled_library(["libpcre2-8.so.0", "libc.so.6"])
    items: list = [Dir("deps"), Dir("deps/pq"), host_file(lib, PQ_EXT)]
    env = ["PATH=/opt/acme/python/bin:/usr/bin"]
    if how == "PYTHONPATH":
        env.append("PYTHONPATH=/deps")
    elif how == ".pth":
        site = f"opt/acme/python/lib/python{V}/site-packages"
        items += [Dir(site), File(f"{site}/deps.pth", b"/deps\n")]
    facts = scan(image(Layer(items, created_by="RUN pip install --target /deps ..."), Env=env))
    found = [f for f in findings(el001_missing_library, facts) if f.path == "/" + PQ_EXT]
    assert [(str(f.severity), f.message) for f in found] == [
        (severity, f"libpcre2-8.so.0 is not in the image: {what}")
    ]


def test_vendored_library_behind_a_broken_one_is_no_root(scan: Scan) -> None:
    """The realistic django image with psycopg2_binary.libs/libpq truncated: `import
    psycopg2` dies with SIGBUS (EL001's error). imgaudit also warned that the vendored
    libgssapi, libkrb5support, libselinux ... "cannot be loaded when a program dlopen()s
    it": reached no more through libpq, they were judged as dlopen() roots, where
    nothing finds their mangled-name siblings. A wheel's `<dist>.libs` libraries are
    loaded through its extension modules only. A library elsewhere stays a root."""
    lib = compiled_library(["libpcre2-8.so.0", "libc.so.6"])
    site = f"opt/acme/python/lib/python{V}/site-packages"
    meta = f"{site}/pq-1.0.dist-info"
    wheel = [
        File(f"{meta}/METADATA", b"Metadata-Version: 2.1\nName: pq\nVersion: 1.0\n"),
        File(f"{meta}/RECORD", b"pq.libs/libinner-1a2b.so,,\n"),
        host_file(lib, f"{site}/pq.libs/libinner-1a2b.so"),
    ]
    facts = scan(image(Layer(wheel)))
    assert [f for f in findings(el001_missing_library, facts) if "libinner" in (f.path or "")] == []
    plugin = [host_file(lib, "usr/lib/plugins/libinner-1a2b.so")]
    found = findings(el001_missing_library, scan(image(Layer(plugin))))
    assert [(f.path, str(f.severity)) for f in found if "libinner" in (f.path or "")] == [
        ("/usr/lib/plugins/libinner-1a2b.so", "warning")
    ]


def test_wheel_in_a_target_directory_carries_its_libraries(scan: Scan) -> None:
    """`pip install --target /deps psycopg2-binary` with `ENV PYTHONPATH=/deps` (the
    realistic django image's psycopg2 moved there): libpq comes from
    /deps/psycopg2_binary.libs, which the wheel carries, and `import psycopg2` works.
    PK002 said it "needs libpq-e8a033dd.so.5.16 from the system: neither vendored in the
    wheel nor on the manylinux allowed list": it took the extension's own directory for
    the wheel's install directory outside site-packages."""
    lib = compiled_library(["libpcre2-8.so.0", "libc.so.6"], runpath="$ORIGIN/../pq.libs")
    record = b"pq/_pq.cpython-311-x86_64-linux-gnu.so,,\npq.libs/libpcre2-8.so.0,,\n"
    meta = "deps/pq-1.0.dist-info"
    items: list = [
        Dir("deps"),
        host_file(lib, PQ_EXT),
        host_file("/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0", "deps/pq.libs/libpcre2-8.so.0"),
        File(f"{meta}/METADATA", b"Metadata-Version: 2.1\nName: pq\nVersion: 1.0\n"),
        File(f"{meta}/RECORD", record + b"pq-1.0.dist-info/RECORD,,\n"),
        File(f"{meta}/WHEEL", b"Tag: cp311-cp311-manylinux_2_17_x86_64\n"),
    ]
    env = ["PATH=/opt/acme/python/bin:/usr/bin", "PYTHONPATH=/deps"]
    facts = scan(image(Layer(items, created_by="RUN pip install --target /deps pq"), Env=env))
    assert facts.owners.python_distribution(PQ_EXT) == "pq"
    assert facts.elf_graph.resolved[PQ_EXT]["libpcre2-8.so.0"] == "deps/pq.libs/libpcre2-8.so.0"
    assert findings(pk002_wheel_external_libs, facts) == []


def test_a_library_the_wheel_carries_where_the_loader_misses_it_is_not_external(
    scan: Scan,
) -> None:
    """torch's test binaries need libraries the wheel carries in torch/lib, with no
    RUNPATH that reaches them: the loader misses them (EL001 says so), but nothing is
    wanted from the system, so PK002 is silent. The same library carried nowhere in the
    wheel is external. Two needed names, one carried: PK002 names only the other (its
    file lookup answers every name in one pass)."""
    lib = compiled_library(["libpcre2-8.so.0", "libzstd.so.1", "libc.so.6"])
    meta = "deps/pq-1.0.dist-info"
    items: list = [
        Dir("deps"),
        host_file(lib, PQ_EXT),
        host_file("/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0", "deps/pq/lib/libpcre2-8.so.0"),
        File(f"{meta}/METADATA", b"Metadata-Version: 2.1\nName: pq\nVersion: 1.0\n"),
        File(f"{meta}/RECORD", f"{PQ_EXT[5:]},,\npq/lib/libpcre2-8.so.0,,\n".encode()),
    ]
    env = ["PATH=/opt/acme/python/bin:/usr/bin", "PYTHONPATH=/deps"]
    facts = scan(image(Layer(items, created_by="RUN pip install --target /deps pq"), Env=env))
    assert facts.elf_graph.resolved[PQ_EXT]["libpcre2-8.so.0"] is None  # no RUNPATH
    [found] = findings(pk002_wheel_external_libs, facts)
    assert found.evidence["libraries"] == ["libzstd.so.1"], found.evidence
    assert "pq needs libzstd.so.1 from the system" in found.message


@pytest.mark.parametrize(
    ("name", "machine", "built_for"),
    [
        ("_pq.cpython-311-aarch64-linux-gnu.so", 183, "aarch64-linux-gnu"),  # EM_AARCH64
        ("_pq.cpython-311-x86_64-linux-musl.so", None, "x86_64-linux-musl"),
    ],
)
def test_extension_for_another_platform_is_never_imported(
    scan: Scan, name: str, machine: int | None, built_for: str
) -> None:
    """`pip install --platform manylinux2014_aarch64 --only-binary=:all: --target
    /app/vendor markupsafe` in an amd64 image, or a musllinux wheel forced into a glibc
    venv: in the running image `import markupsafe._speedups` raises ModuleNotFoundError
    (CPython's EXTENSION_SUFFIXES are its own '.cpython-311-x86_64-linux-gnu.so', '.abi3.so',
    '.so'). imgaudit said PK002 "needs libpthread.so.0 ... the image does not have them"
    (it has; the aarch64 file looked for aarch64 ones), EL001 "libc.musl-x86_64.so.1 is
    not in the image: `import markupsafe._speedups` fails" (a cause that is none), or only
    info. Now EL003 says the module is built for another platform and never imported;
    EL001, EL002 and PK002 leave it out."""
    lib = bytearray(compiled_library(["libpcre2-8.so.0", "libc.so.6"]).read_bytes())
    if machine is not None:
        struct.pack_into("<H", lib, 0x12, machine)
    ext = f"deps/pq/{name}"
    meta = "deps/pq-1.0.dist-info"
    items: list = [
        Dir("deps"),
        Dir("deps/pq"),
        File(ext, bytes(lib), mode=0o755),
        File(f"{meta}/METADATA", b"Metadata-Version: 2.1\nName: pq\nVersion: 1.0\n"),
        File(f"{meta}/RECORD", f"pq/{name},,\npq-1.0.dist-info/RECORD,,\n".encode()),
        File(f"{meta}/WHEEL", b"Tag: cp311-cp311-manylinux_2_17_aarch64\n"),
    ]
    env = ["PATH=/opt/acme/python/bin:/usr/bin", "PYTHONPATH=/deps"]
    facts = scan(image(Layer(items, created_by="RUN pip install --target /deps pq"), Env=env))
    assert facts.unimportable_extensions == {ext: built_for}
    [f] = findings(el003_libc_mismatch, facts)
    assert (str(f.severity), f.path) == ("error", "/" + ext)
    assert f"built for {built_for}" in f.message and "`import pq._pq` fails" in f.message
    for check in (el001_missing_library, el002_missing_symbol_version, pk002_wheel_external_libs):
        assert [x for x in findings(check, facts) if x.path == "/" + ext] == [], check.INFO.id
    # the same file under this platform's name is imported, and judged as before
    right = f"deps/pq/_pq.cpython-311-{'x86_64-linux-gnu'}.so"
    items[2] = File(right, bytes(compiled_library(["libpcre2-8.so.0", "libc.so.6"]).read_bytes()))
    items[4] = File(f"{meta}/RECORD", f"pq/{right[8:]},,\n".encode())
    facts = scan(image(Layer(items), Env=env))
    assert facts.unimportable_extensions == {}
    assert findings(el003_libc_mismatch, facts) == []
    [missing] = findings(el001_missing_library, facts)
    assert "libpcre2-8.so.0 is not in the image: `import pq._pq` fails" in missing.message


# ---- bytecode (PY006) -------------------------------------------------------------------


def test_bytecode_checked_hash_passes(scan: Scan) -> None:
    facts = scan(image(venv_with(dist("six"), dist("markupsafe"), pyc="checked-hash")))
    assert status(py006_bytecode, facts) == "passed"


def test_bytecode_missing_warns(scan: Scan) -> None:
    facts = scan(image(venv_with(dist("packaging"))))
    [f] = findings(py006_bytecode, facts)
    n = f.evidence["sources"]
    assert n > py006_bytecode.HANDFUL and f.evidence["missing"] == n
    assert f.message == f"/{SITE}: {n} of {n} Python files lack valid bytecode ({n} without a pyc)"
    assert f.severity.name == "WARNING"


def test_bytecode_missing_for_a_handful_is_info(scan: Scan) -> None:
    facts = scan(image(venv_with(dist("six"), dist("markupsafe"))))
    [f] = findings(py006_bytecode, facts)
    n = f.evidence["sources"]
    assert 3 <= n <= py006_bytecode.HANDFUL and f.evidence["missing"] == n
    assert f.severity.name == "INFO"


def test_bytecode_of_pip_and_setuptools_is_not_judged(scan: Scan) -> None:
    """The official images delete pip's and setuptools' pycs on purpose; the app never
    imports them. The app's own packages are judged in the same site directory."""
    facts = scan(image(venv_with(dist("pip"), dist("setuptools"), dist("six"))))
    [f] = findings(py006_bytecode, facts)
    assert f.evidence["sources"] == 1  # six.py alone
    tooling_only = venv_with(dist("pip"), dist("setuptools"))
    assert status(py006_bytecode, scan(image(tooling_only))) == "passed"


def test_bytecode_timestamp_is_info_and_stale_is_missing(scan: Scan) -> None:
    facts = scan(image(venv_with(dist("six"), dist("markupsafe"), pyc="timestamp")))
    [f] = findings(py006_bytecode, facts)
    assert f.severity.name == "INFO" and f.evidence["timestamp"] == f.evidence["sources"]
    # the same pycs after a layer rewrote the sources' mtimes: every pyc is stale
    src = pyimage.HOST_SITE / "packaging" / "version.py"
    touched = Layer([File(f"{SITE}/packaging/version.py", src.read_bytes(), mtime=1_800_000_000)])
    facts = scan(image(venv_with(dist("packaging"), pyc="timestamp"), touched))
    [f] = findings(py006_bytecode, facts)
    assert (f.severity.name, f.evidence["stale"], f.evidence["timestamp"]) == (
        "INFO",  # one module of many: a handful
        1,
        f.evidence["sources"] - 1,
    )
    everything = Layer(
        [
            File(f"{SITE}/{p.relative_to(pyimage.HOST_SITE)}", p.read_bytes(), mtime=1_800_000_000)
            for p in sorted((pyimage.HOST_SITE / "packaging").rglob("*.py"))
        ]
    )
    facts = scan(image(venv_with(dist("packaging"), pyc="timestamp"), everything))
    [f] = findings(py006_bytecode, facts)
    assert f.severity.name == "WARNING" and f.evidence["stale"] == f.evidence["sources"]


def _app(sizes: list[int]) -> Layer:
    """An app in /app (a Django project's shape): one module per size, no pycs."""
    files = [File(f"app/mysite/mod{i}.py", b"x = 1\n" * (n // 6)) for i, n in enumerate(sizes)]
    return Layer([File("app/mysite/__init__.py", b""), *files], "COPY . /app")


def test_bytecode_a_few_small_app_modules_are_info(scan: Scan) -> None:
    """More than a handful of modules, but a few KB of source: compiling them at start
    costs milliseconds (issue 15: a handful of app modules without .pyc is info)."""
    facts = scan(image(_app([600] * 7), WorkingDir="/app", Cmd=["gunicorn", "mysite.wsgi"]))
    [f] = findings(py006_bytecode, facts)
    assert f.path == "/app" and f.message.startswith("/app: 8 of 8 Python files lack")
    assert f.severity.name == "INFO"
    assert f.evidence["invalid_bytes"] == 7 * 600
    assert py006_bytecode.HANDFUL < 8  # more modules than a handful: their size decides


def test_bytecode_an_app_with_much_source_warns(scan: Scan) -> None:
    facts = scan(image(_app([20_000] * 7), WorkingDir="/app", Cmd=["gunicorn", "mysite.wsgi"]))
    [f] = findings(py006_bytecode, facts)
    assert f.severity.name == "WARNING"
    assert f.evidence["invalid_bytes"] == 7 * 19_998 > py006_bytecode.SMALL_SOURCE


def _optimized_app(level: str) -> Layer:
    """An app whose pycs are all `.opt-N` (`python -m compileall -o 2`), valid for their
    sources' mtime and size: only an interpreter running at that level reads them."""
    tag = f"cpython-{V.replace('.', '')}"
    items: list[File] = []
    for i in range(7):
        source = b"x = 1\n" * 3_000
        header = b"\x00" * 4 + (0).to_bytes(4, "little")  # magic, flags: timestamp
        header += MTIME.to_bytes(4, "little") + len(source).to_bytes(4, "little")
        items.append(File(f"app/mysite/mod{i}.py", source))
        items.append(File(f"app/mysite/__pycache__/mod{i}.{tag}.{level}.pyc", header))
    return Layer(items, "COPY . /app")


def test_bytecode_of_another_optimization_level_is_not_read(scan: Scan) -> None:
    """`pip install --no-compile` then `python -m compileall -o 2` on python:3.11-slim:
    `python -v -c 'import flask'` in the running image said `code object from
    .../flask/app.py` for every module (the .opt-2.pyc are never read without -OO);
    PY006 took the opt-2 pycs for valid bytecode. Under PYTHONOPTIMIZE=2 or
    `python -OO` they are the ones read."""
    app = _optimized_app("opt-2")
    cmd = ["gunicorn", "mysite.wsgi"]
    facts = scan(image(app, WorkingDir="/app", Cmd=cmd))
    [f] = findings(py006_bytecode, facts)
    assert f.severity.name == "WARNING"
    assert (f.evidence["missing"], f.evidence["unread"]) == (7, 7)
    assert "7 without a pyc `python` reads, 7 of them with only pycs of another" in f.message
    for config in (
        {"Cmd": cmd, "Env": ["PYTHONOPTIMIZE=2"]},
        {"Cmd": ["python", "-OO", "-m", "mysite"]},
        {"Cmd": ["sh", "-c", "exec python -OO -m mysite"]},  # not parsed: level open
    ):
        facts = scan(image(app, WorkingDir="/app", **config))
        [f] = findings(py006_bytecode, facts)
        assert (f.severity.name, f.evidence["missing"]) == ("INFO", 0), config
    # -O reads .opt-1.pyc, not .opt-2.pyc
    facts = scan(image(app, WorkingDir="/app", Cmd=["python", "-O", "-m", "mysite"]))
    [f] = findings(py006_bytecode, facts)
    assert (f.severity.name, f.evidence["unread"]) == ("WARNING", 7)


def test_bytecode_of_the_base_python_is_not_the_venv_apps(scan: Scan) -> None:
    """The app runs its venv (no system site-packages): the base interpreter's own
    site-packages, uncompiled, is nothing the app imports."""
    # The copied host interpreter keeps its own site.py: Debian's patched one searches
    # dist-packages, not site-packages (outside venvs), and imgaudit follows it.
    debian = b"dist-packages" in (pyimage.HOST_STDLIB / "site.py").read_bytes()
    base_site = f"opt/acme/python/lib/python{V}/{'dist' if debian else 'site'}-packages"
    base = Layer(pyimage.dist_items(base_site, dist("packaging")), "RUN pip install packaging")
    app = venv_with(dist("six"), pyc="checked-hash")
    facts = scan(image(base, app, Cmd=[f"/{VENV}/bin/python", "-c", "import six"]))
    assert status(py006_bytecode, facts) == "passed"
    # the same image running the base interpreter imports from its site-packages
    facts = scan(image(base, app, Cmd=["/opt/acme/python/bin/python3", "-c", "import packaging"]))
    [f] = findings(py006_bytecode, facts)
    assert (f.path, f.severity.name) == (f"/{base_site}", "WARNING")


def _user_site_copy(root_mode: int) -> Layer:
    """`COPY --from=builder /root/.local /root/.local` of a `pip install --user`."""
    script = f"#!/opt/acme/python/bin/python{V}\nfrom gunicorn.app.wsgiapp import run\n"
    return Layer(
        [
            Dir("root", mode=root_mode),
            Dir("root/.local"),
            Dir("root/.local/bin"),
            File("root/.local/bin/gunicorn", script.encode(), mode=0o755),
        ],
        "COPY --from=builder /root/.local /root/.local",
    )


def test_entrypoint_the_runtime_user_cannot_reach(scan: Scan) -> None:
    """python:3.11-slim, `pip install --user` in a builder, `/root/.local` copied,
    `ENV PATH=/root/.local/bin:$PATH`, `USER app`, `CMD ["gunicorn", ...]`: the engine
    refused to start it ('exec: "gunicorn": executable file not found in $PATH':
    /root is 0700); imgaudit found nothing wrong."""
    path = ["PATH=/root/.local/bin:/usr/local/bin:/usr/bin:/bin"]
    cmd = ["gunicorn", "-b", "0.0.0.0:8000", "app:app"]
    facts = scan(image(Layer(USERS), _user_site_copy(0o700), user="app", Env=path, Cmd=cmd))
    [f] = findings(py007_broken_venv, facts)
    assert (f.severity.name, f.path) == ("ERROR", "/root/.local/bin/gunicorn")
    assert f.message == (
        "the container starts /root/.local/bin/gunicorn, which app (uid 1000) cannot run: "
        "/root is 700 0:0"
    )
    # /root searchable, or the image running as root: it starts
    facts = scan(image(Layer(USERS), _user_site_copy(0o755), user="app", Env=path, Cmd=cmd))
    assert findings(py007_broken_venv, facts) == []
    facts = scan(image(Layer(USERS), _user_site_copy(0o700), Env=path, Cmd=cmd))
    assert findings(py007_broken_venv, facts) == []
    # another gunicorn further on PATH is what exec runs
    other = Layer([File("usr/local/bin/gunicorn", b"#!/bin/sh\n", mode=0o755)])
    facts = scan(image(Layer(USERS), _user_site_copy(0o700), other, user="app", Env=path, Cmd=cmd))
    assert findings(py007_broken_venv, facts) == []


def test_entrypoint_the_runtime_user_may_not_execute(scan: Scan) -> None:
    """`python -m zipapp ... -p "/usr/bin/env python3"` writes the archive 0744;
    copied to /usr/local/bin/app with `USER nobody`, `ENTRYPOINT ["app"]`, the engine
    said `exec /usr/local/bin/app: permission denied`."""
    zipapp = f"#!/opt/acme/python/bin/python{V}\nPK\x03\x04".encode()
    # (chmod 000: the mode said as `ls -l` would count it, "000", not "0")
    for mode, failed in ((0o744, True), (0o755, False), (0o000, True)):
        app = Layer([File("usr/local/bin/app", zipapp, mode=mode)], "COPY --from=build /app.pyz")
        facts = scan(image(Layer(USERS), app, user="app", Entrypoint=["app"]))
        found = [(f.severity.name, f.message) for f in findings(py007_broken_venv, facts)]
        expected = "the container starts /usr/local/bin/app, which app (uid 1000) cannot run: "
        said = f"/usr/local/bin/app is {mode:03o} 0:0"
        assert found == ([("ERROR", expected + said)] if failed else [])


def test_command_script_without_execute_bit(scan: Scan) -> None:
    """A venv with gunicorn, `WORKDIR /app`, `COPY . /app` of a run.sh that lost its
    execute bit (0644), `CMD ["./run.sh"]`: the engine refused to start it (`exec:
    "./run.sh": permission denied`) as the image's `app` user and as root alike;
    imgaudit said nothing (it judged only a Python program, and never for root)."""
    script = b"#!/bin/sh\nexec gunicorn --bind 0.0.0.0:8000 app:app\n"
    shell = Layer(
        [File("bin/sh", b"\x7fELF", mode=0o755), File("usr/sbin/gosu", b"\x7fELF", mode=0o755)]
    )
    for mode, user, failed in (
        (0o644, "app", True),
        (0o644, "", True),
        (0o744, "app", True),
        (0o744, "", False),
        (0o755, "app", False),
    ):
        app = Layer([Dir("app"), File("app/run.sh", script, mode=mode)], "COPY . /app")
        facts = scan(
            image(Layer(USERS), shell, app, user=user, Cmd=["./run.sh"], WorkingDir="/app")
        )
        found = [(f.severity.name, f.message) for f in findings(py007_broken_venv, facts)]
        who = "app (uid 1000)" if user else "root (uid 0)"
        expected = f"the container starts /app/run.sh, which {who} cannot run: "
        expected += f"/app/run.sh is {mode:o} 0:0"
        assert found == ([("ERROR", expected)] if failed else []), (mode, user)
    # `gosu app ./run.sh` from root: it runs as app, whose access is not judged here
    app = Layer([Dir("app"), File("app/run.sh", script, mode=0o744)], "COPY . /app")
    cmd = ["gosu", "app", "./run.sh"]
    facts = scan(image(Layer(USERS), shell, app, Cmd=cmd, WorkingDir="/app"))
    assert findings(py007_broken_venv, facts) == []


def test_entrypoint_script_that_execs_its_arguments(scan: Scan) -> None:
    """`ENTRYPOINT ["/docker-entrypoint.sh"]` (`set -e; echo entry; exec "$@"`),
    `CMD ["gunicorn", ...]`, gunicorn in /opt/venv/bin and PATH without it: the running
    image said `/docker-entrypoint.sh: 4: exec: gunicorn: not found` (exit 127);
    imgaudit said nothing, reading the script as the program. A short script that only
    passes its arguments on is read as a wrapper; one that may change PATH, the
    arguments or the directory, or one longer than the layers keep, is not."""
    entry = b'#!/bin/sh\nset -e\necho entry\nexec "$@"\n'
    venv = pyimage.venv_items(VENV, "/opt/acme/python/bin")
    script = f"#!/{VENV}/bin/python\nfrom gunicorn.app.wsgiapp import run\n".encode()
    files = [
        File("bin/sh", b"\x7fELF", mode=0o755),
        File(f"{VENV}/bin/gunicorn", script, mode=0o755),
    ]
    cmd = ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
    plain = ["PATH=/usr/local/bin:/usr/bin:/bin"]

    def run(text: bytes, env: list[str], name: str = "docker-entrypoint.sh") -> list[str]:
        layer = Layer([*venv, *files, File(name, text, mode=0o755)])
        facts = scan(image(Layer(USERS), layer, user="app", Env=env,
                           Entrypoint=[f"/{name}"], Cmd=cmd))  # fmt: skip
        return [f.message for f in findings(py007_broken_venv, facts)]

    [message] = run(entry, plain)
    assert message == (
        "the container starts `gunicorn`, which is on no directory of PATH "
        f"(/usr/local/bin:/usr/bin:/bin); the image has /{VENV}/bin/gunicorn"
    )
    assert run(entry, [f"PATH=/{VENV}/bin:/usr/bin:/bin"]) == []  # on PATH: it starts
    for line in (
        b'export PATH="/opt/acme/venv/bin:$PATH"',
        b". /opt/acme/venv/bin/activate",
        b'set -- gunicorn "$@"',
        b"cd /app",
        b"PATH=/opt/acme/venv/bin:$PATH",
        b'if [ "$1" = web ]; then shift; fi',
    ):  # may change what `exec "$@"` runs: not read
        assert run(b"#!/bin/sh\n" + line + b'\nexec "$@"\n', plain) == [], line
    # longer than the layers keep of a script: not read (256 bytes of an executable
    # outside bin/; entrypoint scripts are kept up to 64 KiB, so read)
    long = b"#!/bin/sh\n" + b"# comment\n" * 40 + b'exec "$@"\n'
    assert run(long, plain, "start.sh") == []
    assert run(long, plain) == [message]


def test_console_script_whose_package_is_off_sys_path(scan: Scan) -> None:
    """python:3.11-slim, `pip install --target /app/deps ... gunicorn`,
    `ENV PATH=/app/deps/bin:$PATH`, no PYTHONPATH, `CMD ["gunicorn", ...]`: the running
    image said `ModuleNotFoundError: No module named 'gunicorn'`; imgaudit nothing. The
    RECORD names `../../bin/gunicorn` (pip moved bin/ after writing it): the script's
    own `from gunicorn.app.wsgiapp import run` ties it to its distribution."""
    meta = "app/deps/gunicorn-27.0.1.dist-info"
    record = f"gunicorn/__init__.py,,\n../../bin/gunicorn,,\n{meta[9:]}/METADATA,,\n"
    script = f"#!/opt/acme/python/bin/python{V}\nimport re\nimport sys\n"
    script += (
        "from gunicorn.app.wsgiapp import run\nif __name__ == '__main__':\n    sys.exit(run())\n"
    )
    deps = Layer(
        [
            File("app/deps/gunicorn/__init__.py", b""),
            File(f"{meta}/METADATA", b"Metadata-Version: 2.1\nName: gunicorn\nVersion: 27.0.1\n"),
            File(f"{meta}/RECORD", record.encode()),
            File(f"{meta}/top_level.txt", b"gunicorn\n"),
            File("app/deps/bin/gunicorn", script.encode(), mode=0o755),
        ],
        "RUN pip install --target /app/deps gunicorn",
    )
    path = "PATH=/app/deps/bin:/usr/local/bin:/usr/bin:/bin"
    cmd = ["gunicorn", "-b", "0.0.0.0:8000", "app:app"]
    facts = scan(image(Layer(USERS), deps, user="app", Env=[path], Cmd=cmd))
    [f] = findings(py007_broken_venv, facts)
    assert (f.severity.name, f.path) == ("ERROR", "/app/deps/bin/gunicorn")
    assert f.message == (
        "the container starts /app/deps/bin/gunicorn of gunicorn 27.0.1, installed in "
        f"/app/deps, which is not on the sys.path of {PY}: `import gunicorn` fails"
    )
    # ENV PYTHONPATH=/app/deps: it imports
    env = [path, "PYTHONPATH=/app/deps"]
    facts = scan(image(Layer(USERS), deps, user="app", Env=env, Cmd=cmd))
    assert findings(py007_broken_venv, facts) == []


def test_entrypoint_installed_off_path(scan: Scan) -> None:
    """Debian's python3 in a builder, `pip install --prefix=/install` (Debian's scheme
    writes /install/local/bin and /install/local/lib/python3.11/dist-packages), then
    `COPY --from=builder /install /usr/local` and `CMD ["gunicorn", ...]`: the engine
    refused to start it (exec: "gunicorn": executable file not found in $PATH), the
    packages sat in /usr/local/local, on no sys.path; imgaudit said nothing."""
    script = f"#!/usr/bin/python{V}\nfrom gunicorn.app.wsgiapp import run\n".encode()
    copied = Layer(
        [
            File("usr/local/local/bin/gunicorn", script, mode=0o755),
            Symlink(f"usr/bin/python{V}", PY),  # Debian's python3, which the script names
        ],
        "COPY --from=builder /install /usr/local",
    )
    cmd = ["gunicorn", "-b", "0.0.0.0:8000", "app:app"]
    facts = scan(image(Layer(USERS), copied, Cmd=cmd))
    [f] = findings(py007_broken_venv, facts)
    assert (f.severity.name, f.path) == ("ERROR", "/usr/local/local/bin/gunicorn")
    assert f.message.startswith("the container starts `gunicorn`, which is on no directory")
    # on PATH: it starts; named by a path: nothing to say here (nowhere: the next test)
    on_path = ["PATH=/usr/local/local/bin:/usr/bin:/bin"]
    assert (
        findings(py007_broken_venv, scan(image(Layer(USERS), copied, Cmd=cmd, Env=on_path))) == []
    )
    by_path = ["/usr/local/local/bin/gunicorn", "app:app"]
    assert findings(py007_broken_venv, scan(image(Layer(USERS), copied, Cmd=by_path))) == []
    # a shell or `env PATH=...` may put it on PATH: not read here, nothing said
    for argv in (
        ["sh", "-c", "export PATH=/usr/local/local/bin:$PATH && exec gunicorn app:app"],
        ["env", "PATH=/usr/local/local/bin:/usr/bin", "gunicorn", "app:app"],
    ):
        assert findings(py007_broken_venv, scan(image(Layer(USERS), copied, Cmd=argv))) == []


def test_entrypoint_nowhere_in_the_image(scan: Scan) -> None:
    """`rm -rf /opt/venv && python -m venv /opt/venv` in a later layer (an opaque
    /opt/venv hides the console scripts), `CMD ["gunicorn", ...]`: the engine refused to
    start it (exec: "gunicorn": executable file not found in $PATH), imgaudit said
    nothing. The exec-form command's own first word is what the engine looks up: an
    error. Past a wrapper the word is imgaudit's reading of the wrapper's options, so
    only a `bin/<name>` elsewhere speaks there."""
    cmd = ["gunicorn", "-b", "0.0.0.0:8000", "app:app"]
    [f] = findings(py007_broken_venv, scan(image(Layer(USERS), Cmd=cmd)))
    assert f.severity.name == "ERROR"
    assert f.message.startswith(
        "the container's command `gunicorn` is in no directory of PATH (/usr/local/sbin:"
    )
    assert f.message.endswith("and nowhere else in the image: the engine refuses to start it")
    wrapper = Layer([File("usr/bin/dumb-init", b"\x7fELF", mode=0o755)])
    rewrite = ["dumb-init", "--rewrite", "15:3", "gunicorn", "app:app"]
    assert findings(py007_broken_venv, scan(image(Layer(USERS), wrapper, Cmd=rewrite))) == []
    # a dangling link on PATH (python3 -> python3.11, the interpreter removed): the
    # engine fails the same way; the error names the link
    dangling = Layer([Symlink("usr/bin/python3", "python3.11")])
    [f] = findings(py007_broken_venv, scan(image(Layer(USERS), dangling, Cmd=["python3"])))
    assert (f.severity.name, f.path) == ("ERROR", "/usr/bin/python3")
    assert f.message.startswith("the container's command `python3` is /usr/bin/python3, a link")
    # a venv's dangling bin/python is the venv's finding, said once
    cfg = b"home = /usr/local/bin\nversion = 3.11.7\n"
    venv = Layer(
        [File("opt/venv/pyvenv.cfg", cfg), Symlink("opt/venv/bin/python", "/usr/local/bin/python3")]
    )
    env = ["PATH=/opt/venv/bin:/usr/bin:/bin"]
    found = findings(py007_broken_venv, scan(image(Layer(USERS), venv, Cmd=["python"], Env=env)))
    assert [f.message for f in found if "command" in f.message] == []
    assert found and all(f.message.startswith("venv /opt/venv") for f in found)
    # the program is there: nothing
    there = Layer([File("usr/local/bin/gunicorn", b"#!/bin/sh\n", mode=0o755),
                   File("bin/sh", b"\x7fELF", mode=0o755)])  # fmt: skip
    assert findings(py007_broken_venv, scan(image(Layer(USERS), there, Cmd=cmd))) == []


@pytest.mark.parametrize("wrapper", ["tini", "/usr/bin/tini", "dumb-init", "gosu"])
def test_entrypoint_wrapper_nowhere_in_the_image(scan: Scan, wrapper: str) -> None:
    """`ENTRYPOINT ["tini", "--"]` without tini installed: the engine refused to start
    the container (exec: "tini": executable file not found in $PATH, exit 127) and
    imgaudit said nothing: it read past the wrapper to gunicorn, which is there."""
    there = Layer([File("usr/local/bin/gunicorn", b"#!/bin/sh\n", mode=0o755),
                   File("bin/sh", b"\x7fELF", mode=0o755)])  # fmt: skip
    args = ["app"] if wrapper == "gosu" else ["--"]
    config = {"Entrypoint": [wrapper, *args], "Cmd": ["gunicorn", "app:app"]}
    [f] = findings(py007_broken_venv, scan(image(Layer(USERS), there, **config)))
    assert f.severity.name == "ERROR"
    # a bare name is looked up on PATH (the wrapper finding); a path is named as it is
    # (the missing-path finding, which also says the engine's reason)
    assert "the engine refuses to start it" in f.message
    assert f"command `{wrapper}`" in f.message or f"command {wrapper} is not" in f.message
    installed = Layer([File(f"usr/bin/{wrapper.rsplit('/', 1)[-1]}", b"\x7fELF", mode=0o755)])
    assert findings(py007_broken_venv, scan(image(Layer(USERS), there, installed, **config))) == []


@pytest.mark.parametrize(
    ("command", "fails"),
    [
        (["gosu", "app"], True),
        (["/usr/local/bin/gosu", "app"], True),
        (["tini", "--", "su-exec", "app"], True),
        (["runuser", "-u", "app", "--"], True),
        (["setpriv", "--reuid=app", "--regid=app", "--init-groups"], True),
        (["setpriv", "--reuid=app", "--regid=app", "--keep-groups"], False),
    ],
)
def test_non_root_image_whose_command_switches_users(
    scan: Scan, command: list[str], fails: bool
) -> None:
    """`USER app` and `ENTRYPOINT ["gosu", "app"]`: the engine starts gosu as app and it
    exits "error: failed switching to \"app\": operation not permitted" (setgroups needs
    root); imgaudit said nothing. setpriv keeping the groups works as that user (checked
    on this host as nobody)."""
    tools = [File(f"usr/local/bin/{n}", b"\x7fELF", mode=0o755)
             for n in ("gosu", "su-exec", "tini", "runuser", "setpriv", "gunicorn")]  # fmt: skip
    config = {"Entrypoint": command, "Cmd": ["gunicorn", "app:app"]}
    found = findings(
        py007_broken_venv, scan(image(Layer(USERS), Layer(tools), user="app", **config))
    )
    tool = next(w.rsplit("/", 1)[-1] for w in command if w not in ("tini", "--"))
    if fails:
        [f] = found
        assert f.severity.name == "ERROR"
        assert f.message.startswith(f"the container's command switches users with {tool}")
        assert "runs as app (uid 1000)" in f.message
    else:
        assert found == []
    # as root it is the official images' pattern: nothing here (SEC001 speaks)
    assert findings(py007_broken_venv, scan(image(Layer(USERS), Layer(tools), **config))) == []


def test_module_run_from_a_directory_without_it(scan: Scan) -> None:
    """python:3.11-slim look-alike, a venv in /opt/venv on PATH, the app in /app, then
    `WORKDIR /srv` and `CMD ["python", "-m", "app"]`: the running image said
    `/opt/venv/bin/python: No module named app` (exit 1); imgaudit said nothing. -m looks
    in the working directory first, then the interpreter's sys.path."""
    venv = Layer(pyimage.venv_items(VENV, "/opt/acme/python/bin"), "RUN python -m venv")
    app = Layer([Dir("app"), File("app/app.py", b"print('ok')\n"), Dir("srv")], "COPY . /app")
    path = [f"PATH=/{VENV}/bin:/usr/local/bin:/usr/bin:/bin"]
    cmd = ["python", "-m", "app"]
    facts = scan(image(Layer(USERS), venv, app, user="app", Env=path, Cmd=cmd, WorkingDir="/srv"))
    [f] = findings(py007_broken_venv, facts)
    assert (f.severity.name, f.path) == ("ERROR", None)
    assert f.evidence["program"] == f"/{VENV}/bin/python"
    assert f.message == (
        "the container runs `python -m app`, and no module `app` is in the working "
        f'directory /srv or on the sys.path of /{VENV}: python exits with "No module named app"'
    )
    # behind tini, options first, a dotted name: the same
    wrapped = ["tini", "--", "python", "-u", "-W", "ignore", "-m", "app.main"]
    tini = Layer([File("usr/bin/tini", b"\x7fELF", mode=0o755)])
    facts = scan(
        image(Layer(USERS), venv, app, tini, user="app", Env=path, Cmd=wrapped, WorkingDir="/srv")
    )
    assert [f.message.split(",")[0] for f in findings(py007_broken_venv, facts)] == [
        "the container runs `python -m app.main`"
    ]

    def quiet(
        *layers: Layer, cmd: list[str] = cmd, env: list[str] = path, wd: str = "/srv"
    ) -> None:
        facts = scan(image(Layer(USERS), venv, app, *layers, user="app", Env=env, Cmd=cmd,
                           WorkingDir=wd))  # fmt: skip
        assert findings(py007_broken_venv, facts) == []

    quiet(wd="/app")  # the module is in the working directory
    quiet(env=[*path, "PYTHONPATH=/app"])  # on sys.path
    quiet(cmd=["python", "-m", "json.tool"])  # the standard library's
    quiet(cmd=["python", "-I", "-m", "app"])  # an option that changes sys.path: not read
    quiet(cmd=["sh", "-c", "cd /app && python -m app"])  # a shell: not read
    site = f"{SITE}"
    # an editable install's finder (a .pth import line) may map `app` anywhere
    finder = b"import __editable___app_finder; __editable___app_finder.install()\n"
    quiet(Layer([File(f"{site}/__editable__.app-0.1.pth", finder)]))
    # a package, a sourceless module or an extension by that name in site-packages
    for name in ("app/__init__.py", "app.pyc", "app.cpython-311-x86_64-linux-gnu.so"):
        quiet(Layer([File(f"{site}/{name}", b"")]))
    # a venv whose interpreter is gone does not start at all: only that is said
    gone = Layer(pyimage.venv_items("opt/v2", "/nowhere/bin"))
    env = ["PATH=/opt/v2/bin:/usr/bin:/bin"]
    facts = scan(image(Layer(USERS), gone, app, user="app", Env=env, Cmd=cmd, WorkingDir="/srv"))
    found = findings(py007_broken_venv, facts)
    assert found and all(f.message.startswith("venv /opt/v2") for f in found)
    # flit's editable `app.pth` (a path line) is no module named `app`: still an error
    facts = scan(image(Layer(USERS), venv, app, Layer([File(f"{site}/app.pth", b"/gone\n")]),
                       user="app", Env=path, Cmd=cmd, WorkingDir="/srv"))  # fmt: skip
    assert [f.severity.name for f in findings(py007_broken_venv, facts)] == ["ERROR"]
    # setuptools' distutils shim is no finder for `app`: still an error
    shim = b"import os; var = 'SETUPTOOLS_USE_DISTUTILS'; __import__('_distutils_hack')\n"
    facts = scan(image(Layer(USERS), venv, app, Layer([File(f"{site}/distutils-precedence.pth",
                 shim)]), user="app", Env=path, Cmd=cmd, WorkingDir="/srv"))  # fmt: skip
    assert [f.severity.name for f in findings(py007_broken_venv, facts)] == ["ERROR"]
    # nor is uv's and virtualenv's `_virtualenv.pth` (`rm -rf /app/app` in a mutated uv
    # image: "No module named 'app'"; the shim's import line kept imgaudit quiet)
    shim = b"import _virtualenv"
    facts = scan(image(Layer(USERS), venv, app, Layer([File(f"{site}/_virtualenv.pth", shim),
                 File(f"{site}/_virtualenv.py")]), user="app", Env=path, Cmd=cmd,
                 WorkingDir="/srv"))  # fmt: skip
    assert [f.severity.name for f in findings(py007_broken_venv, facts)] == ["ERROR"]


def test_writable_user_site_of_the_app_python(scan: Scan) -> None:
    """A builder's `pip install --user` copied with `COPY --chown=app:app /root/.local
    /home/app/.local`, `USER app`, CMD the python (no venv): `test -w` of every package
    file the app imports succeeded as app in the running image; SEC003 skipped ("no
    virtual environment"). Root-owned (copied without --chown), or a user site the
    app's python does not have on its path (PYTHONNOUSERSITE), is not flagged."""
    user_site = f"home/app/.local/lib/python{V}/site-packages"
    homes = [Dir("home/app", uid=1000, gid=1000), Dir("home/app/.local", uid=1000, gid=1000)]

    def judged(uid: int, **config: object) -> tuple[str, list[str]]:
        items = [*homes, *pyimage.dist_items(user_site, dist("six"), uid=uid, gid=uid)]
        site = Layer(items, created_by="COPY --from=builder --chown=app /root/.local ...")
        facts = scan(image(Layer(USERS), site, user="app", Cmd=[PY, "-c", "pass"], **config))
        return status(sec003_writable_venv, facts), [
            f.message.split(":")[0] for f in findings(sec003_writable_venv, facts)
        ]

    where = f"site directory /{user_site} on the sys.path of {PY}"
    assert judged(1000) == ("failed", [where])
    assert judged(0) == ("passed", [])
    assert judged(1000, Env=["PYTHONNOUSERSITE=1"]) == ("skipped", [])
    # `pip install --target /app/deps` with PYTHONPATH, chowned: the app's directory, SEC004's
    deps = Layer([Dir("app", uid=1000, gid=1000),
                  *pyimage.dist_items("app/deps", dist("six"), uid=1000, gid=1000)])  # fmt: skip
    facts = scan(image(Layer(USERS), deps, user="app", Cmd=[PY, "-c", "pass"],
                       Env=["PYTHONPATH=/app/deps"]))  # fmt: skip
    assert status(sec003_writable_venv, facts) == "skipped"
    assert [f.evidence["app_dir"] for f in findings(sec004_writable_app, facts)] == ["/app"]


def test_relocated_venv_run_by_its_python(scan: Scan) -> None:
    """`python -m venv /build/venv` in a builder, `COPY --from=builder /build/venv
    /opt/venv` into the slim look-alike: with CMD ["gunicorn", ...] the running image
    said "exec /opt/venv/bin/gunicorn: no such file or directory" (an error, rightly);
    with CMD ["python", "-m", "gunicorn", ...] or ["/opt/venv/bin/python",
    "/opt/venv/bin/gunicorn", ...] it served (bin/python finds pyvenv.cfg beside it, and
    python reads a script's #! line as a comment), yet imgaudit said error: the broken
    console scripts only fail another command (`docker run IMAGE gunicorn`, `pip`)."""
    script = b"#!/build/venv/bin/python\nimport sys\nfrom gunicorn.app.wsgiapp import run\n"
    venv = Layer([*pyimage.venv_items(VENV, "/opt/acme/python/bin"),
                  File(f"{VENV}/bin/gunicorn", script, mode=0o755),
                  File(f"{SITE}/gunicorn/__init__.py", b"")],
                 created_by="COPY --from=builder /build/venv /opt/acme/venv")  # fmt: skip
    path = [f"PATH=/{VENV}/bin:/usr/bin:/bin"]

    def judged(cmd: list[str]) -> list[tuple[str, str]]:
        facts = scan(image(Layer(USERS), venv, user="app", Env=path, Cmd=cmd))
        return [(f.severity.name, f.message) for f in findings(py007_broken_venv, facts)]

    broken = f"venv /{VENV}: 1 console script(s) run /build/venv/bin/python, which is not in "
    assert judged(["gunicorn", "app:app"]) == [("ERROR", broken + "the image")]
    ran = f"the image; the container's command runs /{VENV}/bin/python, not them"
    assert judged(["python", "-m", "gunicorn", "app:app"]) == [("WARNING", broken + ran)]
    assert judged([f"/{VENV}/bin/python", f"/{VENV}/bin/gunicorn"]) == [("WARNING", broken + ran)]
    # through a shell the command is not read: what it runs may be a script
    assert [s for s, _ in judged(["sh", "-c", "python -m gunicorn"])] == ["ERROR"]


def test_module_run_past_debians_stock_sitecustomize(scan: Scan) -> None:
    """Distroless python3-debian12 (Debian's python3.11 at /usr/bin) with a builder's
    `pip install --prefix=/install` copied to /usr/local, `ENTRYPOINT ["/usr/bin/python3.11"]`
    and `CMD ["-m", "gunicorn", ...]`: the running image said `/usr/bin/python3.11: No
    module named gunicorn` (exit 1); imgaudit said nothing, because every Debian python
    has a sitecustomize.py in its standard library (libpython3.11-minimal's link to
    /etc/python3.11/sitecustomize.py, which only installs apport's exception hook). With
    the python in a base layer the finding was also the base's, so it did not gate."""
    stdlib = f"opt/acme/python/lib/python{V}"
    stock = (
        b"# install the apport exception handler if available\ntry:\n"
        b"    import apport_python_hook\nexcept ImportError:\n    pass\nelse:\n"
        b"    apport_python_hook.install()\n"
    )
    etc = f"etc/python{V}/sitecustomize.py"
    debian = Layer([File(etc, stock), Symlink(f"{stdlib}/sitecustomize.py", "/" + etc)])
    app = Layer([Dir("app"), File("app/app.py", b"print('ok')\n")], "COPY . /app")
    config = {"Entrypoint": [PY], "Cmd": ["-m", "gunicorn"], "WorkingDir": "/app"}
    facts = scan(image(Layer(USERS), debian, app, user="app", **config))
    [f] = findings(py007_broken_venv, facts)
    assert f.message.startswith("the container runs `python -m gunicorn`, and no module")
    # no path, so no layer: the base's python does not make the command the base's
    assert (f.severity.name, f.path, f.layer) == ("ERROR", None, None)
    assert f.evidence["program"] == PY
    # a sitecustomize of its own may put anything on sys.path: not judged
    own = Layer([File(etc, b"import sys\nsys.path.append('/x')\n")])
    assert findings(py007_broken_venv, scan(image(Layer(USERS), debian, app, own, user="app",
                                                  **config))) == []  # fmt: skip


def test_venv_of_older_python_under_upgraded_base(scan: Scan) -> None:
    """A venv made by 3.12 whose home now holds the host's 3.11 (base image changed)."""
    cfg = b"home = /opt/acme/python/bin\ninclude-system-site-packages = false\nversion = 3.12.1\n"
    layer = Layer(
        [
            File(f"{VENV}/pyvenv.cfg", cfg),
            Symlink(f"{VENV}/bin/python", "/opt/acme/python/bin/python3"),
            Dir(f"{VENV}/lib/python3.12/site-packages"),
        ]
    )
    facts = scan(image(layer))
    [f] = findings(py007_broken_venv, facts)
    assert f.message == (
        f"venv /{VENV}: made by Python 3.12.1, but home /opt/acme/python/bin now has "
        f"/opt/acme/python/bin/python{V}"
    )


def test_pip_install_target_dir_is_found(scan: Scan) -> None:
    """`pip install --target /app/deps`: distributions outside any site-packages."""
    layer = Layer([*USERS, *pyimage.dist_items("app/deps", dist("six"))])
    facts = scan(image(layer))
    [d] = facts.distributions
    assert (d.name, d.location) == ("six", "app/deps")


def test_bytecode_in_app_ignores_the_entry_script(scan: Scan) -> None:
    app = Layer([File("app/main.py", b"import lib\n"), File("app/lib.py", b"X = 1\n")])
    facts = scan(image(app, WorkingDir="/app", Cmd=["python", "main.py"]))
    [f] = findings(py006_bytecode, facts)  # lib.py has no pyc; main.py needs none
    assert (f.path, f.evidence["sources"], f.evidence["missing"]) == ("/app", 1, 1)


def test_uvs_world_writable_venv_lock_is_no_writable_venv(scan: Scan) -> None:
    """`uv venv /opt/venv` in a builder, copied into the final stage, `USER app`: uv
    leaves /opt/venv/.lock at mode 0666 (so that any user may lock the venv); as app,
    `test -w` passed on .lock only, never on site-packages, bin or a module, and SEC003
    said '1 of 331 paths are writable by app'. Writing the lock file changes no code
    the interpreter runs; a writable venv directory still counts."""
    venv = venv_with(dist("pip"))
    lock = Layer([File(f"{VENV}/.lock", b"", 0o666)], created_by="RUN uv venv /opt/acme/venv")
    facts = scan(image(venv, lock, app_layer(0), user="app", Cmd=["python"]))
    assert status(sec003_writable_venv, facts) == "passed"
    assert facts.venv_writable[VENV].writable == ()
    opened = Layer([Dir(VENV, 0o777), File(f"{VENV}/.lock", b"", 0o666)], created_by="RUN chmod")
    facts = scan(image(venv, opened, app_layer(0), user="app", Cmd=["python"]))
    [v] = findings(sec003_writable_venv, facts)
    assert v.path == f"/{VENV}" and facts.venv_writable[VENV].writable == (VENV,)


def test_package_files_linked_to_a_removed_uv_cache_do_not_import(
    scan: Scan, tmp_path: Path
) -> None:
    """`uv pip install --link-mode=symlink` into /opt/venv, then `rm -rf /root/.cache/uv`
    in the same step: every file of every package is a link into the removed cache.
    `import requests` still succeeded (an empty namespace package), `requests.get` raised
    AttributeError, importlib.metadata listed 7 distributions without a name; PY007 said
    nothing. Kept cache: the links resolve. A dangling link deeper in a package (its
    data) decides no import."""
    cache = "root/.cache/uv/archive-v0/qMSrpUnwXrFBlPXy"
    links = Layer(
        [
            Dir(f"{SITE}/requests"),
            Symlink(f"{SITE}/requests/__init__.py", f"/{cache}/requests/__init__.py"),
            Symlink(f"{SITE}/requests/api.py", f"/{cache}/requests/api.py"),
            Symlink(f"{SITE}/six.py", f"/{cache}/six.py"),
            Dir(f"{SITE}/requests-2.34.2.dist-info"),
            Symlink(
                f"{SITE}/requests-2.34.2.dist-info/METADATA",
                f"/{cache}/requests-2.34.2.dist-info/METADATA",
            ),
            Dir(f"{SITE}/certifi"),
            File(f"{SITE}/certifi/__init__.py", b""),
            Symlink(f"{SITE}/certifi/cacert.pem", "/etc/ssl/certs/ca-certificates.crt"),
        ],
        created_by="RUN uv pip install --link-mode=symlink requests && rm -rf /root/.cache/uv",
    )
    cfg = {"Cmd": ["python", "/app/main.py"], "Env": [f"PATH=/{VENV}/bin:/usr/bin:/bin"]}
    facts = scan(image(venv_with(), links, **cfg))
    [f] = [f for f in findings(py007_broken_venv, facts) if "decide an import" in f.message]
    assert f.severity.name == "ERROR" and f.path == f"/{SITE}/requests-2.34.2.dist-info/METADATA"
    assert f.evidence["modules"] == ["requests", "six"]
    assert (f.evidence["dangling"], f.evidence["distributions"]) == (3, 1)
    assert "`import requests`, `import six` find no module code" in f.message
    kept = Layer(
        [
            Dir(f"{cache}/requests"),
            File(f"{cache}/requests/__init__.py", b"def get(): pass\n"),
            File(f"{cache}/requests/api.py", b""),
            File(f"{cache}/six.py", b""),
            Dir(f"{cache}/requests-2.34.2.dist-info"),
            File(f"{cache}/requests-2.34.2.dist-info/METADATA", b"Name: requests\n"),
        ],
        created_by="RUN uv pip install --link-mode=symlink requests",
    )
    facts = scan(image(venv_with(), kept, links, **cfg))
    assert not [f for f in findings(py007_broken_venv, facts) if "decide an import" in f.message]
    # the interpreter's own rule: a package whose __init__.py dangles imports as an empty
    # namespace package; a module file that dangles does not import
    site = tmp_path / "site"
    (site / "iapkg").mkdir(parents=True)
    (site / "iapkg" / "__init__.py").symlink_to(tmp_path / "gone" / "__init__.py")
    (site / "iamod.py").symlink_to(tmp_path / "gone" / "iamod.py")
    probe = (
        "import iapkg; print(iapkg.__file__, hasattr(iapkg, 'get'))\n"
        "try:\n import iamod\nexcept ImportError: print('no iamod')"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe], env={"PYTHONPATH": str(site)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split("\n")[:2] == ["None False", "no iamod"]


def test_entrypoint_path_not_in_the_image(scan: Scan) -> None:
    """`ENTRYPOINT ["/code/start.sh"]` on a mutated FastAPI image that has no such file:
    the engine refused to start it (exec: "/code/start.sh": stat /code/start.sh: no such
    file or directory); imgaudit said nothing (a command named by a path was not looked
    up). A relative one is looked up against WorkingDir."""
    [f] = findings(py007_broken_venv, scan(image(Layer(USERS), Entrypoint=["/code/start.sh"])))
    assert (f.severity.name, f.path) == ("ERROR", "/code/start.sh")
    assert f.message == (
        "the container's command `/code/start.sh` is /code/start.sh, which is not in the "
        "image: the engine refuses to start it (no such file or directory)"
    )
    there = Layer([File("srv/run.sh", b"#!/bin/sh\nexec true\n", mode=0o755), File("bin/sh")])
    ok = scan(image(Layer(USERS), there, Cmd=["./run.sh"], WorkingDir="/srv"))
    assert findings(py007_broken_venv, ok) == []
    gone = scan(image(Layer(USERS), there, Cmd=["./run.sh"], WorkingDir="/app"))
    [f] = findings(py007_broken_venv, gone)
    assert f.path == "/app/run.sh"


def test_python_script_not_in_the_image(scan: Scan) -> None:
    """`CMD ["python", "./app.py"]` (pip-user, official-guide) with the app's directory
    removed in a later layer: python exits 2 ("can't open file '/code/./app.py': [Errno
    2] No such file or directory"); imgaudit said nothing."""
    link = Layer([Symlink("usr/local/bin/python", PY)])
    cmd = ["python", "-u", "./app.py"]
    found = findings(
        py007_broken_venv, scan(image(Layer(USERS), link, Cmd=cmd, WorkingDir="/code"))
    )
    [f] = found
    assert (f.severity.name, f.path) == ("ERROR", "/code/app.py")
    assert "can't open file '/code/./app.py'" in f.message
    app = Layer([File("code/app.py", b"print(1)\n")])
    ok = scan(image(Layer(USERS), link, app, Cmd=cmd, WorkingDir="/code"))
    assert findings(py007_broken_venv, ok) == []
    # a VOLUME holds the app: mounted at run time, the image's files cannot say
    vol = scan(image(Layer(USERS), link, Cmd=cmd, WorkingDir="/code", Volumes={"/code": {}}))
    assert findings(py007_broken_venv, vol) == []
    # -c and -m name no script file
    for argv in (["python", "-c", "print(1)"], ["python", "-W", "ignore", "-c", "pass"]):
        assert findings(py007_broken_venv, scan(image(Layer(USERS), link, Cmd=argv))) == []


def test_script_run_by_a_python_that_skips_the_venv(scan: Scan) -> None:
    """uv's layout (`uv sync` into /app/.venv) with `CMD ["python", "main.py"]` and no
    `ENV PATH=/app/.venv/bin:$PATH`: `python` is the base image's, which has no package,
    and `import six` fails in the running image ("No module named 'six'"); imgaudit said
    nothing. A warning: the files do not say what main.py imports."""
    six = dist("six")
    venv = "app/.venv"
    site = f"{venv}/lib/python{V}/site-packages"
    uv = Layer(
        [*pyimage.venv_items(venv, "/opt/acme/python/bin"), *pyimage.dist_items(site, six)],
        "RUN uv sync --frozen",
    )
    link = Layer([Symlink("usr/local/bin/python", PY)])
    app = Layer([File("app/main.py", b"import six\n")], "COPY . /app")
    cmd = ["python", "main.py"]

    def found(*layers: Layer, cmd: list[str] = cmd, env: list[str] | None = None) -> list[Finding]:
        config: dict[str, object] = {"Cmd": cmd, "WorkingDir": "/app"}
        if env is not None:
            config["Env"] = env
        return findings(py007_broken_venv, scan(image(Layer(USERS), link, uv, app, *layers,
                                                      user="app", **config)))  # fmt: skip

    [f] = found()
    assert (f.severity.name, f.path) == ("WARNING", None)
    assert f.message == (
        f"the container runs `python main.py` with {PY}, which has no package installed; "
        "the 1 distribution(s) of the venv /app/.venv are not on its sys.path: `import six` "
        "fails there"
    )
    assert f.evidence["modules"] == ["six"] and f.evidence["venv"] == "/app/.venv"
    # the venv's python runs it: by PATH, or by name
    assert found(env=["PATH=/app/.venv/bin:/usr/local/bin:/usr/bin:/bin"]) == []
    assert found(cmd=["/app/.venv/bin/python", "main.py"]) == []
    # the venv's packages on that python's path, or a module of that name beside the script
    assert found(env=[f"PYTHONPATH=/{site}", "PATH=/usr/local/bin:/usr/bin:/bin"]) == []
    assert found(Layer([File("app/six.py", b"")])) == []
    # the base python has packages of its own, or two venvs hold packages: not judged
    base_site = f"opt/acme/python/lib/python{V}/site-packages"
    assert found(Layer(pyimage.dist_items(base_site, dist("markupsafe")))) == []
    other = Layer([*pyimage.venv_items("opt/v2", "/opt/acme/python/bin"),
                   *pyimage.dist_items(f"opt/v2/lib/python{V}/site-packages", six)])  # fmt: skip
    assert found(other) == []
    # a tool's own venv (pipx) beside the app's: still the app's venv that is said
    pipx = "root/.local/share/pipx/venvs/poetry"
    tool = Layer([*pyimage.venv_items(pipx, "/opt/acme/python/bin"),
                  *pyimage.dist_items(f"{pipx}/lib/python{V}/site-packages", six)])  # fmt: skip
    assert [f.evidence["venv"] for f in found(tool)] == ["/app/.venv"]
    # `pip install --target /app/deps` with no PYTHONPATH (no venv): the same, for that
    # directory; a venv beside it makes two places, not judged
    target = Layer(pyimage.dist_items("app/deps", six), "RUN pip install --target /app/deps")
    facts = scan(image(Layer(USERS), link, target, app, user="app", Cmd=cmd, WorkingDir="/app"))
    [f] = findings(py007_broken_venv, facts)
    assert f.severity.name == "WARNING" and f.evidence["location"] == "/app/deps"
    assert "the 1 distribution(s) in /app/deps are not on its sys.path" in f.message
    assert f.remedy.startswith("Put /app/deps on the interpreter's path")
    deps = ["PYTHONPATH=/app/deps", "PATH=/usr/local/bin:/usr/bin:/bin"]
    facts = scan(image(Layer(USERS), link, target, app, user="app", Cmd=cmd, WorkingDir="/app",
                       Env=deps))  # fmt: skip
    assert findings(py007_broken_venv, facts) == []
    assert found(target) == []
    # `-m` of the app's own module (found in the working directory, -m's sys.path[0]):
    # the same (the venv's python deleted, so that PATH finds the base's, is this too);
    # a module the python cannot find at all is `_module_off_path`'s error, not this
    [m] = found(cmd=["python", "-m", "main"])
    assert (m.severity.name, m.evidence["module"], m.evidence["modules"]) == (
        "WARNING",
        "main",
        ["six"],
    )
    assert m.message.startswith(f"the container runs `python -m main` with {PY}, which has")
    assert found(cmd=["python", "-m", "main"], env=["PATH=/app/.venv/bin:/usr/bin:/bin"]) == []
    [gone] = found(cmd=["python", "-m", "nothere"])
    assert gone.severity.name == "ERROR" and "No module named nothere" in gone.message
    # -c names neither; a shell is not read
    assert found(cmd=["python", "-c", "import six"]) == []
    assert found(cmd=["sh", "-c", "python main.py"]) == []


def test_distribution_whose_code_was_deleted(scan: Scan) -> None:
    """`rm -rf site-packages/starlette` (fastapi) or `/opt/venv/.../flask`
    (multistage-venv) with the dist-info kept: importlib.metadata still lists them, the
    app dies at start (No module named 'starlette'; gunicorn: Worker failed to boot);
    imgaudit said nothing. The dist-info gone with the code kept is no error (the import
    works), nor is a package found on another sys.path entry."""
    six, attrs = dist("six"), dist("attrs")
    app = venv_with(six, attrs)
    cmd = [f"/{VENV}/bin/python", "-c", "import six"]
    assert status(py007_broken_venv, scan(image(app, Cmd=cmd))) in ("passed", "skipped")
    code_gone = Layer([Whiteout(f"{SITE}/attr"), Whiteout(f"{SITE}/attrs")], "RUN rm -rf")
    [f] = findings(py007_broken_venv, scan(image(app, code_gone, Cmd=cmd)))
    assert (f.severity.name, f.path) == ("ERROR", f"/{SITE}/{attrs}")
    assert "(`import attr, attrs`)" in f.message
    assert f.message.endswith(
        "importlib.metadata lists them, the import fails (ModuleNotFoundError)"
    )
    meta_gone = Layer([Whiteout(f"{SITE}/{six}")], "RUN rm -rf six.dist-info")
    assert findings(py007_broken_venv, scan(image(app, meta_gone, Cmd=cmd))) == []
    # one of two top-level modules gone, one kept (a wheel's top-level `tests` removed to
    # slim the image looks the same): the app may never import it, so a warning
    one_gone = Layer([Whiteout(f"{SITE}/attr")], "RUN rm -rf .../attr")
    [f] = findings(py007_broken_venv, scan(image(app, one_gone, Cmd=cmd)))
    assert (f.severity.name, f.path) == ("WARNING", f"/{SITE}/{attrs}")
    assert "have metadata but top-level modules on no sys.path entry" in f.message
    assert f.evidence["distributions"][0]["modules"] == ["attr"]
    # an installer's code deleted by hand (`rm -rf site-packages/pip`, metadata kept): its
    # command fails, the app seldom imports it: a warning, the app's own packages apart
    pip = venv_with(six, dist("pip"))
    pip_gone = Layer([Whiteout(f"{SITE}/pip")], "RUN rm -rf .../pip")
    [f] = findings(py007_broken_venv, scan(image(pip, pip_gone, Cmd=cmd)))
    assert f.severity.name == "WARNING"
    assert f.message.startswith("1 installer distribution(s) (their commands fail; an app")
    both = Layer([Whiteout(f"{SITE}/pip"), Whiteout(f"{SITE}/six.py")], "RUN rm -rf")
    found = findings(py007_broken_venv, scan(image(pip, both, Cmd=cmd)))
    assert sorted(
        (f.severity.name, f.evidence["distributions"][0]["modules"][0]) for f in found
    ) == [("ERROR", "six"), ("WARNING", "pip")]


def test_egg_info_whose_code_was_deleted(scan: Scan) -> None:
    """`pip install ./greet` of a setup.py project where the venv has no `wheel` runs
    `setup.py install`: an .egg-info directory, no RECORD. With greet/ deleted the
    running image dies ("No module named 'greet'", tests/integration/
    test_deleted_package_code.py); imgaudit looked at .dist-info directories only. The
    modules come from top_level.txt. An .egg-info a Debian package installed is dpkg's
    (its top_level.txt may name what the packager split off): not judged."""
    egg = f"{SITE}/greet-1.0-py{V}.egg-info"
    items = [
        *pyimage.venv_items(VENV, "/opt/acme/python/bin"),
        File(f"{egg}/PKG-INFO", b"Metadata-Version: 2.1\nName: greet\nVersion: 1.0\n"),
        File(f"{egg}/top_level.txt", b"greet\n"),
        File(f"{egg}/SOURCES.txt", b"setup.py\ngreet/__init__.py\n"),
    ]
    cmd = [f"/{VENV}/bin/python", "-c", "import greet"]
    there = Layer([*items, File(f"{SITE}/greet/__init__.py", b"")], "RUN pip install ./greet")
    assert findings(py007_broken_venv, scan(image(there, Cmd=cmd))) == []
    [f] = findings(py007_broken_venv, scan(image(Layer(items), Cmd=cmd)))
    assert (f.severity.name, f.path) == ("ERROR", f"/{egg}")
    assert "greet 1.0 (`import greet`)" in f.message
    dpkg = Layer(
        [
            File("var/lib/dpkg/status", b"Package: python3-greet\nStatus: install ok "
                 b"installed\nVersion: 1.0-1\n"),
            File("var/lib/dpkg/info/python3-greet.list", f"/{egg}\n/{egg}/PKG-INFO\n".encode()),
        ]
    )  # fmt: skip
    assert findings(py007_broken_venv, scan(image(Layer(items), dpkg, Cmd=cmd))) == []


def test_installed_package_the_runtime_user_cannot_read(scan: Scan) -> None:
    """`chmod 700` of the root-owned site-packages/django with `USER appuser` (django) and
    of a root-owned venv (uv, USER nonroot): the running image's `import django` gave an
    empty namespace package and `import django.core` failed (Worker failed to boot); with
    the venv closed, python on PATH was the base one and `import httpx` failed. imgaudit
    said nothing. Root reads everything: nothing to say."""
    six, attrs = dist("six"), dist("attrs")
    app = venv_with(six, attrs)
    cmd = [f"/{VENV}/bin/python", "-c", "import attr"]
    assert findings(py007_broken_venv, scan(image(Layer(USERS), app, Cmd=cmd, user="app"))) == []
    closed = Layer([Dir(f"{SITE}/attr", mode=0o700)], "RUN chmod 700 .../attr")
    [f] = findings(py007_broken_venv, scan(image(Layer(USERS), app, closed, Cmd=cmd, user="app")))
    assert (f.severity.name, f.path) == ("ERROR", f"/{SITE}/attr")
    assert f.message.startswith(
        f"app (uid 1000), the container's user, cannot read /{SITE}/attr (700 0:0)"
    )
    assert f.evidence["modules"] == ["attr"]
    assert findings(py007_broken_venv, scan(image(Layer(USERS), app, closed, Cmd=cmd))) == []
    # exec passes over the venv's python3 to /usr/bin/python3, the base interpreter
    venv_closed = Layer(
        [Dir(VENV, mode=0o700), Symlink("usr/bin/python3", PY)], "RUN chmod 700 /opt/acme/venv"
    )
    found = findings(
        py007_broken_venv,
        scan(
            image(
                Layer(USERS),
                app,
                venv_closed,
                Cmd=["python3"],
                user="app",
                Env=[f"PATH=/{VENV}/bin:/usr/bin:/bin"],
            )
        ),
    )
    assert [(f.path, sorted(f.evidence["modules"])) for f in found] == [
        (f"/{VENV}", ["attr", "attrs", "six"])
    ]


def test_gunicorn_app_module_not_in_the_working_directory(scan: Scan) -> None:
    """`rm -rf /app` in a mutated django image (`CMD ["gunicorn", "--bind",
    "0.0.0.0:8000", "mysite.wsgi:application"]`, WORKDIR /app): the engine recreates the
    empty working directory, gunicorn's worker fails (No module named 'mysite'), the
    container exits 3. imgaudit said nothing: only `python -m` was read."""
    script = f"#!{PY}\nfrom gunicorn.app.wsgiapp import run\nrun()\n".encode()
    server = Layer([File("usr/local/bin/gunicorn", script, mode=0o755)])
    cmd = ["gunicorn", "--bind", "0.0.0.0:8000", "mysite.wsgi:application"]
    [f] = findings(py007_broken_venv, scan(image(Layer(USERS), server, Cmd=cmd, WorkingDir="/app")))
    assert (f.severity.name, f.path) == ("ERROR", None)  # the config's command, not a file
    assert f.message.startswith("the container runs `gunicorn mysite.wsgi:...`, and no module")
    app = Layer([File("app/mysite/__init__.py"), File("app/mysite/wsgi.py")])
    ok = scan(image(Layer(USERS), server, app, Cmd=cmd, WorkingDir="/app"))
    assert findings(py007_broken_venv, ok) == []
    # not read: a bind address last, --chdir, a config file
    for argv in (
        ["gunicorn", "-b", "localhost:8000"],
        ["gunicorn", "--chdir", "/srv", "mysite.wsgi:application"],
        ["gunicorn", "-c", "conf.py", "mysite.wsgi:application"],
    ):
        found = scan(image(Layer(USERS), server, Cmd=argv, WorkingDir="/app"))
        assert findings(py007_broken_venv, found) == []
    # no WORKDIR: the app is found some other way (not judged)
    assert findings(py007_broken_venv, scan(image(Layer(USERS), server, Cmd=cmd))) == []
    # a gunicorn.conf.py in the working directory, read without -c, may set chdir or
    # pythonpath (WORKDIR /srv holding it, the app in /app): not judged
    conf = Layer([File("srv/gunicorn.conf.py", b'chdir = "/app"\n')])
    found = scan(image(Layer(USERS), server, conf, Cmd=cmd, WorkingDir="/srv"))
    assert findings(py007_broken_venv, found) == []
