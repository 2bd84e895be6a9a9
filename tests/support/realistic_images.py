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
  the build takes minutes on two cores.
* ``python-slim``: ``python:3.11-slim``: the same /usr/local (copied, so CPython is
  built once) on minbase with only the runtime libraries the official clean-up keeps
  (found the official way: ``ldd`` of /usr/local, tkinter excluded, ``dpkg-query -S``).
* ``distroless-python``: ``gcr.io/distroless/python3-debian12``: only the files of the
  Debian packages distroless lists, unpacked with ``dpkg-deb -x``, with the package
  database as distroless writes it (``var/lib/dpkg/status.d/<pkg>`` and
  ``<pkg>.md5sums``; no ``status``, no shell, no ld.so.cache), users root, nobody and
  nonroot (65532).

The apps are listed in :data:`APPS`. Every image carries a recipe label (a hash of its
Dockerfile, its context and its parents' ids): an image whose tag already carries the
label is reused, so the set builds once per engine data root, under a file lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .baseimages import (
    MINBASE_TAG,
    RECIPE_LABEL,
    BuiltImage,
    ContextFile,
    _cached,
    build,
    debian_minbase,
)
from .realistic_wheels import (
    CPYTHON_SHA256,
    CPYTHON_TARBALL,
    CPYTHON_VERSION,
    SERVER_URL,
    WHEELS_URL,
    served_dir,
    wheel_server,
)
from .services import DockerEngine, cache_dir, file_lock

__all__ = ["ALL_IMAGES", "APPS", "BASES", "Recipe", "build_set", "tag_of"]

APPS_DIR = Path(__file__).resolve().parents[1] / "data" / "realistic" / "apps"
#: Bump to rebuild the whole set (a change to how every recipe is built).
SET_RECIPE_VERSION = "1"


def tag_of(name: str) -> str:
    """The engine tag of image ``name`` of the set."""
    return f"imgaudit-test/realistic-{name}:latest"


#: Build arguments every RUN step that installs from PyPI reads (never in the config).
PIP_ARGS = f"""\
ARG PIP_NO_INDEX=1
ARG PIP_FIND_LINKS={WHEELS_URL}
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
#: Differences: the tarball comes from Debian's archive (via the local server) with its
#: sha256 checked instead of python.org + GPG; no --enable-optimizations / --with-lto.
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
	wget -O python.tar.gz "{SERVER_URL}{CPYTHON_TARBALL}"; \\
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
	nproc="$(nproc)"; \\
	EXTRA_CFLAGS="$(dpkg-buildflags --get CFLAGS)"; \\
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
	wget -O usr-local.tar "{SERVER_URL}{{usr_local_tarball}}"; \\
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


def _usr_local_tarball(engine: DockerEngine, full: BuiltImage, root: Path) -> str:
    """python-full's /usr/local as a tar in the served directory (made once per image id);
    return its name. python-slim's RUN step fetches it where upstream builds CPython."""
    name = f"usr-local-{full.id.removeprefix('sha256:')[:24]}.tar"
    target = root / name
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
    memo.write_text("\n".join(packages) + "\n")
    return packages


#: name -> seconds each image took to build in this process (0 when reused from cache).
BUILD_SECONDS: dict[str, float] = {}


def _build_cached(
    engine: DockerEngine,
    name: str,
    dockerfile: str,
    context: Mapping[str, ContextFile],
    recipe: str,
) -> BuiltImage:
    tag = tag_of(name)
    cached = _cached(engine, tag, recipe)
    if cached is not None:
        BUILD_SECONDS.setdefault(name, 0.0)
        return cached
    start = time.monotonic()
    image_id = build(engine, tag, dockerfile, context, labels={RECIPE_LABEL: recipe})
    BUILD_SECONDS[name] = time.monotonic() - start
    return BuiltImage(tag=tag, id=image_id)


def _app_context(recipe: Recipe) -> dict[str, ContextFile]:
    if recipe.app is None:
        return {}
    root = APPS_DIR / recipe.app
    return {
        str(path.relative_to(root)): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def build_set(engine: DockerEngine) -> dict[str, BuiltImage]:
    """Build (or reuse) every image of the set; return name -> image (judged images only).

    One file lock for the whole set, so parallel test processes build it once; the
    wheel server runs only while something must be built.
    """
    with file_lock(cache_dir() / "realistic" / "images.lock"), contextlib.ExitStack() as stack:
        minbase = debian_minbase(engine)
        built: dict[str, BuiltImage] = {}
        server_up = False

        def values() -> dict[str, str]:
            return {key: built[name].tag for key, name in PLACEHOLDERS.items() if name in built}

        for recipe in SUPPORT + ALL_IMAGES:
            extra: dict[str, str] = {}
            if recipe.name == "python-slim":
                full = built["python-full"]
                extra["runtime_packages"] = " ".join(_runtime_packages(engine, full))
                extra["usr_local_tarball"] = _usr_local_tarball(engine, full, served_dir())
            text = _fill(recipe.dockerfile, **values(), **extra)
            app_digest = _digest_tree(APPS_DIR / recipe.app) if recipe.app else ""
            recipe_hash = _recipe_hash(
                minbase.id, *(built[p].id for p in recipe.parents), text, app_digest
            )
            tag = tag_of(recipe.name)
            if not server_up and _cached(engine, tag, recipe_hash) is None:
                stack.enter_context(wheel_server())
                server_up = True
            built[recipe.name] = _build_cached(
                engine, recipe.name, text, _app_context(recipe), recipe_hash
            )
        judged = {r.name for r in ALL_IMAGES}
        return {name: image for name, image in built.items() if name in judged}
