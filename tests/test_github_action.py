"""The GitHub Action: action.yml runs scripts/github-action.sh; the script is run here
with the environment a runner gives a composite step (GITHUB_STEP_SUMMARY,
GITHUB_OUTPUT, RUNNER_TEMP, GITHUB_ACTION_PATH and the INPUT_* variables action.yml
maps its inputs to), against image archives the factory writes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests import factory
from tests.report.test_sarif import _official_schema

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "github-action.sh"
BIN = Path(sys.executable).parent  # the test venv's imgaudit (the action's install: false)

ROOT_IMAGE = factory.ImageSpec(
    layers=[
        factory.Layer(
            [
                factory.File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
                factory.File("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
                factory.File("usr/bin/gcc-12", b"\x7fELF" + b"\0" * 60, mode=0o755),
            ],
            "ADD rootfs /",
        )
    ],
    name="example.org/ci/app:1",
    config={"Cmd": ["/bin/sh"]},
)


def run_action(
    tmp_path: Path, path: str | None = None, **inputs: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    outputs = tmp_path / "outputs"
    (tmp_path / "runner-temp").mkdir(exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith("PIP_")},  # the index here
        "PATH": path or f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "IMGAUDIT_CACHE_DIR": str(tmp_path / "cache"),
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "GITHUB_ACTION_PATH": str(REPO),
        "INPUT_INSTALL": "false",
        **{f"INPUT_{k.upper()}": v for k, v in inputs.items()},
        # the runner's pip keeps its cache, so a second install is quick
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip"),
    }
    proc = subprocess.run(
        ["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    values = dict(
        line.split("=", 1)
        for line in (outputs.read_text().splitlines() if outputs.exists() else [])
    )
    assert summary.read_text().startswith("earlier step\n")  # appended, never replaced
    # its work files cleaned up (the venv stays: the runner empties RUNNER_TEMP per job)
    assert {p.name for p in (tmp_path / "runner-temp").iterdir()} <= {"imgaudit-venv"}
    return proc, values


def archive(tmp_path: Path, spec: factory.ImageSpec = ROOT_IMAGE) -> str:
    return str(factory.write_docker_archive(factory.build(spec), tmp_path / "image.tar"))


def test_failing_image_writes_sarif_summary_and_outputs(tmp_path: Path) -> None:
    proc, out = run_action(tmp_path, image=archive(tmp_path), sarif_file="out/imgaudit.sarif")
    assert proc.returncode == 1, proc.stderr  # runs as root: SEC001 is an error
    sarif = json.loads((tmp_path / "out" / "imgaudit.sarif").read_text())
    jsonschema.validate(sarif, _official_schema())
    rules = {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert "SEC001" in rules
    summary = (tmp_path / "summary.md").read_text()
    assert re.search(r"### imgaudit: grade \*\*[A-F]\*\*", summary)
    assert "SEC001" in summary
    assert out["exit-code"] == "1" and out["sarif-file"] == "out/imgaudit.sarif"
    assert out["grade"] in "BCDEF" and 0 <= float(out["score"]) <= 100
    assert re.search(
        r"^::error .*SEC001", proc.stderr, re.M
    )  # annotations, as imgaudit prints them


def test_gate_inputs(tmp_path: Path) -> None:
    sample = str(REPO / "testdata" / "sample.tar")  # one own warning (SEC004): grade B
    proc, out = run_action(tmp_path, image=sample)
    assert proc.returncode == 0 and out["exit-code"] == "0" and out["grade"] == "B"
    assert (tmp_path / "imgaudit.sarif").is_file()  # the default sarif-file
    proc, out = run_action(tmp_path, image=sample, fail_on="warning")
    assert proc.returncode == 1 and out["exit-code"] == "1"
    proc, out = run_action(tmp_path, image=sample, fail_under="100")
    assert proc.returncode == 1 and out["exit-code"] == "1"


def test_installs_imgaudit_from_the_action_itself(tmp_path: Path) -> None:
    """`uses: ...@v1` with the defaults: pip installs the action's own checkout
    (GITHUB_ACTION_PATH) into a venv under RUNNER_TEMP, with no imgaudit on PATH."""
    path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if p and Path(p).resolve() != BIN.resolve()
    )
    runner_python = subprocess.run(
        ["bash", "-c", "command -v python3"], env={"PATH": path}, capture_output=True, text=True
    ).stdout.strip()
    assert runner_python and Path(runner_python).parent.resolve() != BIN.resolve()
    sample = str(REPO / "testdata" / "sample.tar")
    proc, out = run_action(tmp_path, path=path, image=sample, install="true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "::group::install imgaudit" in proc.stdout
    assert out["grade"] == "B"  # as in test_gate_inputs
    installed = tmp_path / "runner-temp" / "imgaudit-venv" / "bin" / "imgaudit"
    assert installed.is_file()


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"image": "docker-archive:/nonexistent/app.tar"}, "no such file"),
        ({"image": ""}, "the input 'image' is required"),
        ({"image": "x.tar", "fail_on": "sometimes"}, "fail-on must be info, warning or error"),
    ],
)
def test_bad_input_says_why(tmp_path: Path, inputs: dict[str, str], message: str) -> None:
    proc, out = run_action(tmp_path, **inputs)
    assert proc.returncode == 2 and out["exit-code"] == "2"
    assert re.search(rf"^::error title=imgaudit::.*{re.escape(message)}", proc.stdout, re.M)
    assert message in (tmp_path / "summary.md").read_text()
    assert "Traceback" not in proc.stderr


def action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "action.yml").read_text())
    return loaded


def test_action_yml_passes_every_input_to_the_script() -> None:
    spec = action()
    assert spec["runs"]["using"] == "composite"
    (step,) = spec["runs"]["steps"]
    assert step["run"] == 'bash "$GITHUB_ACTION_PATH/scripts/github-action.sh"'
    assert {"image", "fail-on", "fail-under", "dockerfile", "sarif-file"} <= set(spec["inputs"])
    script = SCRIPT.read_text()
    for name in spec["inputs"]:
        variable = "INPUT_" + name.upper().replace("-", "_")
        assert step["env"][variable] == "${{ inputs." + name + " }}"
        assert "${" + variable in script
    for name, output in spec["outputs"].items():
        assert output["value"] == "${{ steps.scan.outputs." + name + " }}"
        assert f"output {name} " in script or f'print(f"{name}=' in script
