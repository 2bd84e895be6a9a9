"""sys.path rules of site.py, on small file systems: which site directories upstream
and Debian builds add, the user site, PYTHONPATH, .pth files (hidden ones by version)
and venvs with or without system site-packages. The real interpreters' answers for the
same rules are asserted in tests/integration/test_python_inventory.py."""

from __future__ import annotations

from auditor.facts import distributions, pythons, syspath, venvs
from auditor.facts.dpkg import DpkgDb, load
from auditor.fs import FileSystem
from auditor.layers import DIR, FILE, Entry, LayerIndex

UPSTREAM_SITE = (
    b"    names = [n for n in names if n.endswith('.pth') and not name.startswith('.')]\n"
)


def fs_with(files: dict[str, bytes], dirs: tuple[str, ...] = ()) -> FileSystem:
    index = LayerIndex("sha256:0")
    for path in dirs:
        index.entries.append(Entry(path, DIR, 0o755, 0, 0, 0, 0, ""))
    for path, data in files.items():
        index.entries.append(Entry(path, FILE, 0o644, 0, 0, len(data), 0, ""))
        index.contents[path] = data
    return FileSystem([index])


def meta(name: str) -> bytes:
    return f"Name: {name}\nVersion: 1.0\n".encode()


def envs(
    fs: FileSystem,
    env: dict[str, str] | None = None,
    home: str = "/root",
    dpkg: DpkgDb | None = None,
) -> dict[str, syspath.Environment]:
    interps = pythons.find(fs, dpkg or DpkgDb(), env or {})
    proc = syspath.process_env(env or {}, "/app", home)
    return {e.path: e for e in syspath.environments(fs, interps, venvs.find(fs), proc)}


def test_upstream_layout_user_site_pythonpath_and_pth() -> None:
    site = "usr/local/lib/python3.12/site-packages"
    fs = fs_with(
        {
            "usr/local/bin/python3.12": b"\x7fELF",
            "usr/local/lib/python3.12/os.py": b"",
            "usr/local/lib/python3.12/site.py": UPSTREAM_SITE,
            f"{site}/a.pth": b"# c\n../../../../../opt/extra\nimport sys\n/missing\n",
            f"{site}/.hidden.pth": b"/opt/hidden\n",
            "opt/extra/x-1.dist-info/METADATA": meta("x"),
            "opt/hidden/h-1.dist-info/METADATA": meta("h"),
            "root/.local/lib/python3.12/site-packages/u-1.dist-info/METADATA": meta("u"),
            "app/deps/d-1.dist-info/METADATA": meta("d"),
        },
        dirs=("usr/local/lib/python3.12/lib-dynload", site),
    )
    [env] = envs(fs, {"PYTHONPATH": "deps:/nowhere"}).values()
    assert env.sys_path == (
        "app/deps",  # relative to WorkingDir
        "nowhere",  # kept, as site.py keeps it: importlib finds nothing there
        "usr/local/lib/python3.12",
        "usr/local/lib/python3.12/lib-dynload",
        "root/.local/lib/python3.12/site-packages",
        site,
        "opt/extra",  # .hidden.pth skipped: this site.py skips dot-files
    )
    inventory = distributions.find(fs, [env])
    assert sorted(d.name or "" for d in inventory.distributions if d.environments) == [
        "d",
        "u",
        "x",
    ]
    # no user site under PYTHONNOUSERSITE, or for another user's HOME
    assert (
        "root/.local/lib/python3.12/site-packages"
        not in next(iter(envs(fs, {"PYTHONNOUSERSITE": "1"}).values())).sys_path
    )
    assert (
        "root/.local/lib/python3.12/site-packages"
        not in next(iter(envs(fs, home="/home/app").values())).sys_path
    )


def test_debian_layout_from_dpkg_when_site_py_is_not_there() -> None:
    """Without site.py, a dpkg-owned interpreter gets Debian's dist-packages; a venv of it
    with system site-packages adds them after its own, and a hidden .pth counts (3.11.2
    is older than the fix that skips them)."""
    files = {
        "usr/bin/python3.11": b"\x7fELF",
        "usr/lib/python3.11/os.py": b"",
        "var/lib/dpkg/info/python3.11-minimal.list": b"/usr/bin/python3.11\n",
        "var/lib/dpkg/status": b"Package: python3.11-minimal\nVersion: 3.11.2-6\n"
        b"Status: install ok installed\n",
        "usr/lib/python3/dist-packages/.x.pth": b"/opt/dot\n",
        "opt/dot/dot-1.dist-info/METADATA": meta("dot"),
        "opt/venv/pyvenv.cfg": b"home = /usr/bin\ninclude-system-site-packages = true\n"
        b"version = 3.11.2\n",
        "opt/venv/lib/python3.11/site-packages/v-1.dist-info/METADATA": meta("v"),
        "usr/lib/python3.11/site-packages/s-1.dist-info/METADATA": meta("s"),
    }
    fs = fs_with(files, dirs=("usr/local/lib/python3.11/dist-packages",))
    found = envs(fs, dpkg=load(fs))
    assert found["usr/bin/python3.11"].site == (
        "usr/local/lib/python3.11/dist-packages",
        "usr/lib/python3/dist-packages",
        "opt/dot",
    )
    # in a venv, Debian's site.py adds lib/python3.11/site-packages of each prefix too
    assert found["opt/venv"].site == (
        "opt/venv/lib/python3.11/site-packages",
        "usr/lib/python3.11/site-packages",
        "usr/local/lib/python3.11/dist-packages",
        "usr/lib/python3/dist-packages",
        "opt/dot",
    )


def test_hidden_pth_rule_follows_the_version_without_site_py() -> None:
    def interp(full: str) -> pythons.Interpreter:
        return pythons.Interpreter("usr/local", full.rsplit(".", 1)[0], None, None, (),
                                   "source-build", None, full, ())  # fmt: skip

    skips = lambda full: syspath.site_policy(FileSystem([]), interp(full)).skips_hidden_pth  # noqa: E731
    assert [skips(v) for v in ("3.11.7", "3.11.8", "3.12.1", "3.12.2", "3.13.0", "3.10.14")] == [
        False,
        True,
        False,
        True,
        True,
        True,
    ]


def test_a_packages_vendored_dist_info_is_no_installed_package() -> None:
    """setuptools >= 71 ships ``setuptools/_vendor/<dep>.dist-info`` and lists those files
    in its own RECORD: importlib lists them only after ``import setuptools`` puts the
    directory on sys.path, so they are setuptools' files, not packages. A tree on no path
    that no distribution owns (``pip install --target``) is still reported."""
    site = "usr/local/lib/python3.12/site-packages"
    vendor = f"{site}/setuptools/_vendor"
    record = (
        b"setuptools/__init__.py,,\n"
        b"setuptools/_vendor/wheel-0.43.0.dist-info/METADATA,,\n"
        b"setuptools/_vendor/wheel-0.43.0.dist-info/RECORD,,\n"
        b"setuptools/_vendor/packaging-24.2.dist-info/METADATA,,\n"
        b"setuptools-79.0.1.dist-info/METADATA,,\n"
        b"setuptools-79.0.1.dist-info/RECORD,,\n"
    )
    fs = fs_with(
        {
            "usr/local/bin/python3.12": b"\x7fELF",
            "usr/local/lib/python3.12/os.py": b"",
            "usr/local/lib/python3.12/site.py": UPSTREAM_SITE,
            f"{site}/setuptools/__init__.py": b"",
            f"{site}/setuptools-79.0.1.dist-info/METADATA": meta("setuptools"),
            f"{site}/setuptools-79.0.1.dist-info/RECORD": record,
            f"{vendor}/wheel-0.43.0.dist-info/METADATA": meta("wheel"),
            f"{vendor}/wheel-0.43.0.dist-info/RECORD": b"wheel-0.43.0.dist-info/METADATA,,\n",
            f"{vendor}/packaging-24.2.dist-info/METADATA": meta("packaging"),
            "app/deps/d-1.dist-info/METADATA": meta("d"),
        },
        dirs=("usr/local/lib/python3.12/lib-dynload", site),
    )
    [env] = envs(fs).values()
    inventory = distributions.find(fs, [env])
    assert sorted((d.name, d.environments) for d in inventory.distributions) == [
        ("d", ()),  # on no path, nobody's file: reported apart
        ("setuptools", ("usr/local/bin/python3.12",)),
    ]


def test_site_directories_the_runtime_user_cannot_reach() -> None:
    """A builder's `pip install --user` copied to /root/.local, `ENV
    PYTHONUSERBASE=/root/.local`, `USER app` (uid 1000) and /root 0700: site.py's isdir
    is False for app, the running image's sys.path had no /root/.local and `python -m
    gunicorn` said "No module named gunicorn"; imgaudit put the user site on sys.path
    (and its packages in the inventory of that python). The same for a .pth line
    naming a directory under /root. Root, or /root 0755, reaches it."""
    site = "usr/local/lib/python3.12/site-packages"
    user_site = "root/.local/lib/python3.12/site-packages"
    files = {
        "usr/local/bin/python3.12": b"\x7fELF",
        "usr/local/lib/python3.12/os.py": b"",
        "usr/local/lib/python3.12/site.py": UPSTREAM_SITE,
        f"{site}/extra.pth": b"/root/extra\n",
        "root/extra/x-1.dist-info/METADATA": meta("x"),
        f"{user_site}/gunicorn-1.dist-info/METADATA": meta("gunicorn"),
    }

    def sys_path(root_mode: int, uid: int | None) -> tuple[str, ...]:
        index = LayerIndex("sha256:0")
        index.entries.append(Entry("root", DIR, root_mode, 0, 0, 0, 0, ""))
        for path in ("usr/local/lib/python3.12/lib-dynload", site):
            index.entries.append(Entry(path, DIR, 0o755, 0, 0, 0, 0, ""))
        for path, data in files.items():
            index.entries.append(Entry(path, FILE, 0o644, 0, 0, len(data), 0, ""))
            index.contents[path] = data
        fs = FileSystem([index])
        interps = pythons.find(fs, DpkgDb(), {})
        env = {"PYTHONUSERBASE": "/root/.local"}
        proc = syspath.process_env(env, "/app", "/home/app", uid, frozenset({1000}))
        [found] = syspath.environments(fs, interps, [], proc)
        return found.sys_path[2:]  # past the standard library

    assert sys_path(0o700, 1000) == (site,)
    assert sys_path(0o700, 0) == (user_site, site, "root/extra")
    assert sys_path(0o755, 1000) == (user_site, site, "root/extra")
    assert sys_path(0o700, None) == (user_site, site, "root/extra")  # unknown: say less
