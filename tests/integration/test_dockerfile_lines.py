"""`--dockerfile` on images the real engine built: each finding names the line it came from.

Built from the debootstrap minbase by the test dockerd twice: with the classic builder
(docker SDK, tests/support/baseimages.py) and with the engine's BuildKit
(tests/support/buildkit.py: `POST /build?version=2`; `DOCKER_BUILDKIT=1 docker build`
itself needs the buildx plugin, which no package here provides). The engine's built-in
frontend (dockerd 20.10) has no heredocs, so heredocs are tested on BuildKit's history
format in tests/test_dockerfile.py only.

The lines expected below are the Dockerfiles' own (counted by eye and asserted against
the parser too); a finding is expected on a line only where its layer was written by it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.dockerfile import parse_text
from tests.support import buildkit
from tests.support.baseimages import MINBASE_TAG, BuiltImage, build, save
from tests.support.services import DockerEngine

RUN_SH = b"#!/bin/sh\necho app\n"

MULTI_STAGE = f"""\
FROM {MINBASE_TAG} AS base
RUN useradd --uid 10001 --no-create-home app

FROM base AS build
WORKDIR /src
COPY app/ ./
RUN chmod 0755 run.sh \\
 && echo built > build-info.txt

FROM base
WORKDIR /opt/app
COPY --from=build /src/ ./
# a data directory anyone may write: SEC007
RUN mkdir data && chmod 0777 data
CMD ["/opt/app/run.sh"]
"""
# the final stage continues stage `base`: its RUN (line 2) is the image's too
MULTI_STAGE_LINES = [2, 11, 12, 14, 15]

ARG_HEAVY = """\
ARG BASE=imgaudit-test/bookworm-minbase
ARG TAG=latest
FROM ${BASE}:${TAG}
ARG APP_HOME=/opt/app
ARG UID
ARG GID=${UID}
ARG VERSION
ENV APP_HOME=${APP_HOME} \\
    APP_VERSION=${VERSION:-dev} \\
    PATH=${APP_HOME}/bin:$PATH
WORKDIR ${APP_HOME}
COPY app/ ${APP_HOME}/
RUN groupadd --gid ${GID} app \\
 && useradd --uid ${UID} --gid ${GID} --no-create-home app \\
 && mkdir -p ${APP_HOME}/data \\
 && chmod 0777 ${APP_HOME}/data
LABEL org.opencontainers.image.version=${VERSION}
USER root
EXPOSE 8000
CMD ["run.sh"]
"""
ARG_HEAVY_LINES = [4, 5, 6, 7, 8, 11, 12, 13, 17, 18, 19, 20]
BUILD_ARGS = {"APP_HOME": "/srv/web", "UID": "10042", "VERSION": "2.3.1"}


BUILDERS = ["classic", "buildkit"]


def _build(engine: DockerEngine, builder: str, name: str, text: str, **kw: Any) -> BuiltImage:
    tag = f"imgaudit-test/dockerfile-{name}-{builder}:latest"
    make = build if builder == "classic" else buildkit.build
    image_id = make(engine, tag, text, {"app/run.sh": RUN_SH}, **kw)
    return BuiltImage(tag=tag, id=image_id)


def scan(
    engine: DockerEngine,
    image: BuiltImage,
    dockerfile: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    archive = tmp_path / "image.tar"
    if not archive.exists():
        save(engine, image.tag, archive)
    (tmp_path / "Dockerfile").write_text(dockerfile)
    code = main(
        ["scan", "-q", "-f", "json", f"docker-archive:{archive}", "--dockerfile", "Dockerfile"]
    )
    assert code in (0, 1)
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def history_length(engine: DockerEngine, tag: str) -> int:
    client = engine.client()
    try:
        return len(client.api.history(tag))
    finally:
        client.close()


def lines_by_layer(report: dict[str, Any]) -> dict[int, int]:
    return {
        m["layer"]: m["line"] for m in report["dockerfile"]["matched"] if m["layer"] is not None
    }


def assert_findings_follow_their_layers(report: dict[str, Any]) -> None:
    """Every finding on a matched layer names that layer's line; no other finding has
    a line (the base image's layers have none), except SEC001 on a USER line."""
    by_layer = lines_by_layer(report)
    for f in report["findings"]:
        if f["check_id"] == "SEC001":
            continue
        expected = by_layer.get(f.get("layer"))  # type: ignore[arg-type]
        got = f.get("dockerfile", {}).get("line")
        assert got == expected, f
        if expected is not None:
            assert f["remedy"].startswith(f"line {expected}: `")


@pytest.fixture(scope="module", params=BUILDERS)
def multi_stage(
    request: pytest.FixtureRequest, docker_engine: DockerEngine, bookworm_minbase: BuiltImage
) -> BuiltImage:
    return _build(docker_engine, request.param, "multistage", MULTI_STAGE)


@pytest.fixture(scope="module", params=BUILDERS)
def arg_heavy(
    request: pytest.FixtureRequest, docker_engine: DockerEngine, bookworm_minbase: BuiltImage
) -> BuiltImage:
    return _build(docker_engine, request.param, "args", ARG_HEAVY, buildargs=BUILD_ARGS)


def test_multi_stage(
    docker_engine: DockerEngine,
    bookworm_minbase: BuiltImage,
    multi_stage: BuiltImage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    final = parse_text(MULTI_STAGE).final_instructions()
    assert [i.line for i in final] == MULTI_STAGE_LINES  # the lines, by the parser too
    report = scan(docker_engine, multi_stage, MULTI_STAGE, tmp_path, capsys)
    section = report["dockerfile"]
    assert [m["line"] for m in section["matched"]] == MULTI_STAGE_LINES
    assert section["base_steps"] == history_length(docker_engine, bookworm_minbase.tag)
    assert section["unmatched_steps"] == [] == section["unmatched_instructions"]
    assert "problem" not in section
    assert_findings_follow_their_layers(report)
    # the world-writable data directory was made at line 14
    (data,) = [f for f in report["findings"] if f["check_id"] == "SEC007"]
    assert data["path"] == "/opt/app/data"
    assert data["dockerfile"] == {
        "path": "Dockerfile",
        "line": 14,
        "instruction": "RUN mkdir data && chmod 0777 data",
    }
    # no USER anywhere: SEC001 has no line, and says where USER goes
    (root,) = [f for f in report["findings"] if f["check_id"] == "SEC001"]
    assert "dockerfile" not in root
    assert root["remedy"].endswith('before line 15 (`CMD ["/opt/app/run.sh"]`)')


def test_arg_heavy_built_with_build_args(
    docker_engine: DockerEngine,
    arg_heavy: BuiltImage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert [i.line for i in parse_text(ARG_HEAVY).final_instructions()] == ARG_HEAVY_LINES
    report = scan(docker_engine, arg_heavy, ARG_HEAVY, tmp_path, capsys)
    section = report["dockerfile"]
    assert [m["line"] for m in section["matched"]] == ARG_HEAVY_LINES
    assert "problem" not in section
    assert_findings_follow_their_layers(report)
    # the build used --build-arg APP_HOME=/srv/web, not the default /opt/app
    (data,) = [f for f in report["findings"] if f["check_id"] == "SEC007"]
    assert data["path"] == "/srv/web/data" and data["dockerfile"]["line"] == 13
    (root,) = [f for f in report["findings"] if f["check_id"] == "SEC001"]
    assert root["dockerfile"] == {"path": "Dockerfile", "line": 18, "instruction": "USER root"}


def test_an_out_of_date_dockerfile_gets_no_line_for_what_changed(
    docker_engine: DockerEngine,
    arg_heavy: BuiltImage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    # the same image, scanned with the Dockerfile as it reads after an edit the image
    # was not rebuilt for: the RUN changed, a COPY moved
    edited = ARG_HEAVY.replace("chmod 0777", "chmod 0755").replace(
        "COPY app/ ${APP_HOME}/", "COPY app/ ${APP_HOME}/lib/"
    )
    report = scan(docker_engine, arg_heavy, edited, tmp_path, capsys)
    section = report["dockerfile"]
    assert [i["line"] for i in section["unmatched_instructions"]] == [12, 13]
    assert len(section["unmatched_steps"]) == 2
    assert "differ" in section["problem"]
    (data,) = [f for f in report["findings"] if f["check_id"] == "SEC007"]
    assert "dockerfile" not in data  # its step matches no line now: none is guessed
    assert_findings_follow_their_layers(report)


LEAKY = """\
FROM imgaudit-test/bookworm-minbase:latest
ARG PYPI_TOKEN
ARG PIP_INDEX_URL=https://ci:hunter2-index@pypi.example/simple
RUN echo "installed with $PYPI_TOKEN" > /dev/null && echo $PIP_INDEX_URL > /dev/null
ENV DEPLOY_PASSWORD=first-deploy-pw
ENV DEPLOY_PASSWORD=
"""
LEAKED_TOKEN = "pypi-AgEIcHlwaS5vcmcCJDQ1leaked"


@pytest.fixture(scope="module", params=BUILDERS)
def leaky(
    request: pytest.FixtureRequest, docker_engine: DockerEngine, bookworm_minbase: BuiltImage
) -> BuiltImage:
    return _build(
        docker_engine, request.param, "leaky", LEAKY, buildargs={"PYPI_TOKEN": LEAKED_TOKEN}
    )


def test_secrets_the_build_history_shows(
    docker_engine: DockerEngine,
    leaky: BuiltImage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--build-arg PYPI_TOKEN=...` used by a RUN step, an ARG default with a password in
    its URL, an ENV password a later ENV emptied: the engine's own history (`docker
    history --no-trunc`) prints each; SEC008 says each, masked, and nothing of the
    final Env (empty)."""
    monkeypatch.chdir(tmp_path)
    client = docker_engine.client()
    try:
        shown = " ".join(h["CreatedBy"] for h in client.api.history(leaky.tag))
    finally:
        client.close()
    assert LEAKED_TOKEN in shown and "first-deploy-pw" in shown and "hunter2-index" in shown
    report = scan(docker_engine, leaky, LEAKY, tmp_path, capsys)
    said = sorted(
        (f["evidence"]["history"], f["evidence"]["as"])
        for f in report["findings"]
        if f["check_id"] == "SEC008"
    )
    assert said == [
        ("DEPLOY_PASSWORD (fi…)", "an ENV step"),
        ("PIP_INDEX_URL (a URL with a password)", "an ARG default, a build argument of a RUN step"),
        ("PYPI_TOKEN (py…)", "a build argument of a RUN step"),
    ]
    # what imgaudit says masks them, and no part of the report repeats the build argument
    # (the report quotes the Dockerfile's own lines too: the ARG default and the ENV are
    # in the user's file already)
    said_text = json.dumps([(f["message"], f["evidence"]) for f in report["findings"]])
    assert not any(s in said_text for s in (LEAKED_TOKEN, "hunter2-index", "first-deploy-pw"))
    assert LEAKED_TOKEN not in json.dumps(report)
