"""The README's Python API example runs as written, from the repository's root."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.cli import build_parser
from auditor.report.formats import OutputFormat

REPO = Path(__file__).resolve().parent.parent


def example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Python API") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "no python block in the README's Python API section"
    return match.group(1)


def test_python_api_example_runs() -> None:
    code = example() + "\nprint(document['image']['digest'])\n"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "IMGAUDIT_CONFIG": ""},  # the README's own config, none
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"grade [A-F] \(\d+/100\)", lines[0])
    assert any(line.startswith("SEC004 warning /app") for line in lines[1:])  # the sample's
    assert lines[-1].startswith("sha256:")


# ---------------------------------------------------------------- "In CI and before you push"

CI_SECTION = "## In CI and before you push"


def ci_blocks(language: str) -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(CI_SECTION)
    section = text[start : text.index("\n## ", start + len(CI_SECTION))]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def ci_yaml() -> dict[str, Any]:
    """The YAML snippets by the file their first comment names."""
    return {
        block.splitlines()[0].removeprefix("# "): yaml.safe_load(block)
        for block in ci_blocks("yaml")
    }


def scan_commands() -> list[list[str]]:
    """Every `imgaudit scan` command line of the section, as argv after `imgaudit`."""
    commands = []
    for language in ("yaml", "groovy", "sh"):
        for block in ci_blocks(language):
            for match in re.finditer(r"imgaudit (scan [^'\n&]*)", block):
                commands.append(shlex.split(match.group(1)))
    return commands


def _knows_dockerfile() -> bool:
    try:
        build_parser().parse_args(["scan", "x.tar", "--dockerfile", "Dockerfile"])
    except SystemExit:
        return False
    return True


def test_ci_snippets_are_there() -> None:
    assert set(ci_yaml()) == {
        ".github/workflows/image.yml",
        ".gitlab-ci.yml",
        ".pre-commit-config.yaml",
    }
    assert len(ci_blocks("groovy")) == 1 and len(ci_blocks("sh")) == 1
    assert len(scan_commands()) == 4


@pytest.mark.parametrize("argv", scan_commands(), ids=lambda argv: " ".join(argv[:2]))
def test_ci_command_lines_parse(argv: list[str]) -> None:
    if "--dockerfile" in argv and not _knows_dockerfile():
        pytest.xfail("--dockerfile comes with issue-18-dockerfile")
    args = build_parser().parse_args(argv)
    assert args.image
    for name in (v for k, v in itertools.pairwise(argv) if k == "-o"):
        assert OutputFormat.from_suffix(name) is not None, name


def test_github_snippet_uses_the_action() -> None:
    workflow = ci_yaml()[".github/workflows/image.yml"]
    steps = workflow["jobs"]["audit"]["steps"]
    ours = next(s for s in steps if s.get("uses", "").startswith("imgaudit/imgaudit@"))
    inputs = yaml.safe_load((REPO / "action.yml").read_text())["inputs"]
    assert set(ours["with"]) <= set(inputs)
    assert {n for n, i in inputs.items() if i.get("required")} <= set(ours["with"])
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/"))
    assert upload["if"] == "always()"  # the action fails the step after writing the SARIF
    assert upload["with"]["sarif_file"] == ours["with"]["sarif-file"]
    assert workflow["jobs"]["audit"]["permissions"]["security-events"] == "write"


def test_gitlab_snippet_reports() -> None:
    job = ci_yaml()[".gitlab-ci.yml"]["imgaudit"]
    script = " ".join(job["script"])
    reports = job["artifacts"]["reports"]
    assert OutputFormat.from_suffix(reports["codequality"]) is OutputFormat.CODEQUALITY
    assert OutputFormat.from_suffix(reports["junit"]) is OutputFormat.JUNIT
    for name in (reports["codequality"], reports["junit"], *job["artifacts"]["paths"]):
        assert f"-o {name}" in script
    assert job["artifacts"]["when"] == "always"  # a failing gate still reports


def test_jenkins_snippet_junit() -> None:
    (pipeline,) = ci_blocks("groovy")
    (junit,) = re.findall(r"junit '([^']+)'", pipeline)
    assert OutputFormat.from_suffix(junit) is OutputFormat.JUNIT
    assert f"-o {junit}" in pipeline


def test_hooks_are_valid_shell() -> None:
    (hook,) = ci_blocks("sh")
    hooks = ci_yaml()[".pre-commit-config.yaml"]["repos"][0]["hooks"]
    for script in (hook, *(h["entry"] for h in hooks)):
        subprocess.run(["sh", "-n", "-c", script], check=True)
    assert hooks[0]["stages"] == ["pre-push"] and hooks[0]["pass_filenames"] is False
