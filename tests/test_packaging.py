"""What `pip install imgaudit` installs: one top-level package, `auditor`, with the
checks inside it as `auditor.checks`, and every module and data file of the repository.

pyproject.toml lists the packages by hand (a package-dir mapping cannot be combined
with automatic discovery), so a new subpackage missing from the list would install
without its code: building the wheel is the only honest test of that.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built from a copy of the sources (the build writes build/ and *.egg-info
    next to them), with the setuptools of this environment (no network)."""
    pytest.importorskip("wheel")  # setuptools < 70 builds wheels through it
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("auditor", "checks"):
        shutil.copytree(REPO / package, src / package, ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    proc = subprocess.run(
        [*command, "-w", str(out), str(src)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob("imgaudit-*.whl")
    return zipfile.ZipFile(built)


def test_one_top_level_package(wheel: zipfile.ZipFile) -> None:
    (top_level,) = [n for n in wheel.namelist() if n.endswith(".dist-info/top_level.txt")]
    assert wheel.read(top_level).decode().split() == ["auditor"]
    tops = {n.split("/")[0] for n in wheel.namelist() if not n.startswith("imgaudit-")}
    assert tops == {"auditor"}


def test_every_module_and_data_file_is_installed(wheel: zipfile.ZipFile) -> None:
    expected = set()
    for package, installed_as in (("auditor", "auditor"), ("checks", "auditor/checks")):
        for path in (REPO / package).rglob("*"):
            if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
                expected.add(f"{installed_as}/{path.relative_to(REPO / package).as_posix()}")
    assert expected - set(wheel.namelist()) == set()
    assert "auditor/checks/sec001_runs_as_root.py" in expected
