"""The README's Python API example runs as written, from the repository's root."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
