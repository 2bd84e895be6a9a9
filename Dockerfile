# imgaudit as an image, built the way imgaudit judges images (tests/integration/
# test_own_image.py builds it and scans it: grade A, no warning from these layers).
#
#   docker build -t imgaudit .
#   docker run --rm -v "$PWD:/src" imgaudit scan /src/app.tar
#   docker run --rm -v /var/run/docker.sock:/var/run/docker.sock \
#       --group-add "$(stat -c %g /var/run/docker.sock)" imgaudit scan myorg/app:1.4
#
# BASE: any Debian-based CPython >= 3.10 image with python3 in /usr/local/bin (the
# official slim images); both stages use it, so the venv's interpreter exists at run
# time. Offline builds: --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=URL
# (build arguments reach the RUN steps, never the image's config).
ARG BASE=python:3.12-slim-bookworm

FROM ${BASE} AS build
ARG PIP_INDEX_URL
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY auditor/ auditor/
COPY checks/ checks/
# The venv loses its installers (no pip at run time); every module gets checked-hash
# bytecode (PEP 552): valid whatever the layer's timestamps, the same on every rebuild.
RUN python3 -m venv /opt/imgaudit \
    && /opt/imgaudit/bin/pip install --no-compile . \
    && /opt/imgaudit/bin/pip uninstall --yes pip setuptools wheel \
    && /opt/imgaudit/bin/python -m compileall -q -f --invalidation-mode checked-hash /opt/imgaudit/lib

FROM ${BASE}
# First, as it never changes: the runtime user; and the base's _tkinter goes, which the
# official slim images keep without Tcl/Tk (its import fails; imgaudit never needs it).
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin imgaudit \
    && rm -f /usr/local/lib/python3*/lib-dynload/_tkinter.*.so
# Root-owned, not writable by the runtime user: the code it runs cannot be changed by it.
COPY --from=build /opt/imgaudit /opt/imgaudit
ENV PATH=/opt/imgaudit/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER imgaudit
ENTRYPOINT ["imgaudit"]
CMD ["--help"]
