"""Two factory builds of one application with known changes, shared by the diff tests.

The base layer is identical (real CPython source files from this host); the app layer
differs in ways whose exact outcome the tests assert:

    /app/big.bin                appeared  +200000
    /app/data.bin               shrank      -3000
    /app/old.txt                vanished     -700
    /app/main.py                grew         +500
    /var/log/apt/history.log    grew          +50
    /app/config.ini             mtime only (unreproducible)
    /app/__pycache__/main.cpython-311.pyc   mtime only, a pyc (unreproducible)
    /app (the directory)        mtime only (unreproducible)
    config `created`            another build time (unreproducible)
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.factory import MTIME, Dir, File, ImageSpec, Layer, build, host_file, write_docker_archive

STDLIB = Path(os.__file__).parent


def base_layer() -> Layer:
    return Layer(
        [
            host_file(STDLIB / "os.py", "usr/lib/python3.11/os.py"),
            host_file(STDLIB / "json" / "decoder.py", "usr/lib/python3.11/json/decoder.py"),
            File("usr/share/doc/pkg/README", b"d" * 3000),
        ],
        created_by="ADD rootfs.tar.xz /",
    )


def old_spec() -> ImageSpec:
    return ImageSpec(
        name="example.org/shop/app:1",
        layers=[
            base_layer(),
            Layer(
                [
                    File("app/main.py", b"m" * 1000),
                    File("app/data.bin", b"x" * 5000),
                    File("app/old.txt", b"o" * 700),
                    File("app/config.ini", b"c" * 100),
                    File("app/__pycache__/main.cpython-311.pyc", b"p" * 200),
                    File("var/log/apt/history.log", b"l" * 300),
                ],
                created_by="COPY . /app",
            ),
        ],
    )


def new_spec() -> ImageSpec:
    return ImageSpec(
        name="example.org/shop/app:2",
        created="2026-11-02T00:00:00Z",
        layers=[
            base_layer(),
            Layer(
                [
                    Dir("app", mtime=MTIME + 60),
                    File("app/main.py", b"m" * 1500),
                    File("app/data.bin", b"x" * 2000),
                    File("app/big.bin", b"b" * 200_000),
                    File("app/config.ini", b"c" * 100, mtime=MTIME + 60),
                    File("app/__pycache__/main.cpython-311.pyc", b"p" * 200, mtime=MTIME + 60),
                    File("var/log/apt/history.log", b"l" * 350),
                ],
                created_by="COPY . /app",
            ),
        ],
    )


def write_pair(tmp: Path) -> tuple[str, str]:
    old = write_docker_archive(build(old_spec()), tmp / "old.tar")
    new = write_docker_archive(build(new_spec()), tmp / "new.tar")
    return f"docker-archive:{old}", f"docker-archive:{new}"
