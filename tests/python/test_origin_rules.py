"""The origin rule and the dpkg file index, on the formats dpkg really writes."""

from __future__ import annotations

import pytest

from auditor.facts import pythons
from auditor.facts.dpkg import DpkgDb, load, upstream_version
from auditor.fs import FileSystem
from auditor.layerindex import FILE, SYMLINK, Entry, LayerIndex

STATUS = b"""Package: python3.12-minimal
Status: install ok installed
Version: 3.12.7-1+jammy1

Package: python3.10-minimal
Status: deinstall ok config-files
Version: 3.10.12-1~22.04.6
"""


def fs_with(files: dict[str, bytes], links: dict[str, str] | None = None) -> FileSystem:
    index = LayerIndex("sha256:0")
    for path, target in (links or {}).items():
        index.entries.append(Entry(path, SYMLINK, 0o777, 0, 0, 0, 0, target))
    for path, data in files.items():
        index.entries.append(Entry(path, FILE, 0o644, 0, 0, len(data), 0, ""))
        index.contents[path] = data
    return FileSystem([index])


def test_dpkg_lists_with_merged_usr_and_status_versions() -> None:
    fs = fs_with(
        {
            "var/lib/dpkg/info/python3.12-minimal.list": b"/.\n/usr\n/usr/bin/python3.12\n",
            "var/lib/dpkg/info/libfoo:amd64.list": b"/lib/x86_64-linux-gnu/libfoo.so.1\n",
            "var/lib/dpkg/status": STATUS,
            "usr/bin/python3.12": b"",
            "usr/lib/x86_64-linux-gnu/libfoo.so.1": b"",
        },
        links={"lib": "usr/lib"},  # merged /usr, as Debian ships it
    )
    db = load(fs)
    assert db.present
    assert db.package_of(fs, "/usr/bin/python3.12") == "python3.12-minimal"
    assert db.package_of(fs, "usr/lib/x86_64-linux-gnu/libfoo.so.1") == "libfoo"  # merged /usr
    assert db.versions == {"python3.12-minimal": "3.12.7-1+jammy1"}  # removed ones skipped
    assert upstream_version("1:3.12.7-1+jammy1") == "3.12.7"


@pytest.mark.parametrize(
    ("prefix", "version", "package", "default", "env", "has_db", "origin"),
    [
        ("usr", "3.12", "python3.12-minimal", "3.10", {}, True, "deadsnakes"),
        ("usr", "3.10", "python3.10-minimal", "3.10", {}, True, "distro"),
        ("usr", "3.11", None, None, {}, False, "distro"),  # apk/rpm image, no dpkg database
        ("usr", "3.11", None, None, {}, True, "source-build"),  # make install into /usr
        ("usr/local", "3.12", None, None, {"PYTHON_VERSION": "3.12.7"}, True, "official-image"),
        ("usr/local", "3.12", None, None, {}, True, "source-build"),
        ("opt/acme/python", "3.12", None, None, {}, True, "source-build"),
        ("root/.pyenv/versions/3.12.7", "3.12", None, None, {}, True, "pyenv"),
        ("home/app/.local/share/uv/python/cpython-3.12.7-linux-x86_64-gnu", "3.12", None,
         None, {}, True, "standalone"),
    ],
)  # fmt: skip
def test_origin_rule(
    prefix: str,
    version: str,
    package: str | None,
    default: str | None,
    env: dict[str, str],
    has_db: bool,
    origin: str,
) -> None:
    fs = FileSystem([])
    db = DpkgDb(present=has_db)
    assert pythons._origin(fs, db, env, prefix, version, package, default) == origin


def _full(files: dict[str, bytes], env: dict[str, str] | None = None) -> tuple[str | None, ...]:
    fs = fs_with({"usr/local/lib/python3.11/os.py": b"", **files})
    [interp] = pythons.find(fs, DpkgDb(), env or {})
    return interp.full_version, interp.full_version_source


def test_full_version_sources_in_order() -> None:
    """Without a version string in a binary (none here): patchlevel.h, then the official
    image's PYTHON_VERSION, then what a venv made from it recorded; never another X.Y."""
    header = b'#define PY_MINOR_VERSION 11\n#define PY_VERSION              "3.11.4"\n'
    cfg = b"home = /usr/local/bin\nversion_info = 3.11.3.final.0\n"
    assert _full({"usr/local/include/python3.11/patchlevel.h": header}) == (
        "3.11.4",
        "patchlevel.h",
    )
    env = {"PYTHON_VERSION": "3.11.5"}
    assert _full({"opt/venv/pyvenv.cfg": cfg}, env) == ("3.11.5", "env PYTHON_VERSION")
    assert _full({"opt/venv/pyvenv.cfg": cfg}) == ("3.11.3", "pyvenv.cfg")
    other = b"home = /usr/local/bin\nversion = 3.12.1\n"  # made by another X.Y: no answer
    assert _full({"opt/venv/pyvenv.cfg": other}) == (None, None)
    wrong = b'#define PY_VERSION "3.12.0"\n'
    assert _full({"usr/local/include/python3.11/patchlevel.h": wrong}) == (None, None)


def test_distroless_status_d_md5sums_own_files() -> None:
    """distroless keeps no info/*.list: the file lists are status.d/<name>.md5sums."""
    fs = fs_with(
        {
            "var/lib/dpkg/status.d/python3.11-minimal": b"Package: python3.11-minimal\n"
            b"Version: 3.11.2-6+deb12u6\nArchitecture: amd64\n",
            "var/lib/dpkg/status.d/python3.11-minimal.md5sums": (
                b"61b1600a764d9e2947a52ad348b2b0dd  usr/bin/python3.11\n"
                b"not an md5sums line\n"
                b"3dd49551104e3151d1123afed8a7bd26  usr/share/binfmts/python3.11\n"
            ),
            "var/lib/dpkg/status.d/libpython3.11-stdlib.md5sums": (
                b"0123456789abcdef0123456789abcdef  usr/lib/python3.11/test/a b.py\n"
            ),
            "var/lib/dpkg/status.d/python3-six.md5sums": (
                b"0123456789abcdef0123456789abcdef  "
                b"usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO\n"
            ),
            "usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO": b"Name: six\n",
            "usr/bin/python3.11": b"",
            "usr/lib/python3.11/os.py": b"",
            "usr/lib/python3.11/test/a b.py": b"",
        }
    )
    db = load(fs)
    assert (db.present, db.origin) == (True, "/var/lib/dpkg/status.d")
    assert set(db.packages) == {"python3.11-minimal"}  # an md5sums file is no stanza
    assert db.package_of(fs, "usr/bin/python3.11") == "python3.11-minimal"
    assert db.files["usr/lib/python3.11/test/a b.py"] == "libpython3.11-stdlib"
    # md5sums name files only: a metadata directory is the package's through its files
    egg_info = "usr/lib/python3/dist-packages/six-1.16.0.egg-info"
    assert (db.package_of(fs, egg_info), db.package_of_dir(fs, egg_info)) == (None, "python3-six")
    [interp] = pythons.find(fs, db, {})
    assert (interp.origin, interp.package, interp.full_version) == (
        "distro",
        "python3.11-minimal",
        "3.11.2",
    )
