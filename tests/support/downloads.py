"""Everything the tests download, fetched once into the test cache: distributions from
PyPI and CPython's upstream source from Debian's mirror.

Why one module: tests need real wheels (auditwheel-repaired manylinux libraries, pure
wheels with real metadata), a real sdist, and CPython's source; four helpers used to
fetch them four ways, one of them for the host's Python version and one into a shared
directory whose contents depended on which test ran first.

PyPI: :func:`pypi` runs ``pip download`` with this interpreter's own pip (``-m pip``,
never a pip on PATH) for the images' platform, CPython 3.11 on x86_64 glibc
(:data:`PLATFORM_ARGS`), whatever Python the host runs, so every machine puts the same
files into the same images. Each request (its arguments and the text of its requirement
and constraint files, hashed) gets its own directory under ``cache_dir()/pypi``, complete
once its marker is written; pip's HTTP cache sits beside it (``cache_dir()/pypi/http``),
so requests sharing a file fetch it once. ``$IMGAUDIT_TEST_CACHE`` moves all of it.

CPython: :func:`cpython_source` is the upstream tarball as Debian's archive keeps it
(``python3.11_3.11.2.orig.tar.gz``, the bytes python.org published), checked against its
sha256 as the official image's Dockerfile checks its download.

A download that fails raises :class:`ServiceUnavailable` with the tool's message; tests
turn that into a skip (a failure under CI: tests/support/require.py) with
:func:`pypi_or_skip`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from .baseimages import apt_mirror
from .require import unavailable
from .services import ServiceUnavailable, cache_dir, file_lock

__all__ = [
    "CPYTHON_SHA256",
    "CPYTHON_TARBALL",
    "CPYTHON_VERSION",
    "MANYLINUX2014",
    "OPENCV_WHEELS",
    "PLATFORMS",
    "PLATFORM_ARGS",
    "cpython_source",
    "opencv_wheels",
    "platform_args",
    "pypi",
    "pypi_or_skip",
]

#: The platforms wheels are fetched for, best first: x86_64 glibc up to bookworm's 2.36.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "linux_x86_64")  # fmt: skip
#: manylinux2014 only: the build of a wheel whose vendored libraries a test names (their
#: auditwheel hash suffixes differ between a project's manylinux2014 and 2_28 builds).
MANYLINUX2014 = ("manylinux_2_17_x86_64", "manylinux2014_x86_64")


def platform_args(platforms: Sequence[str] = PLATFORMS) -> tuple[str, ...]:
    """pip download options: binary wheels for CPython 3.11 on ``platforms`` (the images'
    interpreter and platform), whatever the host's Python is."""
    return (
        "--only-binary=:all:",
        *(arg for platform in platforms for arg in ("--platform", platform)),
        "--python-version", "3.11",
        "--implementation", "cp",
        "--abi", "cp311", "--abi", "abi3", "--abi", "none",
    )  # fmt: skip


PLATFORM_ARGS = platform_args()

#: opencv-python (not headless: it needs libGL and friends from the system) and numpy:
#: auditwheel-repaired libraries in opencv_python.libs/, a 72 MB cv2.abi3.so. Fetched
#: for :data:`MANYLINUX2014` (the tests name its vendored libraries).
OPENCV_WHEELS = ("opencv-python==5.0.0.93", "numpy==2.2.6")

#: Bump when the way a request is downloaded changes (its cache key).
RECIPE_VERSION = "1"


def _request_key(argv: Sequence[str], files: Sequence[Path]) -> str:
    digest = hashlib.sha256(RECIPE_VERSION.encode())
    for arg in argv:
        digest.update(b"\0" + arg.encode())
    for path in files:
        digest.update(b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def pypi(
    requirements: Sequence[str] = (),
    *,
    requirement_files: Sequence[Path] = (),
    constraints: Path | None = None,
    deps: bool = False,
    sdist: bool = False,
    platforms: Sequence[str] = PLATFORMS,
    label: str = "wheels",
) -> Path:
    """The directory holding what ``pip download`` fetches for the request.

        ``requirements`` are pins (``six==1.17.0``); ``requirement_files`` and
        ``constraints`` are pip's ``-r`` and ``-c``. Without ``deps`` only the named
        distributions come (``--no-deps``). Wheels for :data:`PLATFORM_ARGS` unless
        ``sdist``: then the source distributions (``--no-binary :all:``, to be built in an
        image by the image's own interpreter); ``platforms`` narrows the wheels' platforms
    (:data:`MANYLINUX2014`). ``label`` names the directory for people.
    """
    argv = [
        *(() if deps else ("--no-deps",)),
        *(("--no-binary=:all:",) if sdist else platform_args(platforms)),
        *(arg for path in requirement_files for arg in ("-r", str(path))),
        *(("-c", str(constraints)) if constraints else ()),
        *requirements,
    ]
    files = [*requirement_files, *((constraints,) if constraints else ())]
    root = cache_dir() / "pypi"
    target = root / f"{label}-{_request_key(argv, files)}"
    marker = target / ".complete"
    if marker.exists():
        return target
    with file_lock(root / f"{target.name}.lock"):
        if marker.exists():
            return target
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        env = {**os.environ, "PIP_CACHE_DIR": str(root / "http")}
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
             "--dest", str(partial), *argv],
            capture_output=True, text=True, env=env, check=False, timeout=1200,
        )  # fmt: skip
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            what = " ".join([*requirements, *(p.name for p in files)])
            raise ServiceUnavailable(f"pip download {what} (PyPI): {done.stderr[-600:]}")
        (partial / ".complete").write_text(" ".join(argv) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        partial.replace(target)
    return target


def pypi_or_skip(
    requirements: Sequence[str],
    *,
    deps: bool = False,
    sdist: bool = False,
    platforms: Sequence[str] = PLATFORMS,
    label: str = "wheels",
) -> Path:
    """:func:`pypi` for a test: no PyPI skips it with pip's message (fails it under CI)."""
    try:
        return pypi(requirements, deps=deps, sdist=sdist, platforms=platforms, label=label)
    except ServiceUnavailable as exc:
        unavailable(exc.reason)


def opencv_wheels() -> Path:
    """The directory holding :data:`OPENCV_WHEELS` (manylinux2014 builds) for a test."""
    return pypi_or_skip(OPENCV_WHEELS, platforms=MANYLINUX2014, label="opencv")


# --------------------------------------------------------------------------- CPython

CPYTHON_VERSION = "3.11.2"
CPYTHON_TARBALL = f"python3.11_{CPYTHON_VERSION}.orig.tar.gz"
CPYTHON_SHA256 = "2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849"
CPYTHON_POOL_PATH = f"pool/main/p/python3.11/{CPYTHON_TARBALL}"


def cpython_source() -> Path:
    """CPython's upstream source tarball from the Debian mirror, cached and checksummed."""
    path = cache_dir() / CPYTHON_TARBALL
    if path.exists():
        return path
    with file_lock(cache_dir() / "downloads.lock"):
        if path.exists():
            return path
        url = f"{apt_mirror().rstrip('/')}/{CPYTHON_POOL_PATH}"
        partial = path.with_name(path.name + ".partial")
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=300) as answer, open(partial, "wb") as out:
                while chunk := answer.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ServiceUnavailable(f"cannot download {url}: {exc}") from exc
        if digest.hexdigest() != CPYTHON_SHA256:
            partial.unlink()
            raise RuntimeError(f"{url}: sha256 {digest.hexdigest()}, expected {CPYTHON_SHA256}")
        os.replace(partial, path)
    return path
