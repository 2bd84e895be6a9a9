"""Real wheels from PyPI for tests, downloaded once into the test cache.

Tests that scan real manylinux wheels (opencv-python's auditwheel-repaired libraries,
numpy) share one download in ``cache_dir()/wheels`` (``$IMGAUDIT_TEST_CACHE`` moves
it). pip runs as this interpreter's own module, never a `pip` found on PATH, so the
test venv's pip is the one used. A failed download skips the asking test with pip's
message (and so fails it under CI: tests/support/require.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .require import unavailable
from .services import cache_dir, file_lock

__all__ = ["OPENCV_WHEELS", "manylinux_wheels"]

#: opencv-python (not headless: it needs libGL and friends from the system) and numpy.
OPENCV_WHEELS = ("opencv-python==5.0.0.93", "numpy==2.2.6")


def manylinux_wheels(pins: tuple[str, ...] = OPENCV_WHEELS) -> Path:
    """The directory holding binary wheels of `pins` for CPython 3.11 manylinux x86_64."""
    target = cache_dir() / "wheels"
    target.mkdir(parents=True, exist_ok=True)
    names = [pin.split("==")[0].replace("-", "_") for pin in pins]
    if all(any(target.glob(f"{name}-*.whl")) for name in names):
        return target
    with file_lock(cache_dir() / "wheels.lock"):
        if all(any(target.glob(f"{name}-*.whl")) for name in names):
            return target
        done = subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:",
                "--no-deps", "--python-version", "3.11", "--platform", "manylinux2014_x86_64",
                "--platform", "manylinux_2_17_x86_64", "-d", str(target), *pins,
            ],
            capture_output=True, text=True, check=False, timeout=900,
        )  # fmt: skip
        if done.returncode != 0:
            unavailable(f"cannot download {' '.join(pins)} from PyPI: {done.stderr[-300:]}")
    return target
