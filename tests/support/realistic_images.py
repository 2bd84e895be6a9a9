"""The realistic image set: look-alikes of the public Python base images and apps built
on them from the Dockerfiles the public docs publish.

Why: issue 15 measured that about one finding in four was wrong on images built the way
users build them. This set is the yardstick: every image is built by the real engine from
a debootstrap bookworm base, every Dockerfile cites the public source it adapts, and the
truth about each image is established by running it (``realistic_truth``).

The bases:

* ``python-full``: the official ``python:3.11`` (bookworm): CPython built from source
  on a buildpack-deps look-alike (compilers, -dev packages, git, mercurial, ...) the way
  docker-library/python's ``3.11/bookworm/Dockerfile`` does it: /usr/local prefix,
  ``--enable-shared``, ``$ORIGIN/../lib`` rpath, test dirs and ``.pyc`` removed,
  ``ldconfig``, setuptools and wheel, ``python`` symlinks. PGO and LTO are left out so
  the build takes minutes on two cores. This is the tests' one CPython source build:
  python-slim copies its /usr/local, and tests/support/cpython.py derives an /opt
  install from it.
* ``python-slim``: ``python:3.11-slim``: the same /usr/local (copied, so CPython is
  built once) on minbase with only the runtime libraries the official clean-up keeps
  (found the official way: ``ldd`` of /usr/local, tkinter excluded, ``dpkg-query -S``).
* ``distroless-python``: ``gcr.io/distroless/python3-debian12``: only the files of the
  Debian packages distroless lists, unpacked with ``dpkg-deb -x``, with the package
  database as distroless writes it (``var/lib/dpkg/status.d/<pkg>`` and
  ``<pkg>.md5sums``; no ``status``, no shell, no ld.so.cache), users root, nobody and
  nonroot (65532).

The apps are listed in :data:`APPS`. Every image carries a recipe label (a hash of its
Dockerfile, its context and its parents' ids), which is also its tag (:func:`tag_of`):
an image whose tag already carries the label is reused, so the set builds once per
engine data root. Each image builds under a file lock of its own, up to
:data:`PARALLEL_BUILDS` at a time where the graph allows, while
tests/support/fileserver.py serves the downloads the ``RUN`` steps fetch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import parse_wheel_filename

from .baseimages import (
    MINBASE_TAG,
    RECIPE_LABEL,
    BuiltImage,
    ContextFile,
    _cached,
    build,
    debian_minbase,
)
from .downloads import CPYTHON_SHA256, CPYTHON_TARBALL, CPYTHON_VERSION, cpython_source, pypi
from .fileserver import BASE_URL, HOST, serve
from .services import DockerEngine, cache_dir, file_lock

__all__ = ["ALL_IMAGES", "APPS", "BASES", "Recipe", "build_image", "build_set", "tag_of"]

DATA = Path(__file__).resolve().parents[1] / "data" / "realistic"
APPS_DIR = DATA / "apps"
#: Top-level pins (what the apps and tools ask for) and the full resolved set.
WHEELS_LIST = DATA / "wheels.txt"
CONSTRAINTS = DATA / "constraints.txt"
WHEELS_URL = f"{BASE_URL}wheels/"
#: The same wheels as a PEP 503 "simple" index, for Poetry (its sources must be indexes).
SIMPLE_URL = f"{BASE_URL}simple/"
#: Bump to rebuild the whole set (a change to how every recipe is built).
SET_RECIPE_VERSION = "1"


def tag_of(name: str, recipe_hash: str) -> str:
    """The engine tag of image ``name`` of the set built from recipe ``recipe_hash``.

    The hash is the tag, not ``latest``: checkouts with different recipes share one
    engine (a branch's test run beside main's), and a tag one of them moved while the
    other builds ``FROM`` it or scans it would give that one the wrong image."""
    return f"imgaudit-test/realistic-{name}:{recipe_hash}"


#: Build arguments every RUN step that installs from PyPI reads (never in the config).
#: pip trusts plain HTTP from localhost only: the file server's name is trusted by name.
PIP_ARGS = f"""\
ARG PIP_NO_INDEX=1
ARG PIP_FIND_LINKS={WHEELS_URL}
ARG PIP_TRUSTED_HOST={HOST}
ARG PIP_DISABLE_PIP_VERSION_CHECK=1
"""

# --------------------------------------------------------------------------- bases

#: What debuerreotype does to make the official ``debian:bookworm`` image from a
#: debootstrap root: apt configured to keep no .deb files, package caches or translations
#: (``/etc/apt/apt.conf.d/docker-*``), one layer. Source:
#: https://github.com/debuerreotype/debuerreotype/blob/master/scripts/debuerreotype-minimizing-config
DEBIAN_TUNE = r"""
	printf '%s\n' \
		'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
		'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
		'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' \
		> /etc/apt/apt.conf.d/docker-clean; \
	echo 'Acquire::Languages "none";' > /etc/apt/apt.conf.d/docker-no-languages; \
	echo 'Acquire::GzipIndexes "true";' > /etc/apt/apt.conf.d/docker-gzip-indexes; \
	echo 'Apt::AutoRemove::SuggestsImportant "false";' > /etc/apt/apt.conf.d/docker-autoremove-suggests; \
	rm -f /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/cache/ldconfig/aux-cache"""  # noqa: E501

#: debuerreotype-slimify: dpkg told to skip docs, man pages and locales, and the ones
#: debootstrap installed removed (``debian:bookworm-slim``).
DEBIAN_SLIMIFY = r"""
	printf '%s\n' \
		'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
		'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/info/*' \
		'path-exclude /usr/share/linda/*' 'path-exclude /usr/share/lintian/overrides/*' \
		'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/man/*' \
		> /etc/dpkg/dpkg.cfg.d/docker; \
	find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete; \
	find /usr/share/doc -mindepth 1 -type d -empty -delete; \
	rm -rf /usr/share/groff/* /usr/share/info/* /usr/share/linda/* \
		/usr/share/lintian/overrides/* /usr/share/locale/* /usr/share/man/*"""

#: One layer, as ``docker import`` of debuerreotype's tarball gives (FROM scratch and a
#: COPY of the tuned root: the tuning's deletions leave no whiteouts behind).
DEBIAN = f"""\
# Adapted from debuerreotype (how the official debian:bookworm image is made)
FROM {MINBASE_TAG} AS tune
RUN set -eux; \\{{tune}}
FROM scratch
COPY --from=tune / /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["bash"]
"""

#: buildpack-deps:bookworm (curl + scm + the build packages), trimmed of the biggest
#: (ImageMagick, MySQL client, GLib dev) to keep the cold build short. Source:
#: https://github.com/docker-library/buildpack-deps/blob/master/debian/bookworm/Dockerfile
BUILDPACK = """\
# Adapted from docker-library/buildpack-deps debian/bookworm/{curl,scm,}/Dockerfile
FROM {debian}
RUN set -eux; \\
	apt-get update; \\
	apt-get install -y --no-install-recommends \\
		ca-certificates curl gnupg netbase wget \\
		git mercurial openssh-client procps \\
		autoconf automake bzip2 dpkg-dev file g++ gcc libbz2-dev libc6-dev \\
		libcurl4-openssl-dev libdb-dev libffi-dev libgdbm-dev libgmp-dev libjpeg-dev \\
		libkrb5-dev liblzma-dev libncurses5-dev libncursesw5-dev libpng-dev libpq-dev \\
		libreadline-dev libsqlite3-dev libssl-dev libtool libxml2-dev libxslt1-dev \\
		libyaml-dev make patch unzip xz-utils zlib1g-dev \\
	; \\
	rm -rf /var/lib/apt/lists/*
CMD ["bash"]
"""

#: python:3.11 (bookworm). Source:
#: https://github.com/docker-library/python/blob/master/3.11/bookworm/Dockerfile
#: Differences, none of which changes a file of the image:
#: - the tarball comes from Debian's archive (via the local file server) with its sha256
#:   checked instead of python.org + GPG; no --enable-optimizations / --with-lto (PGO and
#:   LTO would triple the compile);
#: - linked with ``--strip-all``, as the slim Dockerfile does (the full one keeps debug
#:   info): slim copies this /usr/local, so CPython is compiled once for both; and with
#:   the output stripped, ``-g`` only costs compile time, so dpkg-buildflags leaves it out
#:   (``DEB_CFLAGS_STRIP=-g``);
#: - ``make install`` does not byte-compile the standard library three times (compileall
#:   -o0, -O, -OO: the Makefile's call is replaced by ``python -c pass``): the next
#:   command of the same RUN deletes every ``.pyc`` under /usr/local, as upstream's does;
#: - no gdb auto-load script (/usr/share/gdb/auto-load): nothing to load without debug
#:   info.
PYTHON_FULL = f"""\
# Adapted from docker-library/python 3.11/bookworm/Dockerfile
FROM {{buildpack}}
ENV PATH /usr/local/bin:$PATH
ENV LANG C.UTF-8
RUN set -eux; \\
	apt-get update; \\
	apt-get install -y --no-install-recommends \\
		libbluetooth-dev \\
		tk-dev \\
		uuid-dev \\
	; \\
	rm -rf /var/lib/apt/lists/*
ENV PYTHON_VERSION {CPYTHON_VERSION}
ENV PYTHON_SHA256 {CPYTHON_SHA256}
{PIP_ARGS}RUN set -eux; \\
	\\
	wget -O python.tar.gz "{BASE_URL}{CPYTHON_TARBALL}"; \\
	echo "$PYTHON_SHA256 *python.tar.gz" | sha256sum -c -; \\
	mkdir -p /usr/src/python; \\
	tar --extract --directory /usr/src/python --strip-components=1 --file python.tar.gz; \\
	rm python.tar.gz; \\
	\\
	cd /usr/src/python; \\
	gnuArch="$(dpkg-architecture --query DEB_BUILD_GNU_TYPE)"; \\
	./configure \\
		--build="$gnuArch" \\
		--enable-loadable-sqlite-extensions \\
		--enable-option-checking=fatal \\
		--enable-shared \\
		--with-ensurepip \\
	; \\
	sed -i 's|$(DESTDIR)$(LIBDEST)/compileall.py|-c pass|' Makefile; \\
	nproc="$(nproc)"; \\
	EXTRA_CFLAGS="$(DEB_CFLAGS_STRIP=-g dpkg-buildflags --get CFLAGS)"; \\
	LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"; \\
	LDFLAGS="${{LDFLAGS:-}} -Wl,--strip-all"; \\
	make -j "$nproc" \\
		"EXTRA_CFLAGS=${{EXTRA_CFLAGS:-}}" \\
		"LDFLAGS=${{LDFLAGS:-}}" \\
	; \\
	rm python; \\
	make -j "$nproc" \\
		"EXTRA_CFLAGS=${{EXTRA_CFLAGS:-}}" \\
		"LDFLAGS=${{LDFLAGS:-}} -Wl,-rpath='\\$\\$ORIGIN/../lib'" \\
		python \\
	; \\
	make install; \\
	\\
	cd /; \\
	rm -rf /usr/src/python; \\
	\\
	find /usr/local -depth \\
		\\( \\
			\\( -type d -a \\( -name test -o -name tests -o -name idle_test \\) \\) \\
			-o \\( -type f -a \\( -name '*.pyc' -o -name '*.pyo' -o -name 'libpython*.a' \\) \\) \\
		\\) -exec rm -rf '{{}}' + \\
	; \\
	\\
	ldconfig; \\
	\\
	export PYTHONDONTWRITEBYTECODE=1; \\
	python3 --version; \\
	\\
	pip3 install \\
		--disable-pip-version-check \\
		--no-cache-dir \\
		--no-compile \\
		'setuptools==79.0.1' \\
		'wheel<0.46' \\
	; \\
	pip3 --version
RUN set -eux; \\
	for src in idle3 pip3 pydoc3 python3 python3-config; do \\
		dst="$(echo "$src" | tr -d 3)"; \\
		[ -s "/usr/local/bin/$src" ]; \\
		[ ! -e "/usr/local/bin/$dst" ]; \\
		ln -svT "$src" "/usr/local/bin/$dst"; \\
	done
CMD ["python3"]
"""

#: The official slim Dockerfile's way to find what /usr/local needs at run time, run in
#: the full image: the Debian packages owning every library ldd resolves outside
#: /usr/local for /usr/local's executables (tkinter excluded, as upstream does).
RUNTIME_PACKAGES_SCRIPT = r"""
find /usr/local -type f -executable -not \( -name '*tkinter*' \) -exec ldd '{}' ';' \
	| awk '/=>/ { so = $(NF-1); if (index(so, "/usr/local/") == 1) { next }; gsub("^/(usr/)?", "", so); printf "*%s\n", so }' \
	| sort -u \
	| xargs -r dpkg-query --search \
	| awk 'sub(":$", "", $1) { print $1 }' \
	| sort -u
"""  # noqa: E501

#: python:3.11-slim (bookworm). Source:
#: https://github.com/docker-library/python/blob/master/3.11/slim-bookworm/Dockerfile
#: Difference: instead of building CPython a second time, the one RUN step fetches the
#: ``make install`` result of python-full (its /usr/local, served as a tarball) where
#: upstream builds; the runtime packages the official ``apt-mark manual`` keeps are
#: installed by name, and wget is purged again as upstream purges its build deps.
PYTHON_SLIM = f"""\
# Adapted from docker-library/python 3.11/slim-bookworm/Dockerfile
FROM {{debian_slim}}
ENV PATH /usr/local/bin:$PATH
ENV LANG C.UTF-8
RUN set -eux; \\
	apt-get update; \\
	apt-get install -y --no-install-recommends \\
		ca-certificates \\
		netbase \\
		tzdata \\
	; \\
	rm -rf /var/lib/apt/lists/*
ENV PYTHON_VERSION {CPYTHON_VERSION}
ENV PYTHON_SHA256 {CPYTHON_SHA256}
RUN set -eux; \\
	\\
	savedAptMark="$(apt-mark showmanual)"; \\
	apt-get update; \\
	apt-get install -y --no-install-recommends wget; \\
	wget -O usr-local.tar "{BASE_URL}{{usr_local_tarball}}"; \\
	tar --extract --directory /usr --numeric-owner --file usr-local.tar; \\
	rm usr-local.tar; \\
	ldconfig; \\
	apt-mark auto '.*' > /dev/null; \\
	apt-mark manual $savedAptMark; \\
	apt-get install -y --no-install-recommends \\
		{{runtime_packages}} \\
	; \\
	apt-mark manual {{runtime_packages}}; \\
	apt-get purge -y --auto-remove -o APT::AutoRemove::RecommendsImportant=false; \\
	rm -rf /var/lib/apt/lists/*; \\
	\\
	export PYTHONDONTWRITEBYTECODE=1; \\
	python3 --version; \\
	pip3 --version
CMD ["python3"]
"""

#: gcr.io/distroless/python3-debian12: the packages of distroless's static, base, cc and
#: python3 (debian12) layers. Sources:
#: https://github.com/GoogleContainerTools/distroless/blob/main/python3/config.bzl (the
#: debian12 list, before python3-debian12 was removed), common/BUILD.bazel (passwd,
#: group, homes, /tmp), PACKAGE_METADATA.md (status.d layout).
DISTROLESS_PACKAGES = (
    "base-files netbase tzdata ca-certificates "
    "libc6 libssl3 libgcc-s1 libgomp1 libstdc++6 "
    "libbz2-1.0 libdb5.3 libexpat1 liblzma5 libsqlite3-0 libuuid1 libncursesw6 libtinfo6 "
    "python3-distutils zlib1g libcom-err2 libcrypt1 libgssapi-krb5-2 libk5crypto3 "
    "libkeyutils1 libkrb5-3 libkrb5support0 libnsl2 libreadline8 libtirpc3 libffi8 "
    "libpython3.11-minimal libpython3.11-stdlib python3.11-minimal"
)

DISTROLESS = f"""\
# Adapted from GoogleContainerTools/distroless python3 (debian12): Debian packages
# unpacked with dpkg-deb, metadata in /var/lib/dpkg/status.d, no shell, no ld.so.cache.
FROM {{debian}} AS unpack
RUN set -eux; \\
	apt-get update; \\
	mkdir /debs; cd /debs; \\
	apt-get download {DISTROLESS_PACKAGES}; \\
	rm -rf /var/lib/apt/lists/*
RUN set -eux; \\
	mkdir -p /rootfs/var/lib/dpkg/status.d /ctl; \\
	for deb in /debs/*.deb; do \\
		pkg="$(dpkg-deb --field "$deb" Package)"; \\
		dpkg-deb -x "$deb" /rootfs; \\
		dpkg-deb --field "$deb" > "/rootfs/var/lib/dpkg/status.d/$pkg"; \\
		rm -rf /ctl/*; dpkg-deb --control "$deb" /ctl; \\
		if [ -f /ctl/md5sums ]; then cp /ctl/md5sums "/rootfs/var/lib/dpkg/status.d/$pkg.md5sums"; fi; \\
	done; \\
	cd /rootfs; \\
	mkdir -p etc/ssl/certs tmp root home/nonroot; \\
	cat usr/share/ca-certificates/mozilla/*.crt > etc/ssl/certs/ca-certificates.crt; \\
	printf 'root:x:0:0:root:/root:/sbin/nologin\\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\\n' > etc/passwd; \\
	printf 'root:x:0:\\nnobody:x:65534:\\ntty:x:5:\\nstaff:x:50:\\nnonroot:x:65532:\\n' > etc/group; \\
	rm -f etc/os-release; \\
	printf 'PRETTY_NAME="Distroless"\\nNAME="Debian GNU/Linux"\\nID="debian"\\nVERSION_ID="12"\\nVERSION="Debian GNU/Linux 12 (bookworm)"\\nHOME_URL="https://github.com/GoogleContainerTools/distroless"\\n' > etc/os-release; \\
	chmod 1777 tmp; chmod 700 root home/nonroot; chown 65532:65532 home/nonroot; \\
	ln -s python3.11 usr/bin/python3; ln -s python3.11 usr/bin/python
FROM scratch
COPY --from=unpack /rootfs /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENV LANG=C.UTF-8
ENTRYPOINT ["/usr/bin/python3.11"]
"""  # noqa: E501

# --------------------------------------------------------------------------- apps


@dataclass(frozen=True)
class Recipe:
    """One image: its Dockerfile (placeholders such as ``{slim}`` stand for the tags of
    the set's images, :data:`PLACEHOLDERS`), what it exercises, the app directory under
    tests/data/realistic/apps it copies, and ``parents``: the set's images its Dockerfile
    names, whose ids are part of its recipe hash (a rebuilt base rebuilds it)."""

    name: str
    dockerfile: str
    exercises: str
    app: str | None = None
    parents: tuple[str, ...] = ()


OFFICIAL_GUIDE = f"""\
# Adapted from the python image's "How to use this image"
# (https://hub.docker.com/_/python, "Create a Dockerfile in your Python app project"),
# plus the usual libGL step for opencv-python (https://pypi.org/project/opencv-python/).
FROM {{full}}
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \\
 && rm -rf /var/lib/apt/lists/*
WORKDIR /usr/src/app
COPY requirements.txt ./
{PIP_ARGS}RUN pip install --no-cache-dir -r requirements.txt
COPY . .
CMD [ "python", "./app.py" ]
"""

FASTAPI = f"""\
# Adapted from https://fastapi.tiangolo.com/deployment/docker/ ("Dockerfile"),
# on the slim base instead of python:3.9.
FROM {{slim}}
WORKDIR /code
COPY ./requirements.txt /code/requirements.txt
{PIP_ARGS}RUN pip install --no-cache-dir --upgrade -r /code/requirements.txt
COPY ./app /code/app
CMD ["fastapi", "run", "app/main.py", "--port", "80"]
"""

MULTISTAGE_VENV = f"""\
# Adapted from https://pythonspeed.com/articles/multi-stage-docker-python/
# ("Solution #2: Virtualenv"), with a non-root user as Docker's best practices ask.
FROM {{full}} AS builder
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
COPY requirements.txt .
{PIP_ARGS}RUN pip install -r requirements.txt

FROM {{slim}}
COPY --from=builder /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
RUN useradd --create-home appuser
WORKDIR /app
COPY app.py config.yaml ./
USER appuser
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
"""

POETRY = f"""\
# Adapted from the widely copied Poetry multi-stage pattern
# (https://medium.com/@albertazzir/blazing-fast-python-docker-builds-with-poetry-a78a66f5aed0):
# in-project venv, `poetry install --only main --no-root`, venv copied to slim.
FROM {{full}} AS builder
{PIP_ARGS}RUN pip install poetry==1.8.5
ENV POETRY_NO_INTERACTION=1 \\
    POETRY_VIRTUALENVS_IN_PROJECT=1 \\
    POETRY_VIRTUALENVS_CREATE=1 \\
    POETRY_CACHE_DIR=/tmp/poetry_cache
WORKDIR /app
COPY pyproject.toml poetry.lock ./
RUN poetry install --only main --no-root && rm -rf $POETRY_CACHE_DIR

FROM {{slim}} AS runtime
ENV VIRTUAL_ENV=/app/.venv \\
    PATH="/app/.venv/bin:$PATH"
COPY --from=builder ${{VIRTUAL_ENV}} ${{VIRTUAL_ENV}}
WORKDIR /app
COPY app ./app
ENTRYPOINT ["python", "-m", "app.main"]
"""

UV = f"""\
# Adapted from https://docs.astral.sh/uv/guides/integration/docker/ and
# astral-sh/uv-docker-example multistage.Dockerfile: uv from its PyPI wheel instead of
# the ghcr.io image; the lock resolves against the local wheel server.
FROM {{slim}} AS builder
{PIP_ARGS}RUN pip install uv==0.5.4
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=0
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-install-project --no-dev
COPY . /app
RUN uv sync --frozen --no-dev

FROM {{slim}}
RUN groupadd --system --gid 999 nonroot \\
 && useradd --system --gid 999 --uid 999 --create-home nonroot
COPY --from=builder --chown=nonroot:nonroot /app /app
ENV PATH="/app/.venv/bin:$PATH"
USER nonroot
WORKDIR /app
CMD ["python", "-m", "app.main"]
"""

PIP_USER = f"""\
# Adapted from https://www.docker.com/blog/containerized-python-development-part-1/
# (multi-stage with `pip install --user`, ~/.local copied, PATH extended).
FROM {{slim}} AS builder
COPY requirements.txt .
{PIP_ARGS}RUN pip install --user -r requirements.txt

FROM {{slim}}
WORKDIR /code
COPY --from=builder /root/.local /root/.local
COPY app.py .
ENV PATH=/root/.local/bin:$PATH
CMD [ "python", "./app.py" ]
"""

DJANGO = f"""\
# Adapted from https://testdriven.io/blog/dockerizing-django-with-postgres-gunicorn-and-nginx/
# (psycopg2-binary, collectstatic, gunicorn, a non-root user owning /app).
FROM {{slim}}
ENV PYTHONDONTWRITEBYTECODE=1
ENV PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
{PIP_ARGS}RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN python manage.py collectstatic --noinput
RUN useradd -m appuser && chown -R appuser:appuser /app
USER appuser
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "mysite.wsgi:application"]
"""

DISTROLESS_APP = f"""\
# Adapted from GoogleContainerTools/distroless examples/python3-requirements/Dockerfile
# (debian12 era: the venv is made by Debian's python3-venv in a Debian stage and copied),
# running as nonroot like the :nonroot variant. debian-slim stands for debian:12-slim.
FROM {{debian_slim}} AS build
{PIP_ARGS}RUN apt-get update && \\
    apt-get install --no-install-suggests --no-install-recommends --yes python3-venv && \\
    python3 -m venv /venv && \\
    /venv/bin/pip install --upgrade pip setuptools wheel

FROM build AS build-venv
COPY requirements.txt /requirements.txt
{PIP_ARGS}RUN /venv/bin/pip install --disable-pip-version-check -r /requirements.txt

FROM {{distroless}}
COPY --from=build-venv /venv /venv
COPY . /app
WORKDIR /app
USER 65532
ENTRYPOINT ["/venv/bin/python3", "main.py"]
"""

BASES: tuple[Recipe, ...] = (
    Recipe("python-full", PYTHON_FULL, "python:3.11 look-alike: source CPython in /usr/local "
           "on a buildpack-deps base (compilers, -dev headers, Debian python3 via mercurial)",
           parents=("buildpack",)),
    Recipe("python-slim", PYTHON_SLIM, "python:3.11-slim look-alike: the same /usr/local, "
           "runtime libraries only (tkinter's Tk libraries left out, as upstream)",
           parents=("debian-slim", "python-full")),
    Recipe("distroless-python", DISTROLESS, "python3-debian12 look-alike: Debian's python "
           "unpacked from .debs, status.d dpkg data, no shell, no ld.so.cache",
           parents=("debian",)),
)  # fmt: skip

APPS: tuple[Recipe, ...] = (
    Recipe("official-guide", OFFICIAL_GUIDE, "single stage on the full image as root, "
           "pip into the system site-packages, opencv-python's vendored libraries",
           app="official-guide", parents=("python-full",)),
    Recipe("fastapi", FASTAPI, "FastAPI docs on slim, root, fastapi[standard] console "
           "script as CMD, many binary wheels", app="fastapi", parents=("python-slim",)),
    Recipe("multistage-venv", MULTISTAGE_VENV, "venv built on full, copied to slim, "
           "non-root user, read-only app", app="multistage-venv",
           parents=("python-full", "python-slim")),
    Recipe("poetry", POETRY, "Poetry in-project venv (--only main) copied to slim, root, "
           "python -m entrypoint", app="poetry", parents=("python-full", "python-slim")),
    Recipe("uv", UV, "uv sync --frozen --no-dev, compiled bytecode, /app owned by the "
           "runtime user (venv writable)", app="uv", parents=("python-slim",)),
    Recipe("pip-user", PIP_USER, "pip install --user, ~/.local copied, root", app="pip-user",
           parents=("python-slim",)),
    Recipe("django", DJANGO, "Django + gunicorn + psycopg2-binary (vendored libpq), "
           "collectstatic, chown -R of /app to the runtime user", app="django",
           parents=("python-slim",)),
    Recipe("distroless-app", DISTROLESS_APP, "Debian venv copied into the distroless "
           "look-alike, uid 65532, no shell", app="distroless",
           parents=("debian-slim", "distroless-python")),
)  # fmt: skip

ALL_IMAGES: tuple[Recipe, ...] = BASES + APPS

#: Images the set is built on but does not judge (debian:bookworm, debian:bookworm-slim
#: and buildpack-deps:bookworm look-alikes), in build order with what each is made from.
SUPPORT: tuple[Recipe, ...] = (
    Recipe("debian", DEBIAN.replace("{tune}", DEBIAN_TUNE), "debian:bookworm look-alike"),
    Recipe("debian-slim", DEBIAN.replace("{tune}", DEBIAN_TUNE + "; \\" + DEBIAN_SLIMIFY),
           "debian:bookworm-slim look-alike"),
    Recipe("buildpack", BUILDPACK, "buildpack-deps:bookworm look-alike", parents=("debian",)),
)  # fmt: skip
#: Dockerfile placeholder -> image name.
PLACEHOLDERS = {
    "debian": "debian",
    "debian_slim": "debian-slim",
    "buildpack": "buildpack",
    "full": "python-full",
    "slim": "python-slim",
    "distroless": "distroless-python",
}


def _digest_tree(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _fill(template: str, **values: str) -> str:
    """Put the bases' tags into a Dockerfile (``{name}``): plain replacement, because the
    Dockerfiles are full of shell braces."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def _recipe_hash(*parts: str) -> str:
    return hashlib.sha256("|".join((SET_RECIPE_VERSION, *parts)).encode()).hexdigest()[:16]


def _files_dir() -> Path:
    """The served directory for single files: CPython's source and python-full's
    /usr/local (``BASE_URL + name``)."""
    root = cache_dir() / "realistic" / "files"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _served() -> dict[str, Path]:
    """What the file server publishes while the set builds: the pinned wheels
    (``wheels/``, pip's and uv's find-links), a PEP 503 index of them (``simple/``, for
    Poetry) and :func:`_files_dir` (downloaded once each, into the test cache)."""
    wheels = pypi(requirement_files=[WHEELS_LIST], constraints=CONSTRAINTS, deps=True,
                  label="realistic")  # fmt: skip
    simple = wheels.with_name(wheels.name + ".simple")
    if not (simple / "index.html").exists():
        with file_lock(wheels.with_name(wheels.name + ".lock")):
            write_simple_index(wheels, simple)
    files = _files_dir()
    source = files / CPYTHON_TARBALL
    if not source.exists():
        partial = source.with_name(source.name + ".partial")
        partial.unlink(missing_ok=True)
        partial.symlink_to(cpython_source())
        partial.replace(source)
    return {"wheels": wheels, "simple": simple, "": files}


def write_simple_index(wheels: Path, simple: Path) -> None:
    """``simple/<project>/index.html`` linking each wheel of ``wheels`` (served at
    ``wheels/``): the PEP 503 layout Poetry needs for a source."""
    projects: dict[str, list[str]] = {}
    for wheel in sorted(wheels.glob("*.whl")):
        project = parse_wheel_filename(wheel.name)[0]
        projects.setdefault(project, []).append(wheel.name)
    partial = simple.with_name(simple.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name, files in projects.items():
        (partial / name).mkdir()
        anchors = "".join(f'<a href="../../wheels/{f}">{f}</a>\n' for f in files)
        page = f"<!DOCTYPE html><html><body>\n{anchors}</body></html>\n"
        (partial / name / "index.html").write_text(page)
    links = "".join(f'<a href="{name}/">{name}</a>\n' for name in projects)
    (partial / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    shutil.rmtree(simple, ignore_errors=True)
    partial.replace(simple)


def _usr_local_tarball(engine: DockerEngine, full: BuiltImage) -> str:
    """python-full's /usr/local as a tar among the served files (made once per image id);
    return its name. python-slim's RUN step fetches it where upstream builds CPython."""
    root = _files_dir()
    name = f"usr-local-{full.id.removeprefix('sha256:')[:24]}.tar"
    target = root / name
    if target.exists():
        return name
    with file_lock(root / "usr-local.lock"):
        if target.exists():
            return name
        for stale in root.glob("usr-local-*.tar"):  # an earlier python-full's, ~200 MB each
            stale.unlink()
        client = engine.client()
        try:
            container = client.containers.create(full.id, ["true"])
            try:
                stream, _ = container.get_archive("/usr/local")
                partial = target.with_name(name + ".partial")
                with open(partial, "wb") as out:
                    for chunk in stream:
                        out.write(chunk)
                partial.replace(target)
            finally:
                container.remove(force=True)
        finally:
            client.close()
    return name


def _runtime_packages(engine: DockerEngine, full: BuiltImage) -> list[str]:
    """Run the official slim clean-up's package query in the full image (once per full
    image id: the answer is kept beside the other caches)."""
    memo = cache_dir() / "realistic" / f"runtime-packages-{full.id.removeprefix('sha256:')[:24]}"
    if memo.exists():
        return memo.read_text().split()
    client = engine.client()
    try:
        output = client.containers.run(
            full.id, ["-c", RUNTIME_PACKAGES_SCRIPT], entrypoint=["sh"],
            network_mode="none", remove=True,
        )  # fmt: skip
    finally:
        client.close()
    packages = sorted(set(output.decode().split()) - {"libc6"})
    partial = memo.with_name(memo.name + f".{os.getpid()}.partial")
    partial.write_text("\n".join(packages) + "\n")
    partial.replace(memo)
    return packages


#: name -> seconds each image took to build in this process (0 when reused from cache).
BUILD_SECONDS: dict[str, float] = {}
#: How many images build at once: the set's graph is wide after python-slim (eight apps
#: whose pip steps are single-threaded and wait on I/O); the engine builds them side by
#: side. CPython's own compile (make -j nproc) has nothing beside it but small steps.
PARALLEL_BUILDS = 3

RECIPES: dict[str, Recipe] = {r.name: r for r in SUPPORT + ALL_IMAGES}


def _app_context(recipe: Recipe) -> dict[str, ContextFile]:
    if recipe.app is None:
        return {}
    root = APPS_DIR / recipe.app
    return {
        str(path.relative_to(root)): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def _with_ancestors(names: Iterable[str]) -> list[str]:
    """``names`` and every set image they are built from, parents first."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for parent in RECIPES[name].parents:
            visit(parent)
        order.append(name)

    for name in names:
        visit(name)
    return order


class _SetBuilder:
    """Builds images of the set, each once: reused when the engine holds its tag with
    the recipe label, else built under a lock of its own (so another process waiting for
    python-full does not wait for the apps). The file server starts with the first
    image that must be built."""

    def __init__(self, engine: DockerEngine, stack: contextlib.ExitStack) -> None:
        self.engine = engine
        self.minbase = debian_minbase(engine)
        self.stack = stack
        self.buildargs: dict[str, str] | None = None
        self.server_lock = threading.Lock()

    def _server(self) -> dict[str, str]:
        with self.server_lock:
            if self.buildargs is None:
                self.buildargs = self.stack.enter_context(serve(_served()))
            return self.buildargs

    def build(self, name: str, parents: Mapping[str, BuiltImage]) -> BuiltImage:
        recipe = RECIPES[name]
        values = {key: parents[image].tag for key, image in PLACEHOLDERS.items()
                  if image in parents}  # fmt: skip
        if name == "python-slim":
            full = parents["python-full"]
            values["runtime_packages"] = " ".join(_runtime_packages(self.engine, full))
            values["usr_local_tarball"] = _usr_local_tarball(self.engine, full)
        text = _fill(recipe.dockerfile, **values)
        app_digest = _digest_tree(APPS_DIR / recipe.app) if recipe.app else ""
        recipe_hash = _recipe_hash(
            self.minbase.id, *(parents[p].id for p in recipe.parents), text, app_digest
        )
        tag = tag_of(name, recipe_hash)
        cached = _cached(self.engine, tag, recipe_hash)
        if cached is None:
            with file_lock(cache_dir() / "realistic" / f"{name}.lock"):
                cached = _cached(self.engine, tag, recipe_hash)
                if cached is None:
                    start = time.monotonic()
                    image_id = build(self.engine, tag, text, _app_context(recipe),
                                     labels={RECIPE_LABEL: recipe_hash},
                                     buildargs=self._server())  # fmt: skip
                    BUILD_SECONDS[name] = time.monotonic() - start
                    return BuiltImage(tag=tag, id=image_id)
        BUILD_SECONDS.setdefault(name, 0.0)
        return cached


def _build(engine: DockerEngine, names: Iterable[str]) -> dict[str, BuiltImage]:
    """Build ``names`` and their ancestors, up to :data:`PARALLEL_BUILDS` at a time.

    Jobs are submitted parents first to a FIFO pool, so a job that waits for its parents
    waits only for jobs already running: no deadlock."""
    order = _with_ancestors(names)
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(PARALLEL_BUILDS) as pool:
        builder = _SetBuilder(engine, stack)
        jobs: dict[str, Future[BuiltImage]] = {}

        def job(name: str) -> BuiltImage:
            parents = {p: jobs[p].result() for p in RECIPES[name].parents}
            return builder.build(name, parents)

        for name in order:
            jobs[name] = pool.submit(job, name)
        return {name: jobs[name].result() for name in order}


def build_image(engine: DockerEngine, name: str) -> BuiltImage:
    """Image ``name`` of the set (a base, an app or a support image such as
    ``buildpack``), built with what it is made from if the engine lacks it."""
    return _build(engine, [name])[name]


def build_set(engine: DockerEngine) -> dict[str, BuiltImage]:
    """Build (or reuse) every image of the set; return name -> image (judged images only)."""
    built = _build(engine, [r.name for r in ALL_IMAGES])
    return {r.name: built[r.name] for r in ALL_IMAGES}
