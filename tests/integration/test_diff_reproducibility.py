"""`imgaudit diff` of two real Docker builds of the same source (Debian minbase).

The Dockerfile has one COPY (the engine keeps the file's mtime from the context, but
creates the /app directory at build time) and one RUN that writes a marker file and a
log line: a RUN step stamps the build time into every file it touches. The second
build runs with --no-cache a few seconds later, so exactly those timestamps differ,
and every layer but the base differs because of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from auditor.cli import main
from tests.support.baseimages import BuiltImage, build, save
from tests.support.services import DockerEngine

TAG = f"imgaudit-test/repro:p{os.getpid()}"
DOCKERFILE = """\
FROM {base}
COPY app.py /app/app.py
RUN touch /app/marker && echo built >> /var/log/build.log
"""


@pytest.fixture(scope="module")
def two_builds(
    docker_engine: DockerEngine, bookworm_minbase: BuiltImage, tmp_path_factory
) -> Iterator[tuple[Path, Path]]:
    tmp = tmp_path_factory.mktemp("repro")
    dockerfile = DOCKERFILE.format(base=bookworm_minbase.tag)
    files = {"app.py": "print('hello')\n"}
    paths = []
    ids = []
    for n in (1, 2):
        ids.append(build(docker_engine, f"{TAG}-{n}", dockerfile, files, nocache=True))
        paths.append(save(docker_engine, f"{TAG}-{n}", tmp / f"build{n}.tar"))
        time.sleep(1.1)  # the second build's RUN happens in a later second
    yield paths[0], paths[1]
    client = docker_engine.client()
    try:
        for image_id in ids:
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(image_id, force=True)
    finally:
        client.close()


def test_two_builds_differ_only_in_timestamps(two_builds, capsys):
    old, new = two_builds
    assert main(["diff", "-q", "-f", "json", f"docker-archive:{old}", f"docker-archive:{new}"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["basis"] == "filesystem"
    assert [ly["status"] for ly in d["layers"]] == ["same", "added", "added", "removed", "removed"]
    assert d["size"]["delta"] == 0
    assert d["paths"]["items"] == []  # nothing grew or shrank
    repro = [(r["path"], r["category"]) for r in d["reproducibility"]["differences"]]
    assert repro == [
        ("(image config)", "metadata"),
        ("/app", "mtime"),  # created by COPY at build time
        ("/app/marker", "mtime"),
        ("/var/log", "mtime"),
        ("/var/log/build.log", "log"),
    ]  # /app/app.py keeps the context's mtime: not listed
