"""SEC001, SEC002, SEC006-SEC009 against factory images with real Debian files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from auditor.checks import (
    sec001_runs_as_root,
    sec002_user_unknown,
    sec006_setuid,
    sec007_world_writable,
    sec008_secrets,
    sec009_sudo,
)
from tests.checks.support import (
    debian_base,
    image,
    real_file,
    run,
    status,
    stock_setuid,
    summary,
)
from tests.factory import Dir, File, Layer, Whiteout

APP_USER = b"app:x:10001:10001::/home/app:/usr/sbin/nologin\n"
APP_GROUP = b"app:x:10001:\n"


def with_app_user(home: bool = True) -> Layer:
    items = [
        File("etc/passwd", real_file("passwd") + APP_USER),
        File("etc/group", real_file("group") + APP_GROUP),
    ]
    if home:
        items.append(Dir("home/app", 0o755, 10001, 10001))
    return Layer(items, "RUN useradd --uid 10001 app")


# ---- SEC001 ------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["app", "10001", "10001:10001", "app:app"])
def test_sec001_non_root_passes(tmp_path: Path, user: str) -> None:
    spec = image(debian_base(setuid=False), with_app_user(), user=user)
    assert run(sec001_runs_as_root, spec, tmp_path) == []


@pytest.mark.parametrize("user", ["", "root", "0", "0:0", "toor"])
def test_sec001_root_fails(tmp_path: Path, user: str) -> None:
    toor = Layer([File("etc/passwd", real_file("passwd") + b"toor:x:0:0::/root:/bin/sh\n")])
    spec = image(debian_base(setuid=False), toor, user=user)
    found = run(sec001_runs_as_root, spec, tmp_path)
    assert summary(found) == [("SEC001", "error", None)]
    assert found[0].evidence == {"user": user, "uid": 0}


def _entrypoint(line: str, name: str = "docker-entrypoint.sh") -> Layer:
    script = f'#!/bin/bash\nset -e\nif [ "$(id -u)" = \'0\' ]; then\n  {line}\nfi\nexec "$@"\n'
    return Layer([File(f"usr/local/bin/{name}", script.encode(), 0o755)])


@pytest.mark.parametrize(
    ("line", "tool"),
    [
        ('exec gosu app "$0" "$@"', "gosu"),
        ('exec su-exec app:app "$0" "$@"', "su-exec"),
        ('exec setpriv --reuid app --regid app --init-groups "$@"', "setpriv"),
        ('exec su -s /bin/sh -c \'exec "$0" "$@"\' app -- "$@"', "su"),
        ('exec runuser -u app -- "$@"', "runuser"),
        ('exec chroot --userspec=10001:10001 / "$@"', "chroot"),
        ("su postgres -c 'initdb'; exec gosu app \"$@\"", "gosu"),  # the exec'd one
    ],
)
def test_sec001_root_that_switches_users_in_its_entrypoint_warns(
    tmp_path: Path, line: str, tool: str
) -> None:
    """postgres/redis style: no User, the entrypoint script ends `exec gosu app "$0"
    "$@"`. The running image's app runs as app (uid 999 in ps), `docker run IMAGE id`
    and `docker exec` as root: "the container runs as root" (error) overstated it."""
    spec = image(
        debian_base(setuid=False), with_app_user(), _entrypoint(line),
        Entrypoint=["docker-entrypoint.sh"], Cmd=["gunicorn", "app:app"],
    )  # fmt: skip
    [f] = run(sec001_runs_as_root, spec, tmp_path)
    assert (str(f.severity), f.path) == ("warning", "/usr/local/bin/docker-entrypoint.sh")
    assert f"(uid 10001) with {tool}" in f.message
    assert f.evidence["switch"]["user"]["uid"] == 10001
    assert ("root parent process" in f.message) == (tool in ("su", "runuser"))


@pytest.mark.parametrize(
    "config",
    [
        {"Entrypoint": ["gosu", "app"], "Cmd": ["gunicorn"]},
        {"Entrypoint": ["/usr/bin/tini", "--", "gosu", "app"], "Cmd": ["gunicorn"]},
        {"Entrypoint": ["/bin/sh", "-c", "chown app /data && exec gosu app gunicorn"]},
    ],
)
def test_sec001_root_that_switches_users_in_its_command_warns(
    tmp_path: Path, config: dict[str, list[str]]
) -> None:
    spec = image(debian_base(setuid=False), with_app_user(), **config)
    [f] = run(sec001_runs_as_root, spec, tmp_path)
    assert (
        str(f.severity) == "warning"
        and "its Entrypoint/Cmd switches to app (uid 10001)" in f.message
    )
    assert f.path is None


@pytest.mark.parametrize(
    "line",
    [
        'exec gosu root "$@"',  # to root: still root
        'exec gosu "$RUN_AS" "$@"',  # a variable the config does not set
        # two users exec'd: which one runs the app?
        '[ "$1" = worker ] && exec gosu nobody "$@"; exec gosu app "$@"',
        'echo "run with gosu app"',  # no command
        'exec gosu ghost "$@"',  # a user the image lacks: gosu fails (SEC002)
    ],
)
def test_sec001_switches_the_files_cannot_confirm_stay_errors(tmp_path: Path, line: str) -> None:
    spec = image(
        debian_base(setuid=False), with_app_user(), _entrypoint(line, "entrypoint.sh"),
        Entrypoint=["/usr/local/bin/entrypoint.sh"], Cmd=["gunicorn"],
    )  # fmt: skip
    assert summary(run(sec001_runs_as_root, spec, tmp_path)) == [("SEC001", "error", None)]


def test_sec002_a_switch_line_cut_by_the_kept_head_is_not_read(tmp_path: Path) -> None:
    """Of a start script in a bin directory the layers keep 512 bytes: `exec gosu app`
    cut after `exec gosu ap` must not read as a switch to a user 'ap' that is missing."""
    text = b"#!/bin/sh\n" + b"#" * 489 + b'\nexec gosu app "$@"\n'
    assert text[:512].endswith(b"gosu ap")
    ep = Layer([File("usr/local/bin/start", text, 0o755)])
    base = debian_base(setuid=False)
    spec = image(base, with_app_user(), ep, Entrypoint=["start"])
    assert status(sec002_user_unknown, spec, tmp_path)[0].value == "skipped"  # no switch read
    assert summary(run(sec001_runs_as_root, spec, tmp_path)) == [("SEC001", "error", None)]


def test_sec001_a_python_entrypoint_is_not_read_as_shell(tmp_path: Path) -> None:
    script = b"#!/usr/bin/python3\nimport os\nos.execvp('gosu', ['gosu', 'app', 'x'])\n"
    ep = Layer([File("usr/local/bin/docker-entrypoint.sh", script, 0o755)])
    spec = image(
        debian_base(setuid=False), with_app_user(), ep, Entrypoint=["docker-entrypoint.sh"]
    )
    assert summary(run(sec001_runs_as_root, spec, tmp_path)) == [("SEC001", "error", None)]


# ---- SEC002 ------------------------------------------------------------------------


def test_sec002_existing_user_passes(tmp_path: Path) -> None:
    spec = image(debian_base(setuid=False), with_app_user(), user="app:app")
    assert run(sec002_user_unknown, spec, tmp_path) == []


def test_sec002_unknown_user_group_and_missing_home(tmp_path: Path) -> None:
    base = debian_base(setuid=False)
    assert summary(run(sec002_user_unknown, image(base, user="app"), tmp_path)) == [
        ("SEC002", "error", "/etc/passwd")
    ]
    assert summary(run(sec002_user_unknown, image(base, user="10001"), tmp_path)) == [
        ("SEC002", "warning", "/etc/passwd")
    ]
    spec = image(base, with_app_user(), user="app:nogroup2")
    assert summary(run(sec002_user_unknown, spec, tmp_path)) == [("SEC002", "error", "/etc/group")]
    spec = image(base, with_app_user(home=False), user="app")
    found = run(sec002_user_unknown, spec, tmp_path)
    assert summary(found) == [("SEC002", "warning", None)]
    assert "/home/app" in found[0].message


@pytest.mark.parametrize("in_script", [False, True])
def test_sec002_entrypoint_switches_to_a_missing_user(tmp_path: Path, in_script: bool) -> None:
    """`gosu ghost` where the image has no ghost: gosu exits "unable to find user"."""
    base = debian_base(setuid=False)
    if in_script:
        spec = image(base, _entrypoint('exec gosu ghost "$@"'), Entrypoint=["docker-entrypoint.sh"])
    else:
        spec = image(base, Entrypoint=["gosu", "ghost"], Cmd=["gunicorn"])
    found = run(sec002_user_unknown, spec, tmp_path)
    assert summary(found) == [("SEC002", "warning" if in_script else "error", "/etc/passwd")]
    assert "'ghost'" in found[0].message and "gosu fails" in found[0].message
    ok = image(base, with_app_user(), Entrypoint=["gosu", "app"], Cmd=["gunicorn"])
    assert run(sec002_user_unknown, ok, tmp_path) == []


@pytest.mark.parametrize(("tool", "warns"), [("gosu", True), ("setpriv --reuid", False)])
def test_sec002_entrypoint_switches_to_a_user_without_home(
    tmp_path: Path, tool: str, warns: bool
) -> None:
    """`useradd --system app` (home /home/app, not created) and `exec gosu app "$@"`:
    gosu sets HOME=/home/app, and the running gunicorn logged "Permission denied:
    '/home/app'"; imgaudit judged homes only for the config's User. setpriv keeps
    root's HOME: nothing to say about app's."""
    base = debian_base(setuid=False)
    ep = _entrypoint(f'exec {tool} app "$@"')
    spec = image(base, with_app_user(home=False), ep, Entrypoint=["docker-entrypoint.sh"])
    found = run(sec002_user_unknown, spec, tmp_path)
    if warns:
        assert summary(found) == [("SEC002", "warning", None)]
        assert found[0].message.startswith("the home directory /home/app of user 'app' does")
        assert "which sets HOME to it" in found[0].message
    else:
        assert found == []


# ---- SEC006 ------------------------------------------------------------------------


def test_sec006_stock_debian_setuid_not_flagged(tmp_path: Path) -> None:
    """The 11 setuid/setgid files of a real bookworm root belong to required packages."""
    spec = image(debian_base())
    assert run(sec006_setuid, spec, tmp_path) == []


def test_sec006_strict_flags_the_stock_ones(tmp_path: Path) -> None:
    found = run(sec006_setuid, image(debian_base()), tmp_path, strict=True)
    assert summary(found) == [("SEC006", "warning", "/" + p) for p, *_ in stock_setuid()]
    su = next(f for f in found if f.path == "/usr/bin/su")
    assert su.evidence["package"] == "util-linux" and su.evidence["standard"] is True


def test_sec006_flags_added_setuid_and_sudo(tmp_path: Path) -> None:
    extra = Layer(
        [
            File("usr/local/bin/tool", b"#!/bin/sh\n", 0o4755),
            File("usr/bin/sudo", Path("/usr/bin/python3").read_bytes()[:64], 0o4755),
        ],
        "RUN chmod u+s /usr/local/bin/tool",
    )
    found = run(sec006_setuid, image(debian_base(), extra), tmp_path)
    assert summary(found) == [
        ("SEC006", "warning", "/usr/bin/sudo"),
        ("SEC006", "warning", "/usr/local/bin/tool"),
    ]
    assert found[1].layer == 1 and found[1].created_by == "RUN chmod u+s /usr/local/bin/tool"
    allowed = run(sec006_setuid, image(debian_base(), extra), tmp_path, {"allow": ["/usr/local/*"]})
    assert summary(allowed) == [("SEC006", "warning", "/usr/bin/sudo")]


# ---- SEC007 ------------------------------------------------------------------------


def test_sec007_sticky_tmp_passes(tmp_path: Path) -> None:
    spec = image(debian_base(setuid=False), Layer([Dir("run/lock", 0o1777)]))
    assert run(sec007_world_writable, spec, tmp_path) == []


def test_sec007_chmod_777_is_one_finding(tmp_path: Path) -> None:
    app = Layer(
        [
            Dir("app", 0o777),
            File("app/main.py", b"print('hi')\n", 0o666),
            File("app/util.py", b"x = 1\n", 0o666),
            File("etc/app.conf", b"debug=0\n", 0o646),
        ],
        "RUN chmod -R 777 /app",
    )
    found = run(sec007_world_writable, image(debian_base(setuid=False), app), tmp_path)
    assert summary(found) == [
        ("SEC007", "warning", "/app"),
        ("SEC007", "warning", "/etc/app.conf"),
    ]
    assert found[0].paths == ("/app/main.py", "/app/util.py")


def test_sec007_uv_lock_files_and_scratch_files_pass(tmp_path: Path) -> None:
    """uv (`uv venv` + `uv pip install`, cache kept, and `uv pip install --system`)
    leaves empty lock files at mode 0666 on purpose, so that any user may lock: in the
    venv, in its cache, and /tmp/uv-<hash>.lock; SEC007 reported each (ten warnings in
    one image). Writing one changes nothing a program reads; a world-writable file with
    content, or a lock-named directory, still counts."""
    uv = Layer(
        [
            Dir("opt/venv"),
            File("opt/venv/.lock", b"", 0o666),
            Dir("root/.cache/uv/wheels-v8/index/37afcb7f/idna", 0o755),
            File("root/.cache/uv/.lock", b"", 0o666),
            File("root/.cache/uv/wheels-v8/index/37afcb7f/idna/3.20-py3-none-any.lock", b"", 0o666),
            Dir("tmp", 0o1777),
            File("tmp/uv-6c2078bb75587c01.lock", b"", 0o666),
            File("tmp/notes.txt", b"scratch\n", 0o666),
            File("opt/venv/state.lock", b"pid=1\n", 0o666),
            Dir("opt/venv/run.lock", 0o777),
        ],
        "RUN uv venv /opt/venv && uv pip install --python /opt/venv/bin/python requests",
    )
    found = run(sec007_world_writable, image(debian_base(setuid=False), uv), tmp_path)
    assert summary(found) == [
        ("SEC007", "warning", "/opt/venv/run.lock"),
        ("SEC007", "warning", "/opt/venv/state.lock"),
    ]


# ---- SEC008 ------------------------------------------------------------------------

PEM = (
    b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
    b"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    b"-----END OPENSSH PRIVATE KEY-----\n"
)
SECRETS = {
    "root/.ssh/id_ed25519": (PEM, ["PEM private key"]),
    "root/.netrc": (
        b"machine pypi.example.org login ci password s3cr3tpass\n",
        [".netrc password"],
    ),
    "home/app/.pypirc": (
        b"[distutils]\nindex-servers = pypi\n[pypi]\n"
        b"username = __token__\npassword = pypi-AgEIcHlwaS5vcmc\n",
        [".pypirc password"],
    ),
    "etc/pip.conf": (
        b"[global]\nindex-url = https://ci:hunter22@pypi.example.org/simple\n",
        ["pip index-url with credentials"],
    ),
    "root/.aws/credentials": (
        b"[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        b"aws_secret_access_key = wJalrXUtnFEMI\n",
        ["AWS access key ID", "AWS secret access key"],
    ),
    "app/.env": (b"DEBUG=1\nDATABASE_PASSWORD=correcthorse\n", [".env variable DATABASE_PASSWORD"]),
}


def test_sec008_finds_each_kind(tmp_path: Path) -> None:
    layer = Layer([File(p, data) for p, (data, _) in SECRETS.items()], "COPY secrets /")
    env = ["PATH=/usr/bin", "PYPI_TOKEN=pypi-AgEIcHlwaS5vcmcCJDQ", "DB_PASSWORD_FILE=/run/s/db"]
    spec = image(debian_base(setuid=False), layer, Env=env)
    found = run(sec008_secrets, spec, tmp_path)
    by_path = {f.path: f.evidence for f in found}
    assert by_path == {
        **{"/" + p: {"kinds": sorted(k)} for p, (_, k) in SECRETS.items()},
        None: {"variable": "PYPI_TOKEN"},
    }
    assert all(f.severity.name == "ERROR" for f in found)
    assert not any("s3cr3t" in f.message or "AgEIcHlwaS5vcmcCJDQ" in f.message for f in found)


def test_sec008_secret_deleted_by_a_later_layer_is_still_in_the_image(tmp_path: Path) -> None:
    """`COPY id_rsa /root/.ssh/` then `RUN rm /root/.ssh/id_rsa` (a mutated realistic
    image): the running container has no key, imgaudit said nothing, and the key's bytes
    are in the first layer's tar for anyone with the image. Replaced files too; a
    package's files under site-packages that a later uninstall removed are not said."""
    sp = "usr/local/lib/python3.11/site-packages"
    written = Layer(
        [
            File("root/.ssh/id_rsa", PEM),
            File("app/.env", b"DATABASE_PASSWORD=correcthorse\n"),
            File(f"{sp}/somepkg/certs/server.key", PEM),
        ],
        "COPY . /",
    )
    removed = Layer(
        [
            Whiteout("root/.ssh/id_rsa"),
            File("app/.env", b"DEBUG=1\n"),
            Whiteout(f"{sp}/somepkg"),
        ],
        "RUN rm /root/.ssh/id_rsa && pip uninstall -y somepkg",
    )
    found = run(sec008_secrets, image(debian_base(setuid=False), written, removed), tmp_path)
    assert sorted((f.path, f.layer, f.severity.name, f.evidence["gone"]) for f in found) == [
        ("/app/.env", 1, "ERROR", "replaced"),
        ("/root/.ssh/id_rsa", 1, "ERROR", "deleted"),
    ]
    assert all("its bytes are still in the image" in f.message for f in found)


def test_sec008_harmless_lookalikes_pass(tmp_path: Path) -> None:
    layer = Layer(
        [
            File("etc/pip.conf", b"[global]\nindex-url = https://pypi.example.org/simple\n"),
            File("root/.netrc", b"machine example.org login anonymous\n"),
            File("app/.env", b"DEBUG=1\nSECRET_KEY=\nAPI_TOKEN=${API_TOKEN}\n"),
            File(
                "etc/ssl/certs/ca.pem",
                b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            ),
        ]
    )
    env = ["GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D", "PASSWORD_FILE=/run/secrets/pw"]
    assert run(sec008_secrets, image(debian_base(setuid=False), layer, Env=env), tmp_path) == []


def test_sec008_secrets_the_build_history_shows(tmp_path: Path) -> None:
    """Build arguments a RUN step was given (`|N K=V` words, as Docker 28's classic
    builder and BuildKit write them), and a URL with a password in a step's command:
    `docker history --no-trunc` prints them to anyone who pulls the image."""
    token, url = "pypi-AgEIcHlwaS5vcmcCJDQ", "https://__token__:pypi-AgEIsecret@pypi.example"
    steps = [
        Layer([File("app/a", b"a")], f"|1 PYPI_TOKEN={token} /bin/sh -c pip install -r r.txt"),
        Layer([File("app/b", b"b")], f"RUN |2 PIP_INDEX_URL={url}/simple X=1 /bin/sh -c "
              "pip install app # buildkit"),
        Layer([File("app/c", b"c")], "RUN /bin/sh -c pip install --index-url "
              "https://ci:hunter22@repo.example/simple app # buildkit"),
    ]  # fmt: skip
    found = run(sec008_secrets, image(debian_base(setuid=False), *steps), tmp_path)
    assert sorted(
        (f.evidence["history"], f.evidence["as"], f.evidence["entries"]) for f in found
    ) == [
        ("PIP_INDEX_URL (a URL with a password)", "a build argument of a RUN step", [2]),
        ("PYPI_TOKEN (py…)", "a build argument of a RUN step", [1]),
        ("a URL with a password in a RUN command", "the command", [3]),
    ]
    assert all(f.severity.name == "ERROR" for f in found)
    assert not any(token in f.message or "hunter22" in f.message for f in found)


def test_sec008_history_without_secrets_and_env_said_once() -> None:
    """Build arguments that are no secret, secrets left to the shell (`${PASS}`), empty
    and placeholder values, `*_FILE` indirections: nothing. An ENV secret the config
    still holds is the config finding's; one a later ENV replaced is the history's."""
    history = [
        {"created_by": c}
        for c in [
            "/bin/sh -c #(nop)  ARG PYVER=3.11",
            "|2 PYVER=3.11 GITHUB_TOKEN= /bin/sh -c echo build-$PYVER",
            "RUN /bin/sh -c pip install --index-url https://ci:${PASS}@repo.example/s app",
            "ARG PASSWORD",
            "ENV DB_PASSWORD=changeme PASSWORD_FILE=/run/secrets/pw",
            "ENV SECRET_KEY=s3cr3tvalue",
            "/bin/sh -c #(nop)  ENV API_KEY=k3y-first-value",
            "ENV API_KEY=${API_KEY}",
        ]
    ]
    env = {"SECRET_KEY": "s3cr3tvalue", "API_KEY": "${API_KEY}"}
    assert sec008_secrets.history_secrets(history, env) == [("API_KEY (k3…)", "an ENV step", [6])]
    assert sec008_secrets.history_secrets(None, {}) == []
    assert sec008_secrets.env_secrets({"PIP_INDEX_URL": "https://u:pw@idx.example/simple"}) == [
        "PIP_INDEX_URL"
    ]


def test_sec008_test_keys_that_published_packages_ship_are_not_the_images(
    tmp_path: Path,
) -> None:
    """tornado, gevent and twisted wheels ship private keys for their own tests, and so
    do CPython's test suite and many npm packages: the same bytes in every installation,
    not a secret of this image. A key in the app's own test directory is still an
    error; one a package ships outside its tests is info (moto's proxy CA key: the same
    in every installation, a leak only if the package is the team's own)."""
    sp = "usr/local/lib/python3.11/site-packages"
    record = (
        b"tornado/__init__.py,,\ntornado/test/test.key,,\n"
        b"tornado-6.4.dist-info/METADATA,,\ntornado-6.4.dist-info/RECORD,,\n"
    )
    app_record = b"myapp/certs/server.key,,\nmyapp-1.0.dist-info/RECORD,,\n"
    layer = Layer(
        [
            File("usr/local/lib/python3.11/os.py", b"# the standard library\n"),
            File("usr/local/lib/python3.11/test/keycert.pem", PEM),
            File(f"{sp}/tornado/__init__.py", b""),
            File(f"{sp}/tornado/test/test.key", PEM),
            File(f"{sp}/tornado-6.4.dist-info/METADATA", b"Name: tornado\nVersion: 6.4\n"),
            File(f"{sp}/tornado-6.4.dist-info/RECORD", record),
            File(f"{sp}/myapp/certs/server.key", PEM),
            File(f"{sp}/myapp-1.0.dist-info/METADATA", b"Name: myapp\nVersion: 1.0\n"),
            File(f"{sp}/myapp-1.0.dist-info/RECORD", app_record),
            File("srv/web/node_modules/https-proxy/test/fixtures/key.pem", PEM),
            File("app/tests/server.key", PEM),
        ],
        "RUN pip install tornado ./myapp && npm ci",
    )
    found = run(sec008_secrets, image(debian_base(setuid=False), layer), tmp_path)
    assert [(f.path, str(f.severity)) for f in found] == [
        ("/app/tests/server.key", "error"),
        (f"/{sp}/myapp/certs/server.key", "info"),  # shipped by a package: yours or not?
    ]
    assert found[1].evidence["shipped_by"] == "myapp"


def _debian_python_files() -> list[File]:
    """Every regular file of this Debian host's python3, python3.11 and python3-pip packages."""
    packages = ["python3-pip", "python3.11", "python3.11-minimal", "libpython3.11-stdlib",
                "python3-minimal", "python3", "python3-setuptools", "python3-wheel",
                "python3-pkg-resources"]  # fmt: skip
    listing = subprocess.run(
        ["dpkg", "-L", *packages], capture_output=True, text=True, check=False
    ).stdout
    files = []
    for path in sorted(set(listing.splitlines())):
        if path.startswith("/") and os.path.isfile(path) and not os.path.islink(path):
            st = os.stat(path)
            files.append(File(path.lstrip("/"), Path(path).read_bytes(), st.st_mode & 0o7777))
    return files


@pytest.mark.skipif(
    subprocess.run(["dpkg", "-s", "python3-pip"], capture_output=True).returncode != 0,
    reason="needs Debian's python3-pip on the test host (apt-get install python3-pip)",
)
def test_sec008_zero_findings_on_stock_debian_python_pip(tmp_path: Path) -> None:
    files = _debian_python_files()
    assert any(f.path == "usr/lib/python3/dist-packages/pip/__init__.py" for f in files)
    spec = image(debian_base(), Layer(files, "RUN apt-get install -y python3 python3-pip"))
    assert run(sec008_secrets, spec, tmp_path) == []


# ---- SEC009 ------------------------------------------------------------------------


def test_sec009_no_sudo_passes(tmp_path: Path) -> None:
    assert run(sec009_sudo, image(debian_base()), tmp_path) == []


def test_sec009_sudo_and_nopasswd(tmp_path: Path) -> None:
    layer = Layer(
        [
            File("usr/bin/sudo", b"\x7fELF", 0o4755),
            File(
                "etc/sudoers",
                b"Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n",
                0o440,
            ),
            File("etc/sudoers.d/app", b"app ALL=(ALL) NOPASSWD: ALL\n", 0o440),
        ],
        "RUN apt-get install -y sudo",
    )
    found = run(sec009_sudo, image(debian_base(), layer), tmp_path)
    assert summary(found) == [
        ("SEC009", "error", "/etc/sudoers.d/app"),
        ("SEC009", "warning", "/usr/bin/sudo"),
    ]


@pytest.mark.parametrize(
    ("path", "data", "kinds"),
    [
        ("root/.git-credentials", b"https://ci:ghp_abcdef@github.com\n", ["git credentials"]),
        ("home/app/.npmrc", b"//registry.npmjs.org/:_authToken=npm_abc\n", ["npm auth token"]),
        (
            "root/.docker/config.json",
            b'{"auths": {"r.example.org": {"auth": "Y2k6cHc="}}}',
            ["registry auth"],
        ),
        (
            "root/.config/gcloud/application_default_credentials.json",
            b'{"refresh_token": "1//0abc"}',
            ["gcloud credentials"],
        ),
        (
            "app/requirements-dev.txt",
            b"--index-url https://ci:pw1234@pypi.example.org/simple\nflask\n",
            ["index URL with credentials in requirements"],
        ),
        (
            "etc/pip.ini",
            b"[global]\nextra-index-url = https://u:p4ss@pypi.example.org/simple\n",
            ["pip extra-index-url with credentials"],
        ),
        ("app/prod.env", b"export API_KEY=abc123\n", [".env variable API_KEY"]),
        ("app/settings.py", b'KEY = "AKIAIOSFODNN7EXAMPLE"\n', ["AWS access key ID"]),
        ("app/keys/server", PEM, ["PEM private key"]),
        ("app/settings.py", b"DEBUG = True\n", []),
        ("app/.netrc.bak", b"machine x login y password z\n", []),
    ],
)
def test_sec008_file_secrets_by_name_and_content(path: str, data: bytes, kinds: list[str]) -> None:
    """Each test of `file_secrets` still fires after its cheap pre-test (names, literal
    markers), and a file none of them applies to is decided without one."""
    assert sec008_secrets.file_secrets(path, data) == kinds
