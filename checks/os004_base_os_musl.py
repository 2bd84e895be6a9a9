"""OS004 base-os-musl: the image uses musl libc (Alpine) instead of glibc.

Why it matters: most binary wheels on PyPI are built for manylinux (glibc). On
musl, pip falls back to musllinux wheels where they exist and otherwise compiles
from source: slower builds, a compiler in the image, and subtle differences (DNS
resolution, thread stack size, locale support) that show up only in production.

Example: `FROM python:3.12-alpine` with numpy, pandas or cryptography installed.

How to fix: use a glibc base such as debian:bookworm-slim or a distroless Python
image; if Alpine is a hard requirement, make sure every dependency ships musllinux
wheels.

References: https://pythonspeed.com/articles/alpine-docker-python/,
https://peps.python.org/pep-0656/
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="OS004",
    name="base-os-musl",
    title="Base uses musl libc, not glibc (manylinux wheels do not apply)",
    severity=Severity.WARNING,
    criterion="glibc, manylinux compatible (not Alpine/musl)",
    dimension=Dimension.USABLE,
)


def run(ctx: CheckContext) -> Iterator[Finding]:
    fs = ctx.facts.fs
    if ctx.facts.os.libc != "musl":
        return
    loaders = sorted(
        f"{d}/{n}" for d in ("lib", "usr/lib") for n in fs.listdir(d) if n.startswith("ld-musl-")
    )
    yield INFO.finding(
        "the image's C library is musl: manylinux wheels do not install, packages "
        "without musllinux wheels build from source",
        "use a glibc base (debian:bookworm-slim, ubuntu:24.04, UBI)",
        path=loaders[0] if loaders else None,
        paths=loaders[1:],
    )
