"""imgaudit's JSON report on an image of the set, through the public CLI only.

Why the CLI: the internal API is being restructured; ``imgaudit scan --format json`` is
the contract users and CI scripts read (shared/design.md), so it is what gets judged.

Reports are cached on disk by image id and a digest of imgaudit's own source (the
``auditor`` package and the ``checks`` directory beside it), so any code change scans
again and pytest-xdist workers share one scan per image.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.baseimages import BuiltImage
from tests.support.services import DockerEngine, cache_dir, cached_json

__all__ = ["code_digest", "scan"]


def _source_dirs() -> list[Path]:
    spec = importlib.util.find_spec("auditor")
    if spec is None or spec.origin is None:
        raise RuntimeError("imgaudit (auditor) is not installed")
    package = Path(spec.origin).parent
    return [d for d in (package, package.parent / "checks") if d.is_dir()]


def code_digest() -> str:
    """A hash of every file of imgaudit's code and data (not its caches)."""
    digest = hashlib.sha256()
    for top in _source_dirs():
        for path in sorted(top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(top.parent)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def scan(engine: DockerEngine, image: BuiltImage) -> dict[str, Any]:
    """``imgaudit scan docker-daemon:ID --format json`` (exit 0 or 1 both mean a report)."""
    key = f"{image.id.removeprefix('sha256:')[:24]}-{code_digest()}"
    store = cache_dir() / "realistic" / "reports"

    def run() -> dict[str, Any]:
        scratch = store / f"{key}.imgaudit-cache"
        env = {**os.environ, **engine.env(), "IMGAUDIT_CACHE_DIR": str(scratch)}
        done = subprocess.run(
            [sys.executable, "-m", "auditor", "scan", f"docker-daemon:{image.tag}",
             "--format", "json"],
            capture_output=True, text=True, env=env, check=False, timeout=1800,
        )  # fmt: skip
        if done.returncode not in (0, 1):
            raise RuntimeError(f"imgaudit scan {image.tag} exited {done.returncode}: "
                               f"{done.stderr[-2000:]}")  # fmt: skip
        report: dict[str, Any] = json.loads(done.stdout)
        subprocess.run(["rm", "-rf", str(scratch)], check=False)
        return report

    return cached_json(store / f"{key}.json", run)
