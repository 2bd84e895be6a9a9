"""A CPython built from source inside the test engine: the same interpreter on every host.

Why not copy the test host's own Python into an image: how that Python was built and
where it lives differ from host to host (a pyenv source build with libpython and a
RUNPATH, Debian's patched /usr/bin/python3 with zlib built in and ensurepip's wheels
moved to /usr/share/python-wheels), so an image made from it, and every finding about
it, would depend on the machine. Here the interpreter comes from CPython's upstream
source (the tarball Debian's mirror carries as ``python3.11_3.11.2.orig.tar.gz``,
checked against its sha256), configured like a typical ``/opt`` install: shared
libpython, no RUNPATH (the image finds libpython through an ld.so.conf.d entry), no
gdbm/Berkeley DB headers (so ``_dbm`` is missing, an optional module).

The builder image keeps the install at ``PREFIX``, cleaned as the official images clean
theirs (no test suites, idle, tkinter, __pycache__ or config dir), plus
``RUNTIME_PACKAGES_FILE``: the Debian packages whose libraries the build links against
(found with ldd and dpkg inside the builder, as the official python Dockerfile does).
Images that want the interpreter ``COPY --from`` it. Cached in the engine's data root
by a recipe label; built once per data root (~4-6 min on 2 cores), under a file lock.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .baseimages import RECIPE_LABEL, BuiltImage, _cached, apt_mirror, build, debian_minbase
from .services import DockerEngine, cache_dir, file_lock

__all__ = ["PREFIX", "RUNTIME_PACKAGES_FILE", "VERSION", "SourceCPython", "source_cpython"]

VERSION = "3.11.2"
PREFIX = "/opt/acme/python"
RUNTIME_PACKAGES_FILE = "/opt/acme/runtime-packages.txt"
TARBALL = f"python3.11_{VERSION}.orig.tar.gz"
TARBALL_SHA256 = "2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849"
TAG = f"imgaudit-test/cpython-src:{VERSION}"

BUILD_DEPENDENCIES = (
    "gcc make libc6-dev dpkg-dev libssl-dev zlib1g-dev libbz2-dev liblzma-dev "
    "libsqlite3-dev libffi-dev libreadline-dev libncursesw5-dev uuid-dev"
)


def dockerfile(base: str) -> str:
    """The builder's Dockerfile on top of `base` (an image tag)."""
    return f"""\
FROM {base}
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -q \\
 && apt-get install -y -q --no-install-recommends {BUILD_DEPENDENCIES} \\
 && rm -rf /var/lib/apt/lists/*
COPY {TARBALL} /usr/src/
RUN mkdir /usr/src/python && tar -xzf /usr/src/{TARBALL} -C /usr/src/python \\
      --strip-components=1 \\
 && cd /usr/src/python \\
 && ./configure --prefix={PREFIX} --enable-shared --without-ensurepip \\
      > /dev/null \\
 && make -s -j"$(nproc)" > /dev/null \\
 && make -s install > /dev/null \\
 && cd / && rm -rf /usr/src/python /usr/src/{TARBALL} \\
 && find {PREFIX}/lib/python3.11 -depth \\( -name test -o -name tests -o -name idle_test \\
      -o -name __pycache__ -o -name 'config-*' -o -name idlelib -o -name tkinter \\
      -o -name turtledemo \\) -exec rm -rf '{{}}' + \\
 && rm -f {PREFIX}/lib/python3.11/site-packages/README.txt \\
 && LD_LIBRARY_PATH={PREFIX}/lib {PREFIX}/bin/python3.11 -c 'import ssl, sqlite3, ctypes' \\
 && find {PREFIX} -type f \\( -name '*.so' -o -name '*.so.*' -o -name 'python3.11' \\) \\
      -exec env LD_LIBRARY_PATH={PREFIX}/lib ldd '{{}}' ';' \\
    | awk '/=>/ {{ print $(NF-1) }}' | grep -v '^{PREFIX}/' | sort -u \\
    | xargs -r realpath | sed 'p; s|^/usr/lib/|/lib/|' \\
    | xargs -r dpkg-query --search 2> /dev/null | cut -d: -f1 | sort -u \\
    | grep -vx libc6 > {RUNTIME_PACKAGES_FILE}
"""


@dataclass(frozen=True)
class SourceCPython:
    """The builder image (``COPY --from=<tag> PREFIX PREFIX``) and what the install
    needs from Debian at run time (package names, for ``apt-get install``)."""

    image: BuiltImage
    runtime_packages: tuple[str, ...]


def _tarball() -> Path:
    """The upstream source tarball from the Debian mirror, cached and checksummed."""
    path = cache_dir() / TARBALL
    if path.exists():
        return path
    with file_lock(cache_dir() / "downloads.lock"):
        if path.exists():
            return path
        url = f"{apt_mirror().rstrip('/')}/pool/main/p/python3.11/{TARBALL}"
        partial = path.with_name(path.name + ".partial")
        with urllib.request.urlopen(url, timeout=300) as response, open(partial, "wb") as out:
            digest = hashlib.sha256()
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != TARBALL_SHA256:
            partial.unlink()
            raise RuntimeError(f"{url}: sha256 {digest.hexdigest()}, expected {TARBALL_SHA256}")
        os.replace(partial, path)
    return path


def _runtime_packages(engine: DockerEngine, tag: str) -> tuple[str, ...]:
    """Read RUNTIME_PACKAGES_FILE out of the image (a created container, never started)."""
    import io
    import tarfile

    client = engine.client()
    try:
        container = client.containers.create(tag, command=["true"])
        try:
            stream, _ = container.get_archive(RUNTIME_PACKAGES_FILE)
            data = b"".join(stream)
        finally:
            container.remove(force=True)
    finally:
        client.close()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile(Path(RUNTIME_PACKAGES_FILE).name)
        assert member is not None
        text = member.read().decode()
    return tuple(sorted(set(text.split())))


def source_cpython(engine: DockerEngine) -> SourceCPython:
    """The builder image, built if the engine does not hold this recipe yet."""
    base = debian_minbase(engine)
    text = dockerfile(base.tag)
    recipe = hashlib.sha256(f"{base.id}|{TARBALL_SHA256}|{text}".encode()).hexdigest()[:16]
    image = _cached(engine, TAG, recipe)
    if image is None:
        tarball = _tarball()
        with file_lock(cache_dir() / "cpython.lock"):  # not images.lock: minutes long
            image = _cached(engine, TAG, recipe)
            if image is None:
                image_id = build(
                    engine, TAG, text, {TARBALL: tarball}, labels={RECIPE_LABEL: recipe}
                )
                image = BuiltImage(tag=TAG, id=image_id)
    return SourceCPython(image, _runtime_packages(engine, TAG))
