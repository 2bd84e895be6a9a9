#!/usr/bin/env python3
"""Regenerate testdata/sample.tar: the small image the README's first command scans.

A Debian 12 style image for a Python app, written by the repo's own image factory as
a `docker save` archive (Docker >= 25 layout, gzip layers, so it stays small):

  layer 0  a tiny root: os-release, passwd/group with an `app` user, a real ELF
           binary from this host (`env`) with the libraries it needs and the loader
  layer 1  an "apt-get install" that leaves a package cache behind
  layer 2  "rm -rf /var/cache/apt/archives": the cache is deleted but its bytes stay
           in layer 1 (waste)
  layer 3  the app: a few Python files, a config later overwritten (more waste)
  layer 4  the overwritten config

It has no command (no Entrypoint or Cmd, as a base image has): it holds no Python,
and a command naming one would not start (PY007 says so: the engine finds no
`python3` on PATH). It is a fixture for the findings above, not an app to run.

Usage: python3 testdata/make_sample.py [OUTPUT]   (default: testdata/sample.tar)

Output is byte-for-byte reproducible on one machine (fixed mtimes, gzip without
timestamps, seeded filler); the ELF files come from the host, so it differs between
machines. Nothing here is executed: the ELF files are only copied.
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from elftools.elf.elffile import ELFFile  # noqa: E402

from tests import factory  # noqa: E402
from tests.factory import Dir, File, Layer, Symlink, Whiteout  # noqa: E402

OS_RELEASE = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""
PASSWD = b"""root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
app:x:1000:1000::/app:/usr/sbin/nologin
"""
GROUP = b"root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\napp:x:1000:\n"
LIBDIR = "usr/lib/x86_64-linux-gnu"
HOST_LIBDIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64")


def _needed(path: str) -> list[str]:
    with open(path, "rb") as fh:
        dynamic = ELFFile(fh).get_section_by_name(".dynamic")
        return [t.needed for t in dynamic.iter_tags() if t.entry.d_tag == "DT_NEEDED"]


def _host_lib(name: str) -> str:
    for d in HOST_LIBDIRS:
        if Path(d, name).exists():
            return str(Path(d, name))
    raise SystemExit(f"make_sample: host library {name} not found in {HOST_LIBDIRS}")


def base_layer() -> Layer:
    binary = shutil.which("env") or "/usr/bin/env"
    items: list[factory.Item] = [
        Dir("etc"),
        File("etc/os-release", OS_RELEASE),
        File("etc/debian_version", b"12.8\n"),
        File("etc/passwd", PASSWD),
        File("etc/group", GROUP),
        Dir("tmp", mode=0o1777),
        Symlink("bin", "usr/bin"),
        Symlink("lib", "usr/lib"),
        Symlink("lib64", "usr/lib64"),
        factory.host_file(binary, "usr/bin/env", mode=0o755),
    ]
    for lib in _needed(binary):
        items.append(factory.host_file(_host_lib(lib), f"{LIBDIR}/{lib}", mode=0o755))
    items.append(
        factory.host_file(_host_lib("ld-linux-x86-64.so.2"), f"{LIBDIR}/ld-linux-x86-64.so.2")
    )
    items.append(Symlink("usr/lib64/ld-linux-x86-64.so.2", f"/{LIBDIR}/ld-linux-x86-64.so.2"))
    return Layer(items, "/bin/sh -c #(nop) ADD file:rootfs in / ")


def spec() -> factory.ImageSpec:
    filler = random.Random(12).randbytes(300_000)  # incompressible: a real .deb is
    app = [
        Dir("app", uid=1000, gid=1000),
        File("app/app.py", b"from shop import api\n\napi.serve()\n", uid=1000, gid=1000),
        File("app/shop/__init__.py", b"", uid=1000, gid=1000),
        File("app/shop/api.py", b"def serve():\n    print('serving')\n", uid=1000, gid=1000),
        File("app/requirements.txt", b"flask==3.0.0\n", uid=1000, gid=1000),
        File("app/settings.toml", b"debug = true\n" + b"# " + b"x" * 20_000 + b"\n"),
    ]
    return factory.ImageSpec(
        layers=[
            base_layer(),
            Layer(
                [File("var/cache/apt/archives/python3.11_3.11.2-6_amd64.deb", filler)],
                "RUN /bin/sh -c apt-get update && apt-get install -y python3",
            ),
            Layer(
                [Whiteout("var/cache/apt/archives")],
                "RUN /bin/sh -c rm -rf /var/cache/apt/archives",
            ),
            Layer(app, "COPY . /app # buildkit"),
            Layer([File("app/settings.toml", b"debug = false\n")], "COPY settings.toml /app/"),
        ],
        name="imgaudit/sample:1.0",
        config={
            "User": "app",
            "WorkingDir": "/app",
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "PYTHONUNBUFFERED=1"],
            "Labels": {"org.opencontainers.image.title": "imgaudit sample"},
        },
        empty_steps=[],
    )


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "testdata" / "sample.tar"
    factory.write_docker_archive(factory.build(spec()), out, layout="oci")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
