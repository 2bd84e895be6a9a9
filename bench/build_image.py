"""Build (once, cached) the big realistic image the benchmark scans.

Why a real engine build and not the test factory: the numbers must come from what
users scan. The image is the debootstrap bookworm minbase, this host's CPython 3.11
copied to /opt/python (found through an /etc/ld.so.conf.d entry, as a pyenv build's
RUNPATH points at the build host), and a venv at /opt/venv with large binary wheels
(torch CPU, numpy, scipy, pandas, opencv-python): ~2 GB uncompressed, tens of
thousands of files, thousands of ELF files.

Everything lives under ~/.cache/imgaudit-bench/ (``$IMGAUDIT_BENCH_CACHE`` moves it):
the wheels, the build context, and the saved archives. A step whose output exists is
skipped; the engine keeps the built tags in its persistent data root (the test
infrastructure's shared dockerd).

Wheels come from the package index through pip (``pip download``) plus the torch CPU
wheel shipped in /opt/wheels; torch is installed with ``--no-deps`` and its small
pure-Python dependencies listed explicitly, so pip never pulls a CUDA build.

    python3 -m bench.build_image            # build + save, print the artefact paths
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support import baseimages  # noqa: E402
from tests.support.services import DockerEngine, shared_docker_engine  # noqa: E402

BIG_TAG = "imgaudit-bench/big:1"
CHANGED_TAG = "imgaudit-bench/big-changed:1"
TORCH_WHEEL_GLOB = "/opt/wheels/torch-*+cpu-cp311-cp311-manylinux*_x86_64.whl"
#: Binary wheels fetched with pip download (the big ones) ...
BIG_WHEELS = ["numpy", "scipy", "pandas", "opencv-python"]
#: ... and the pure-Python dependencies of torch and pandas, installed explicitly
#: because torch goes in with --no-deps.
SMALL_DEPS = [
    "filelock",
    "typing-extensions",
    "setuptools",
    "sympy",
    "mpmath",
    "networkx",
    "jinja2",
    "markupsafe",
    "fsspec",
    "python-dateutil",
    "six",
    "pytz",
    "tzdata",
]

DOCKERFILE = """\
FROM {base} AS build
COPY python /opt/python
COPY python.conf /etc/ld.so.conf.d/opt-python.conf
RUN ldconfig
COPY wheels /wheels
RUN /opt/python/bin/python3.11 -m venv /opt/venv \\
 && /opt/venv/bin/pip install --no-index --no-deps --disable-pip-version-check /wheels/*.whl

FROM {base}
COPY --from=build /opt/python /opt/python
COPY python.conf /etc/ld.so.conf.d/opt-python.conf
RUN ldconfig && useradd --create-home --uid 1000 app
COPY --from=build /opt/venv /opt/venv
COPY app.py /srv/app/app.py
ENV PATH=/opt/venv/bin:$PATH
USER app
WORKDIR /srv/app
CMD ["python", "app.py"]
"""

APP = """\
import numpy, pandas, scipy, cv2, torch
print(torch.__version__, numpy.__version__, pandas.__version__, scipy.__version__, cv2.__version__)
"""

CHANGED_DOCKERFILE = """\
FROM {base}
COPY settings.toml /srv/app/settings.toml
"""


def cache_root() -> Path:
    env = os.environ.get("IMGAUDIT_BENCH_CACHE")
    root = Path(env) if env else Path.home() / ".cache" / "imgaudit-bench"
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class BenchImage:
    """The saved archives of the big image and of its one-layer-changed variant."""

    docker_archive: Path
    oci_archive: Path
    changed_archive: Path


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def fetch_wheels(dest: Path) -> Path:
    """The wheels for the venv, downloaded once (pip download, binary only, cp311)."""
    dest.mkdir(parents=True, exist_ok=True)
    marker = dest / ".complete"
    if marker.exists():
        return dest
    torch = sorted(glob.glob(TORCH_WHEEL_GLOB))
    if not torch:
        raise SystemExit(f"no torch CPU wheel matches {TORCH_WHEEL_GLOB}")
    target = dest / Path(torch[-1]).name
    if not target.exists():
        try:
            os.link(torch[-1], target)
        except OSError:
            shutil.copy2(torch[-1], target)
    _log("pip download " + " ".join(BIG_WHEELS + SMALL_DEPS))
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest),
         "--only-binary=:all:", "--no-deps", "--python-version", "3.11",
         "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
         "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
         *BIG_WHEELS, *SMALL_DEPS],
        check=True,
    )  # fmt: skip
    marker.write_text("ok\n")
    return dest


def _link_tree(src: Path, dst: Path) -> None:
    """Copy a tree into the build context, hard-linking when on the same filesystem."""
    if dst.exists():
        return
    partial = dst.with_name(dst.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    done = subprocess.run(["cp", "-al", str(src), str(partial)], capture_output=True)
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(["cp", "-a", str(src), str(partial)], check=True)
    partial.rename(dst)


def _has_tag(engine: DockerEngine, tag: str) -> bool:
    return baseimages._image(engine, tag) is not None


def _docker(engine: DockerEngine, *args: str) -> None:
    env = {**os.environ, **engine.env(), "DOCKER_BUILDKIT": "0"}
    subprocess.run(["docker", *args], check=True, env=env, stdout=subprocess.DEVNULL)


def build_big(engine: DockerEngine, root: Path) -> None:
    """The big image, built with the docker CLI from a context directory (the context
    is ~1.5 GB: the SDK helper would hold it in memory)."""
    if _has_tag(engine, BIG_TAG):
        return
    base = baseimages.debian_minbase(engine)
    wheels = fetch_wheels(root / "wheels")
    context = root / "context"
    context.mkdir(exist_ok=True)
    _link_tree(Path(sys.base_prefix), context / "python")
    _link_tree(wheels, context / "wheels")
    (context / "python.conf").write_text("/opt/python/lib\n")
    (context / "app.py").write_text(APP)
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=base.tag))
    (context / ".dockerignore").write_text("wheels/.complete\n")
    _log(f"docker build {BIG_TAG} (several minutes, once)")
    _docker(engine, "build", "--network", "host", "-q", "-t", BIG_TAG, str(context))


def build_changed(engine: DockerEngine, root: Path) -> None:
    """The big image plus one small layer on top: a warm scan reads only that layer."""
    if _has_tag(engine, CHANGED_TAG):
        return
    context = root / "context-changed"
    context.mkdir(exist_ok=True)
    (context / "settings.toml").write_text('[app]\nworkers = 4\nlog_level = "info"\n')
    (context / "Dockerfile").write_text(CHANGED_DOCKERFILE.format(base=BIG_TAG))
    _docker(engine, "build", "-q", "-t", CHANGED_TAG, str(context))


def _save(engine: DockerEngine, tag: str, path: Path) -> Path:
    if not path.exists():
        _log(f"docker save {tag} -> {path}")
        baseimages.save(engine, tag, path)
    return path


def to_oci_archive(docker_archive: Path, oci_archive: Path) -> Path:
    """skopeo copy docker-archive -> oci-archive (skopeo gzips the layers)."""
    if not oci_archive.exists():
        _log(f"skopeo copy -> {oci_archive}")
        partial = oci_archive.with_name(oci_archive.name + ".partial")
        partial.unlink(missing_ok=True)
        subprocess.run(
            ["skopeo", "copy", "--quiet", f"docker-archive:{docker_archive}",
             f"oci-archive:{partial}:latest"],
            check=True,
        )  # fmt: skip
        partial.replace(oci_archive)
    return oci_archive


@contextlib.contextmanager
def _engine() -> Iterator[DockerEngine]:
    with shared_docker_engine() as engine:
        yield engine


def ensure_big_image() -> BenchImage:
    """Build and save everything that is missing; return the archive paths."""
    root = cache_root()
    images = BenchImage(
        docker_archive=root / "big.docker.tar",
        oci_archive=root / "big.oci.tar",
        changed_archive=root / "big-changed.docker.tar",
    )
    if not (images.docker_archive.exists() and images.changed_archive.exists()):
        with _engine() as engine:
            build_big(engine, root)
            build_changed(engine, root)
            _save(engine, BIG_TAG, images.docker_archive)
            _save(engine, CHANGED_TAG, images.changed_archive)
    to_oci_archive(images.docker_archive, images.oci_archive)
    return images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    images = ensure_big_image()
    for path in (images.docker_archive, images.oci_archive, images.changed_archive):
        print(f"{path}\t{path.stat().st_size / 1e9:.2f} GB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
