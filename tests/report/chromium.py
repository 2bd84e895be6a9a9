"""Drive Debian's headless Chromium for the HTML report tests (no WebDriver needed).

Launched the way this machine allows (no sandbox as root, no background networking,
a fresh profile). Console messages are read from Chromium's own log on stderr
(`--enable-logging=stderr`): every console message of the page appears there as
`:CONSOLE:<line>] "<text>", source: <url>`, including uncaught exceptions and CSP
violations. The report page writes nothing to the console, so any such line is an
error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]
CONSOLE = re.compile(r':CONSOLE[:(]\d+\)?\] "(?P<text>.*)", source: (?P<source>\S*)')


def find() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Page:
    dom: str
    console: list[str]
    stderr: str


def run(url: str, *extra: str, timeout: float = 90) -> Page:
    binary = find()
    assert binary, "chromium not installed"
    with tempfile.TemporaryDirectory(prefix="imgaudit-chromium-") as profile:
        proc = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    console = [m.group("text") for m in CONSOLE.finditer(proc.stderr)]
    return Page(proc.stdout, console, proc.stderr)


def dump_dom(path: Path, fragment: str = "") -> Page:
    return run(path.resolve().as_uri() + fragment, "--dump-dom")


def screenshot(path: Path, png: Path, width: int = 1280, height: int = 2000) -> Page:
    return run(
        path.resolve().as_uri(),
        f"--screenshot={png}",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
    )
