"""The command-line process ends without teardown, yet its output and exit code are
whole and its exit handlers run (auditor/process_end.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import factory

REPO = Path(__file__).resolve().parent.parent


def test_the_command_ends_with_its_output_flushed_and_exit_handlers_run(tmp_path: Path) -> None:
    built = factory.build(factory.ImageSpec([factory.Layer([factory.File("etc/hostname", b"x")])]))
    archive = factory.write_docker_archive(built, tmp_path / "image.tar")
    marker = tmp_path / "handler-ran"
    # an exit handler registered before the command runs, as the daemon source does
    script = (
        "import atexit, pathlib, sys; "
        f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes'); "
        "sys.argv = ['imgaudit', 'scan', sys.argv[1], '--format', 'json', '--no-cache']; "
        "from auditor.cli import run; run()"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script, f"docker-archive:{archive}"],
        capture_output=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)  # the whole report, flushed before the hard exit
    assert report["image"]["layers"]
    assert marker.read_text() == "yes"


def test_main_in_process_holds_nothing() -> None:
    from auditor import process_end

    assert process_end._held is None  # only `run` asks for images to be held
