"""Python packaging metadata as real images hold it, odd bytes included: METADATA with
CRLF, a BOM or Latin-1, merge markers, RECORD with broken rows, pyvenv.cfg without
`home`. Never an exception; Name and Version exactly as importlib.metadata reads them
(its email parser: a first line that is no header ends the headers), never taken from
the directory name. The engine-built twin of these cases, judged by the image's own
interpreter, is tests/integration/test_python_inventory.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from auditor.facts import distributions, venvs
from tests import factory
from tests.factory import File, Layer, Symlink
from tests.images import load

SITE = "usr/lib/python3/dist-packages"


def _dist(tmp_path: Path, files: dict[str, bytes]) -> distributions.Distribution:
    items = [File(f"{SITE}/{p}", d) for p, d in files.items()]
    fs = load(factory.ImageSpec(layers=[Layer(items)]), tmp_path).fs
    inventory = distributions.find(fs)
    (dist,) = (*inventory.distributions, *inventory.unnamed)
    return dist


@pytest.mark.parametrize(
    ("metadata", "name", "version"),
    [
        (
            b"Metadata-Version: 2.1\r\nName: Foo.Bar\r\nVersion: 1.0\r\n\r\nBody: x\r\n",
            "Foo.Bar",
            "1.0",
        ),
        # a byte-order mark makes the first line no header: the email parser (and so
        # importlib) sees no headers at all
        (b"\xef\xbb\xbfMetadata-Version: 2.1\nName: bom_pkg\nVersion: 2.0\n", None, None),
        # Latin-1, as old setuptools wrote it: decoded as Latin-1, not as U+FFFD
        (
            b"Metadata-Version: 1.1\nName: caf\xe9\nAuthor: Jos\xe9\nVersion: 3.0\n",
            "caf\xe9",
            "3.0",
        ),
        # a folded header line before Version
        (b"Metadata-Version: 2.1\nName: fold\nSummary: one\n  two\nVersion: 4.0\n", "fold", "4.0"),
        (b"Metadata-Version: 2.1\rName: cr\rVersion: 5.0\r", "cr", "5.0"),  # old Mac endings
        # nothing usable: no name, no version, whatever the directory says
        (b"\x00\xff\xfe garbage", None, None),
        (b"", None, None),
        (b"<<<<<<< HEAD\nName: merged\nVersion: 1.0\n=======\n", None, None),  # merge markers
        (b"Name: only\n", "only", None),  # no Version: None, not the directory's 9.9
        (b"Name: first\nName: second\nVersion: 1\n", "first", "1"),  # the first one counts
        (b"Name: spaced  \nVersion:  2.0 \n", "spaced  ", "2.0 "),  # as written, as importlib
    ],
)
def test_metadata_encodings_and_line_endings(
    tmp_path: Path, metadata: bytes, name: str | None, version: str | None
) -> None:
    dist = _dist(tmp_path, {"pkg-9.9.dist-info/METADATA": metadata})
    assert (dist.display_name, dist.version) == (name, version)
    assert dist.name == (canonicalize_name(name) if name is not None else None)


def test_record_with_bad_rows(tmp_path: Path) -> None:
    record = (
        b"pkg/__init__.py,sha256=abc,10\r\n"  # CRLF
        b"\r\n"
        b"pkg/a.py\n"  # one column
        b"pkg/b.py,,\xc2\xb2\n"  # a superscript two: isdigit() but not int()
        b"pkg/c.py,,-5\n"
        b"pkg/d.py,,abc\n"
        b'pkg/"e.py,,7\n'  # a stray quote
        b"pkg/f.py,," + b"9" * 200_000 + b"\n"  # a field over csv's limit
        b"../../../../../../../../etc/passwd,,3\n"
        b"/abs/path,,4\n"
        b"pkg/g.py,,20\n"
        b'"unterminated,,5\n'
    )
    files = {
        "pkg-1.0.dist-info/METADATA": b"Name: pkg\nVersion: 1.0\n",
        "pkg-1.0.dist-info/RECORD": record,
        "pkg/__init__.py": b"x" * 10,
        "pkg/a.py": b"a" * 100,
        "pkg/g.py": b"g" * 20,
    }
    dist = _dist(tmp_path, files)
    assert dist.version == "1.0"
    # Size column as written (10 + 7 + 3 + 4 + 20: RECORD names files outside the
    # site dir too, like console scripts in ../../../bin), 100 looked up in the image for
    # the row without one; unreadable sizes (², -5, abc, 200k digits) count nothing.
    assert dist.size == 144
    assert sorted(dist.files) == [f"{SITE}/pkg/__init__.py", f"{SITE}/pkg/a.py", f"{SITE}/pkg/g.py"]
    assert dist.top_level == ("pkg",)


def test_record_rows_inside_and_outside_the_site_directory(tmp_path: Path) -> None:
    """A row's file is there or not whether it lies below the site directory (looked up
    in that directory's paths) or elsewhere (a console script in ../../../bin, a data
    file, a sibling directory whose name starts like the site's): the same answer as
    asking the model path by path."""
    rows = [
        "pkg/__init__.py",
        "pkg/sub/./mod.py",  # normalised first
        "pkg/missing.py",
        "../../../bin/tool",
        "../../../bin/gone",
        "../dist-packages-old/stray.py",  # starts with the site's name, is not below it
        "../../../share/pkg/data.txt",
    ]
    record = "".join(f"{row},,1\n" for row in rows).encode()
    items = [
        File(f"{SITE}/pkg-1.0.dist-info/METADATA", b"Name: pkg\nVersion: 1.0\n"),
        File(f"{SITE}/pkg-1.0.dist-info/RECORD", record),
        File(f"{SITE}/pkg/__init__.py", b""),
        File(f"{SITE}/pkg/sub/mod.py", b""),
        File("usr/bin/tool", b"#!/usr/bin/python3\n", mode=0o755),
        File("usr/lib/python3/dist-packages-old/stray.py", b""),
        File("usr/share/pkg/data.txt", b""),
    ]
    fs = load(factory.ImageSpec(layers=[Layer(items)]), tmp_path).fs
    (dist,) = distributions.find(fs).distributions
    assert sorted(dist.files) == sorted(
        [
            "usr/bin/tool",
            f"{SITE}/pkg/__init__.py",
            f"{SITE}/pkg/sub/mod.py",
            "usr/lib/python3/dist-packages-old/stray.py",
            "usr/share/pkg/data.txt",
        ]
    )
    assert all(path in fs for path in dist.files)


def _venv(tmp_path: Path, cfg: bytes, *extra: factory.Item) -> venvs.Venv:
    items: list[factory.Item] = [
        File("usr/bin/python3.11", b"\x7fELF fake", mode=0o755),
        File("opt/venv/pyvenv.cfg", cfg),
        *extra,
    ]
    fs = load(factory.ImageSpec(layers=[Layer(items)]), tmp_path).fs
    (venv,) = venvs.find(fs)
    return venv


def test_pyvenv_cfg_without_home_judged_by_bin_python(tmp_path: Path) -> None:
    venv = _venv(
        tmp_path,
        b"include-system-site-packages = false\nversion = 3.11.2\n",
        Symlink("opt/venv/bin/python", "/usr/bin/python3.11"),
    )
    assert (venv.home, venv.home_python, venv.version) == (None, "usr/bin/python3.11", "3.11.2")
    assert venv.interpreter_ok


def test_pyvenv_cfg_without_home_nor_link(tmp_path: Path) -> None:
    venv = _venv(tmp_path, b"version = 3.11.2\n")
    assert (venv.home, venv.home_python, venv.python_link) == (None, None, None)
    assert not venv.interpreter_ok


@pytest.mark.parametrize(
    "cfg",
    [
        b"\xef\xbb\xbfhome = /usr/bin\r\nversion = 3.11.2\r\n",  # BOM + CRLF
        b"home=/usr/bin\nversion=3.11.2\ncomment = caf\xe9\n",  # Latin-1 elsewhere
        b"[section]\n; a comment\n# another\nHOME = /usr/bin/\nVersion = 3.11.2\ngarbage line\n",
    ],
)
def test_pyvenv_cfg_odd_bytes(tmp_path: Path, cfg: bytes) -> None:
    venv = _venv(tmp_path, cfg)
    assert venv.home is not None and venv.home.rstrip("/") == "/usr/bin"
    assert (venv.home_python, venv.version) == ("usr/bin/python3.11", "3.11.2")


def test_pyvenv_cfg_empty_home_is_no_home(tmp_path: Path) -> None:
    venv = _venv(
        tmp_path,
        b"home =\nversion = 3.11.2\n",
        Symlink("opt/venv/bin/python", "/usr/bin/python3.11"),
    )
    assert (venv.home, venv.home_python) == (None, "usr/bin/python3.11")


def test_distribution_without_a_name_still_owns_its_files(tmp_path: Path) -> None:
    """importlib lists it with no Name (pip skips it as invalid): it is no package of the
    inventory, but its files stay its own, labelled by its metadata directory."""
    from auditor.facts import Facts

    items = [
        File(f"{SITE}/broken-1.0.dist-info/RECORD", b"broken/__init__.py,,\n"),
        File(f"{SITE}/broken/__init__.py", b""),
    ]
    facts = Facts(load(factory.ImageSpec(layers=[Layer(items)]), tmp_path))
    assert facts.distributions == []
    [unnamed] = facts.inventory.unnamed
    assert (unnamed.name, unnamed.version) == (None, None)
    owner = facts.owners.python_distribution(f"{SITE}/broken/__init__.py")
    assert owner == "broken-1.0.dist-info"
    assert facts.content_json()["unnamed_packages"][0]["metadata"] == (
        f"/{SITE}/broken-1.0.dist-info"
    )
