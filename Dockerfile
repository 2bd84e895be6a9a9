# imgaudit as a container image, built the way imgaudit asks Python images to be built:
# multi-stage, slim Debian base, a venv that is root-owned and read-only to a non-root
# user, no compiler and no pip at run time, bytecode compiled at build time (checked-hash
# pycs: valid whatever the layer mtimes, reproducible), file mtimes normalised.
#
#   docker build -t imgaudit .
#   docker build --build-arg BASE=registry.example/python:3.11-slim-bookworm -t imgaudit .
#
# BASE must be a CPython image with pip >= 22.3 (for `pip --python`) in its interpreter,
# as the official python:*-slim images are; both stages use it, so the venv's interpreter
# is the runtime's.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS builder
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
# Where pip finds packages when PyPI is not the way (a mirror, a wheel directory served
# on the build host): e.g. --build-arg PIP_INDEX_URL=https://mirror.example/simple.
# Build arguments reach the RUN steps of this stage only, never the final image.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
ARG PIP_TRUSTED_HOST
# The wheel is built from the repository (setuptools comes from PyPI, build isolation).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY auditor ./auditor
COPY checks ./checks
RUN python -m pip wheel --no-deps --wheel-dir /wheels /src
# The runtime venv never gets pip (--without-pip): the builder's pip installs into it.
# Its pycs are written once, in checked-hash mode, after the last write to the venv.
ARG SOURCE_DATE_EPOCH=0
RUN python -m venv --without-pip /opt/imgaudit \
 && python -m pip --python /opt/imgaudit/bin/python install --no-compile /wheels/*.whl \
 && /opt/imgaudit/bin/python -m compileall -q --invalidation-mode checked-hash /opt/imgaudit \
 && /opt/imgaudit/bin/imgaudit --version \
 && find /opt/imgaudit -exec touch --no-dereference --date="@${SOURCE_DATE_EPOCH}" '{}' +

FROM ${BASE}
ARG BASE
LABEL org.opencontainers.image.title="imgaudit" \
      org.opencontainers.image.description="Audit finished container images for Python applications" \
      org.opencontainers.image.base.name="${BASE}"
# A system user with a home for the layer cache (~/.cache/imgaudit, the user's own, so a
# volume mounted there starts owned by the user and keeps the cache); no login shell.
# The slim images keep CPython's _tkinter extension but not the Tcl/Tk libraries it
# links (`import _tkinter` fails: imgaudit's EL001); imgaudit never imports it, so the
# broken extension goes rather than Tk and its X11 libraries coming in.
RUN useradd --system --user-group --uid 10001 --create-home --home-dir /home/imgaudit \
        --shell /usr/sbin/nologin --no-log-init imgaudit \
 && install -d -o imgaudit -g imgaudit /home/imgaudit/.cache \
 && rm -f "$(python3 -B -c 'import sysconfig; print(sysconfig.get_path("platstdlib"))')"/lib-dynload/_tkinter.*.so
# Root-owned (COPY's default), so the user can read and run the venv but not change it.
COPY --from=builder /opt/imgaudit /opt/imgaudit
ENV PATH=/opt/imgaudit/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER imgaudit
WORKDIR /home/imgaudit
ENTRYPOINT ["imgaudit"]
CMD ["--help"]
