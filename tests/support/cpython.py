"""A CPython installed in /opt, derived from the tests' one CPython source build.

Why not copy the test host's own Python into an image: how that Python was built and
where it lives differ from host to host (a pyenv source build with libpython and a
RUNPATH, Debian's patched /usr/bin/python3 with zlib built in and ensurepip's wheels
moved to /usr/share/python-wheels), so an image made from it, and every finding about
it, would depend on the machine. Why not a build of its own: compiling CPython costs
minutes, and the realistic set already compiles it once, as the official image does
(``python-full`` in tests/support/realistic_images.py: upstream source, /usr/local,
shared libpython, the python binary's RUNPATH ``$ORIGIN/../lib``).

So the /opt install is that /usr/local install copied to ``PREFIX``: the interpreter,
libpython, the standard library and the headers (patchlevel.h), which work from any
prefix (sys.prefix follows the executable; the RUNPATH is relative to it). What the
copy leaves out makes it the app's own interpreter of a typical ``/opt`` image: no
site-packages content (the base's pip, setuptools and wheel; a venv gets pip and
setuptools from ensurepip's bundled wheels), no idle, tkinter, turtledemo or config
dir, no bytecode, and no ``_dbm``/``_gdbm`` extension modules: as a build without the
gdbm and Berkeley DB headers has none, so ``dbm`` lacks both backends (PY002's one
finding on the tests' good image). Images find libpython through an ld.so.conf.d entry
as well, as an /opt install usually does.

The image ``OPT_REPO:<recipe hash>`` holds the copy at ``PREFIX`` plus
``RUNTIME_PACKAGES_FILE``: the Debian packages whose libraries the copy links against
(found with ldd and dpkg inside the build image, as the official slim Dockerfile does).
Images ``COPY --from`` it. Cached in the engine's data root by its recipe, rebuilt
(seconds) when python-full is.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .baseimages import RECIPE_LABEL, BuiltImage, _cached, build
from .downloads import CPYTHON_VERSION
from .realistic_images import build_image
from .services import DockerEngine, cache_dir, file_lock

__all__ = ["OPT_REPO", "PREFIX", "RUNTIME_PACKAGES_FILE", "VERSION", "SourceCPython",
           "source_cpython"]  # fmt: skip

VERSION = CPYTHON_VERSION
PREFIX = "/opt/acme/python"
RUNTIME_PACKAGES_FILE = "/opt/acme/runtime-packages.txt"
#: The /opt image's repository; its tag is the recipe hash (see realistic_images.tag_of).
OPT_REPO = "imgaudit-test/cpython-opt"

DOCKERFILE = f"""\
FROM {{full}}
RUN set -eux; \\
    mkdir -p {PREFIX}/bin {PREFIX}/lib; \\
    cp -a /usr/local/bin/python3.11 {PREFIX}/bin/; \\
    ln -s python3.11 {PREFIX}/bin/python3; \\
    cp -a /usr/local/lib/libpython3.11.so.1.0 /usr/local/lib/libpython3.11.so {PREFIX}/lib/; \\
    cp -a /usr/local/lib/python3.11 {PREFIX}/lib/; \\
    cp -a /usr/local/include {PREFIX}/; \\
    cd {PREFIX}/lib/python3.11; \\
    rm -rf site-packages/* config-3.11-* idlelib tkinter turtledemo \\
        lib-dynload/_tkinter.* lib-dynload/_dbm.* lib-dynload/_gdbm.*; \\
    find {PREFIX} -depth -name __pycache__ -exec rm -rf '{{}}' +; \\
    cd /; \\
    {PREFIX}/bin/python3.11 -c 'import ssl, sqlite3, ctypes, sys; assert sys.prefix == "{PREFIX}"'; \\
    find {PREFIX} -type f \\( -name '*.so' -o -name '*.so.*' -o -name 'python3.11' \\) \\
        -exec ldd '{{}}' ';' \\
      | awk '/=>/ {{ print $(NF-1) }}' | grep -v '^{PREFIX}/' | sort -u \\
      | xargs -r realpath | sed 'p; s|^/usr/lib/|/lib/|' \\
      | xargs -r dpkg-query --search 2> /dev/null | cut -d: -f1 | sort -u \\
      | grep -vx libc6 > {RUNTIME_PACKAGES_FILE}
"""  # noqa: E501


@dataclass(frozen=True)
class SourceCPython:
    """The image holding the /opt install (``COPY --from=<tag> PREFIX PREFIX``), what
    the install needs from Debian at run time (package names, for ``apt-get install``),
    and the source build it came from (python-full: its interpreter with gcc, headers and
    setuptools, to build a wheel from an sdist for the same CPython)."""

    image: BuiltImage
    runtime_packages: tuple[str, ...]
    build: BuiltImage


def _runtime_packages(engine: DockerEngine, tag: str) -> tuple[str, ...]:
    """Read RUNTIME_PACKAGES_FILE out of the image (a created container, never started)."""
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
    """The /opt install, derived from python-full (built first if the engine lacks it)."""
    full = build_image(engine, "python-full")
    text = DOCKERFILE.replace("{full}", full.tag)
    recipe = hashlib.sha256(f"{full.id}|{text}".encode()).hexdigest()[:16]
    tag = f"{OPT_REPO}:{recipe}"
    image = _cached(engine, tag, recipe)
    if image is None:
        with file_lock(cache_dir() / "cpython-opt.lock"):
            image = _cached(engine, tag, recipe)
            if image is None:
                image_id = build(engine, tag, text, labels={RECIPE_LABEL: recipe})
                image = BuiltImage(tag=tag, id=image_id)
    return SourceCPython(image, _runtime_packages(engine, tag), full)
