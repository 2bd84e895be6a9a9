"""The realistic set is what it claims to be: each image, run, shows the pattern it
imitates. Without these the yardstick could drift (a recipe that silently stops
exercising vendored libraries, a non-root user or a missing Tk) and the tally would
measure nothing. Every assertion reads the truth the image's own parts gave."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.realistic_images import ALL_IMAGES

Truth = Callable[[str], dict[str, Any]]


def _env(truth: dict[str, Any], python: str) -> dict[str, Any]:
    env: dict[str, Any] = truth["runtime"]["environments"][python]
    return env


def _imports(truth: dict[str, Any], python: str) -> dict[str, dict[str, Any]]:
    imports: dict[str, dict[str, Any]] = _env(truth, python)["imports"]
    return imports


def _dists(truth: dict[str, Any], python: str) -> dict[str, str]:
    return {d["name"].lower(): d["version"] for d in _env(truth, python)["distributions"]}


def test_full_is_a_source_build_beside_debians_python(realistic_truth: Truth) -> None:
    t = realistic_truth("python-full")
    assert t["runtime"]["command"]["python_real"] == "/usr/local/bin/python3.11"
    assert _env(t, "/usr/local/bin/python3.11")["version"] == "3.11.2"
    owned = t["inventory"]["python_owned_by_dpkg"]
    assert owned == {"/usr/local/bin/python3.11": False, "/usr/bin/python3.11": True}
    assert {"gcc", "make", "ld"} <= set(t["runtime"]["compilers"])
    assert "PYTHON_VERSION=3.11.2" in t["config"]["Env"]
    assert all(r["ok"] for m, r in _env(t, "/usr/local/bin/python3.11")["stdlib"].items())


def test_slim_keeps_runtime_libraries_but_not_tk(realistic_truth: Truth) -> None:
    t = realistic_truth("python-slim")
    stdlib = _env(t, "/usr/local/bin/python3.11")["stdlib"]
    assert {m for m, r in stdlib.items() if not r["ok"]} == {"_tkinter"}
    assert "libtk8.6.so" in stdlib["_tkinter"]["error"]
    assert t["runtime"]["compilers"] == {}
    assert _dists(t, "/usr/local/bin/python3.11") == {
        "pip": "22.3.1", "setuptools": "79.0.1", "wheel": "0.45.1"
    }  # fmt: skip


def test_distroless_has_no_shell_no_cache_and_status_d(realistic_truth: Truth) -> None:
    t = realistic_truth("distroless-python")
    inv = t["inventory"]
    assert not any(p.endswith(("/sh", "/bash", "/dash")) for p in inv["elf"])
    assert inv["ld_so_cache"] is False
    assert inv["python_owned_by_dpkg"] == {"/usr/bin/python3.11": True}
    stdlib = _env(t, "/usr/bin/python3.11")["stdlib"]
    # Debian splits _gdbm (python3-gdbm) and ensurepip (python3.11-venv) out of
    # libpython3.11-stdlib, and distroless's debian12 list has neither
    assert {m for m, r in stdlib.items() if not r["ok"]} == {"_gdbm", "_tkinter", "ensurepip"}


def test_distroless_app_runs_as_nonroot_from_a_debian_venv(realistic_truth: Truth) -> None:
    t = realistic_truth("distroless-app")
    assert t["runtime"]["identity"]["uid"] == 65532
    assert t["runtime"]["identity"]["name"] == "nonroot"
    assert t["runtime"]["venvs"]["/venv"]["python_runs"]
    imports = _imports(t, "/venv/bin/python")
    assert imports["psutil"]["ok"] and imports["requests"]["ok"]


@pytest.mark.parametrize(
    ("image", "python", "module"),
    [
        ("official-guide", "/usr/local/bin/python3.11", "cv2"),
        ("django", "/usr/local/bin/python3.11", "psycopg2"),
        ("fastapi", "/usr/local/bin/python3.11", "pydantic_core"),
        ("multistage-venv", "/opt/venv/bin/python", "yaml"),
        ("uv", "/app/.venv/bin/python", "orjson"),
    ],
)
def test_binary_wheels_import(realistic_truth: Truth, image: str, python: str, module: str) -> None:
    assert _imports(realistic_truth(image), python)[module] == {"ok": True, "error": ""}


def test_official_guide_ships_opencvs_vendored_libraries(realistic_truth: Truth) -> None:
    t = realistic_truth("official-guide")
    vendored = [p for p in t["inventory"]["elf"] if "/opencv_python.libs/" in p]
    assert vendored, "opencv-python's wheel vendors its libraries in opencv_python.libs/"


@pytest.mark.parametrize(
    ("image", "uid", "venv_writable", "workdir_writable"),
    [
        ("multistage-venv", 1000, False, False),
        ("uv", 999, True, True),
        ("django", 1000, None, True),
    ],
)
def test_non_root_patterns(
    realistic_truth: Truth, image: str, uid: int, venv_writable: bool | None,
    workdir_writable: bool,
) -> None:  # fmt: skip
    rt = realistic_truth(image)["runtime"]
    assert rt["identity"]["uid"] == uid
    if venv_writable is not None:
        (venv,) = rt["venvs"].values()
        assert bool(venv["writable_paths"]) is venv_writable
    assert rt["writes"][rt["workdir"]]["ok"] is workdir_writable


def test_uv_and_poetry_leave_dev_dependencies_out(realistic_truth: Truth) -> None:
    assert "pytest" not in _dists(realistic_truth("uv"), "/app/.venv/bin/python")
    assert "pytest" not in _dists(realistic_truth("poetry"), "/app/.venv/bin/python")
    assert "requests" in _dists(realistic_truth("poetry"), "/app/.venv/bin/python")


def test_pip_user_packages_live_in_roots_user_site(realistic_truth: Truth) -> None:
    env = _env(realistic_truth("pip-user"), "/usr/local/bin/python3.11")
    paths = {d["name"].lower(): d["path"] for d in env["distributions"]}
    assert paths["flask"].startswith("/root/.local/lib/python3.11/site-packages/")


def test_fastapi_console_script_runs_the_source_built_python(realistic_truth: Truth) -> None:
    command = realistic_truth("fastapi")["runtime"]["command"]
    assert command["argv0"] == "/usr/local/bin/fastapi"
    assert command["python_real"] == "/usr/local/bin/python3.11"


@pytest.mark.parametrize("image", [r.name for r in ALL_IMAGES])
def test_every_installed_distribution_imports(realistic_truth: Truth, image: str) -> None:
    """The images work: every top-level module of every distribution any interpreter or
    venv lists imports (so an EL001 or PK002 error on them can only be false)."""
    failures = {
        (python, module): result["error"]
        for python, env in realistic_truth(image)["runtime"]["environments"].items()
        for module, result in env.get("imports", {}).items()
        if not result["ok"]
    }
    assert failures == {}
