"""The Dockerfile parser and the matching of history steps to its lines (`--dockerfile`).

The classic builder's `created_by` strings below are what Docker's classic builder
wrote for PROBE (copied from `docker history --no-trunc`); the BuildKit strings follow
BuildKit's dockerfile2llb (`RUN |N K=V /bin/sh -c ... # buildkit`, `COPY src dest #
buildkit`, `EXPOSE map[8080/tcp:{}]`), as the engine's BuildKit writes them too.
tests/integration/test_dockerfile_lines.py builds such files with both builders of the
real engine and asserts the same lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.dockerfile import Dockerfile, parse_file, parse_text, pattern
from auditor.dockerfile_lines import locate_in
from auditor.dockerfile_match import match
from auditor.errors import InputError
from auditor.findings import Finding, Severity

PROBE = """\
ARG BASE=imgaudit-test/bookworm-minbase:latest
FROM ${BASE} AS build
ARG PYVER=3.11
RUN echo build-$PYVER > /built
FROM build
ARG APPDIR=/app
ARG EXTRA
ENV APP_HOME=${APPDIR} \\
    MODE=prod
WORKDIR ${APP_HOME}
COPY app.py .
COPY src/ ${APPDIR}/src/
COPY --from=build --chown=1000:1000 /built /built2
ADD app.py /opt/
RUN echo $PYVER $EXTRA \\
  # a comment
  && useradd -m app
RUN ["/bin/echo", "exec form"]
LABEL org.example.k="v v"
EXPOSE 8080
USER app
CMD ["python", "app.py"]
"""
H = "6c2facadde42287672a0b9cc307fe01d8f46c4d25722d72d21e57e6980cb2283"
CLASSIC = [  # (created_by, empty_layer) as Docker 28's classic builder wrote them
    ("", False),  # the base image (docker import writes no created_by)
    ("/bin/sh -c #(nop)  ARG PYVER=3.11", True),
    ("|1 PYVER=3.11 /bin/sh -c echo build-$PYVER > /built", False),
    ("/bin/sh -c #(nop)  ARG APPDIR=/app", True),
    ("/bin/sh -c #(nop)  ARG EXTRA", True),
    ("/bin/sh -c #(nop)  ENV APP_HOME=/app MODE=prod", True),
    ("/bin/sh -c #(nop) WORKDIR /app", False),
    (f"/bin/sh -c #(nop) COPY file:{H} in . ", False),
    (f"/bin/sh -c #(nop) COPY dir:{H[::-1]} in /app/src/ ", False),
    (f"/bin/sh -c #(nop) COPY --chown=1000:1000file:{H} in /built2 ", False),
    (f"/bin/sh -c #(nop) ADD file:{H} in /opt/ ", False),
    ("|2 APPDIR=/app EXTRA=hello /bin/sh -c echo $PYVER $EXTRA   && useradd -m app", False),
    ("|2 APPDIR=/app EXTRA=hello /bin/echo exec form", True),
    ("/bin/sh -c #(nop)  LABEL org.example.k=v v", True),
    ("/bin/sh -c #(nop)  EXPOSE 8080", True),
    ("/bin/sh -c #(nop)  USER app", True),
    ('/bin/sh -c #(nop)  CMD ["python" "app.py"]', True),
]
BUILDKIT = [
    ("/bin/sh -c #(nop) ADD file:0123abcd in / ", False),
    ('/bin/sh -c #(nop)  CMD ["bash"]', True),
    ("ARG PYVER=3.11", True),
    ("RUN |1 PYVER=3.11 /bin/sh -c echo build-$PYVER > /built # buildkit", False),
    ("ARG APPDIR=/app", True),
    ("ARG EXTRA=hello", True),
    ("ENV APP_HOME=/app MODE=prod", True),
    ("WORKDIR /app", False),
    ("COPY app.py . # buildkit", False),
    ("COPY src/ /app/src/ # buildkit", False),
    ("COPY --chown=1000:1000 /built /built2 # buildkit", False),
    ("ADD app.py /opt/ # buildkit", False),
    ("RUN |2 APPDIR=/app EXTRA=hello /bin/sh -c echo $PYVER $EXTRA   && useradd -m app"
     " # buildkit", False),
    ("RUN |2 APPDIR=/app EXTRA=hello /bin/echo exec form # buildkit", False),
    ("LABEL org.example.k=v v", True),
    ("EXPOSE map[8080/tcp:{}]", True),
    ("USER app", True),
    ('CMD ["python" "app.py"]', True),
]  # fmt: skip
# the line of each instruction of the final image, in build order
PROBE_LINES = [3, 4, 6, 7, 8, 10, 11, 12, 13, 14, 15, 18, 19, 20, 21, 22]


def config(steps: list[tuple[str, bool]]) -> dict[str, Any]:
    return {
        "history": [{"created_by": s, **({"empty_layer": True} if e else {})} for s, e in steps]
    }


def layers(steps: list[tuple[str, bool]]) -> int:
    return sum(1 for _, empty in steps if not empty)


# ---- the parser -------------------------------------------------------------------------


def test_stages_lines_and_the_chain_of_the_final_stage() -> None:
    df = parse_text(PROBE)
    assert [(s.name, s.base, s.line) for s in df.stages] == [
        ("build", "${BASE}", 2),
        (None, "build", 5),
    ]
    assert df.global_args == {"BASE": "imgaudit-test/bookworm-minbase:latest"}
    # FROM build: the final image's history holds stage build's steps, then its own
    assert [i.line for i in df.final_instructions()] == PROBE_LINES
    run = df.final_instructions()[10]
    assert (run.cmd, run.line, run.end_line) == ("RUN", 15, 17)
    assert "comment" not in run.original  # a comment inside a continued line is dropped
    copy = df.final_instructions()[8]
    assert copy.flag("from") == "build" and copy.flag("chown") == "1000:1000"


def test_heredocs_escape_directive_and_comments() -> None:
    text = (
        "# escape=`\n"
        "# a comment\n"
        "FROM scratch\n"
        "RUN <<EOT\n"
        "set -e\n"
        "echo hi\n"
        "EOT\n"
        "COPY <<EOF /etc/motd\n"
        "hello\n"
        "EOF\n"
        "RUN echo a `\n"
        "  && echo b\n"
        "USER app\n"
    )
    df = parse_text(text)
    got = [(i.cmd, i.line, i.end_line) for i in df.final_instructions()]
    assert got == [("RUN", 4, 7), ("COPY", 8, 10), ("RUN", 11, 12), ("USER", 13, 13)]
    heredoc = df.final_instructions()[0].heredocs[0]
    assert (heredoc.name, heredoc.content) == ("EOT", "set -e\necho hi\n")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("RUN echo hi\n", "RUN before the first FROM"),
        ("# nothing\n", "no instructions"),
        ("ARG A=1\n", "no FROM instruction"),
        ("FROM scratch\nRUN <<EOT\nnever closed\n", "not a Dockerfile"),
    ],
)
def test_bad_dockerfiles_are_input_errors(text: str, error: str) -> None:
    with pytest.raises(InputError, match=error):
        parse_text(text, "bad/Dockerfile")


def test_an_unreadable_dockerfile_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read it"):
        parse_file(tmp_path / "missing")


def test_substitution_patterns() -> None:
    env = {"A": "/app", "EMPTY": "", "UNKNOWN": None}
    assert pattern("${A}/src/", env) == "/app/src/"
    assert pattern("$A:${EMPTY:-x}:${EMPTY-y}:${A:+z}", env) == "/app:x::z"
    assert pattern(r"\$A", env) == r"\$A"
    # a value the scan cannot know matches one word, never more
    assert pattern("${UNKNOWN}/bin", env) == r"\S*/bin"
    assert pattern("$NEVER_DECLARED", env) == r"\S*"
    # two unknowns in one word: one unknown word (linear matching on hostile history)
    assert pattern("${UNKNOWN}/bin:$PATH $A", env) == r"\S*\ /app"


# ---- matching ---------------------------------------------------------------------------


@pytest.mark.parametrize("history", [CLASSIC, BUILDKIT], ids=["classic", "buildkit"])
def test_every_step_of_the_final_stage_gets_its_line(history: list[tuple[str, bool]]) -> None:
    m = match(parse_text(PROBE), config(history), layers(history))
    assert [x.instruction.line for x in m.matched if x.instruction] == PROBE_LINES
    assert m.missing == ()
    report = m.to_json()
    assert report["base_steps"] == len(history) - len(PROBE_LINES)
    assert report["unmatched_steps"] == [] and "problem" not in report
    # the layer of `RUN echo $PYVER ...` is the one at line 15
    run_layer = next(x.step.layer for x in m.matched if x.instruction.line == 15)  # type: ignore[union-attr]
    assert m.for_layer(run_layer).line == 15  # type: ignore[union-attr]


def test_an_out_of_date_dockerfile_leaves_the_changed_step_without_a_line() -> None:
    # (the classic builder records a COPY's destination and a content hash, not its
    # sources: a COPY that changed only its source still matches; its destination not)
    stale = PROBE.replace("&& useradd -m app", "&& useradd -m web").replace(
        "COPY app.py .", "COPY app.py /srv/"
    )
    m = match(parse_text(stale), config(CLASSIC), layers(CLASSIC))
    assert sorted(i.line for i in m.missing) == [11, 15]
    same_dest = PROBE.replace("COPY app.py .", "COPY main.py .")
    assert match(parse_text(same_dest), config(CLASSIC), layers(CLASSIC)).missing == ()
    assert 11 in [
        i.line for i in match(parse_text(same_dest), config(BUILDKIT), layers(BUILDKIT)).missing
    ]
    report = m.to_json()
    unmatched = [s["created_by"] for s in report["unmatched_steps"]]
    assert len(unmatched) == 2 and "useradd -m app" in unmatched[1]
    assert "differ" in report["problem"]
    assert [x.instruction.line for x in m.matched if x.instruction] == [
        line for line in PROBE_LINES if line not in (11, 15)
    ]


def test_another_images_dockerfile_matches_nothing() -> None:
    other = "FROM scratch\nRUN make\nCOPY out /srv/\nUSER nobody\n"
    m = match(parse_text(other), config(CLASSIC), layers(CLASSIC))
    assert m.matched == []
    report = m.to_json()
    assert report["base_steps"] == len(CLASSIC)
    assert "not the Dockerfile this image was built from" in report["problem"]


def test_the_final_stages_own_step_wins_over_a_base_step_that_reads_the_same() -> None:
    history = [
        ("/bin/sh -c #(nop) ADD file:0123abcd in / ", False),
        ("/bin/sh -c #(nop) WORKDIR /app", False),  # the base image's
        ("/bin/sh -c pip install flask", False),
        ("/bin/sh -c #(nop) WORKDIR /app", False),  # the Dockerfile's
        ("/bin/sh -c #(nop) COPY dir:abc123 in . ", False),
    ]
    m = match(parse_text("FROM base\nWORKDIR /app\nCOPY . .\n"), config(history), 5)
    assert [(x.step.index, x.role) for x in m.steps] == [
        (0, "base"),
        (1, "base"),
        (2, "base"),
        (3, "matched"),
        (4, "matched"),
    ]


ARG_HEAVY = """\
ARG PY=3.11
ARG DIST=bookworm
FROM python:${PY}-slim-${DIST}
ARG PY
ARG APP=/srv/app
ARG UID
ARG VENV=${APP}/.venv
ENV PATH=${VENV}/bin:$PATH \\
    PYTHONDONTWRITEBYTECODE=1
WORKDIR ${APP}
COPY --chown=${UID} requirements.txt ${APP}/
RUN python${PY} -m venv $VENV && pip install -r requirements.txt
WORKDIR src
COPY . .
USER ${UID}
"""


def test_arg_values_come_from_the_history_not_from_guesses() -> None:
    # built with --build-arg APP=/opt/web --build-arg UID=10001: the classic builder
    # shows the defaults in ARG steps and the values used in each RUN's |N prefix
    history = [
        ("/bin/sh -c #(nop) ADD file:0123abcd in / ", False),
        ('/bin/sh -c #(nop)  ENV PATH=/usr/local/bin:/usr/bin:/bin', True),
        ("/bin/sh -c #(nop)  ARG PY", True),
        ("/bin/sh -c #(nop)  ARG APP=/srv/app", True),
        ("/bin/sh -c #(nop)  ARG UID", True),
        ("/bin/sh -c #(nop)  ARG VENV=/opt/web/.venv", True),
        ("/bin/sh -c #(nop)  ENV PATH=/opt/web/.venv/bin:/usr/local/bin:/usr/bin:/bin "
         "PYTHONDONTWRITEBYTECODE=1", True),
        ("/bin/sh -c #(nop) WORKDIR /opt/web", False),
        ("/bin/sh -c #(nop) COPY --chown=10001file:abc123 in /opt/web/ ", False),
        ("|4 APP=/opt/web PY=3.11 UID=10001 VENV=/opt/web/.venv /bin/sh -c "
         "python${PY} -m venv $VENV && pip install -r requirements.txt", False),
        ("/bin/sh -c #(nop) WORKDIR /opt/web/src", False),
        ("/bin/sh -c #(nop) COPY dir:abc123 in . ", False),
        ("/bin/sh -c #(nop)  USER 10001", True),
    ]  # fmt: skip
    m = match(parse_text(ARG_HEAVY), config(history), 6)
    assert [x.instruction.line for x in m.matched if x.instruction] == [
        4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15
    ]  # fmt: skip
    assert m.to_json()["base_steps"] == 2
    # the ARG's default (/srv/app) is not what this build used: a WORKDIR step that
    # reads /srv/app while every RUN saw APP=/opt/web is not line 10
    wrong = [(t.replace("WORKDIR /opt/web", "WORKDIR /srv/app"), e) for t, e in history]
    m2 = match(parse_text(ARG_HEAVY), config(wrong), 6)
    assert 10 not in [x.instruction.line for x in m2.matched if x.instruction]


def test_buildkit_heredoc_run() -> None:
    df = parse_text("FROM scratch\nRUN <<EOT\nset -e\necho hi\nEOT\nUSER app\n")
    history = [
        ("RUN /bin/sh -c set -e\necho hi\n # buildkit", False),
        ("USER app", True),
    ]
    m = match(df, config(history), 1)
    assert [x.instruction.line for x in m.matched if x.instruction] == [2, 6]


# ---- findings ---------------------------------------------------------------------------


def finding(check_id: str, layer: int | None) -> Finding:
    return Finding(check_id, "demo", Severity.WARNING, "something", "fix it", layer=layer)


def located(df: Dockerfile, findings: list[Finding]) -> list[Finding]:
    return locate_in(df, config(CLASSIC), layers(CLASSIC), findings).findings


def test_findings_point_at_the_line_and_the_remedy_names_it() -> None:
    df = parse_text(PROBE, "docker/Dockerfile")
    run_layer = 7  # |2 APPDIR=... echo $PYVER ...: the eighth layer
    base, run, unknown = located(
        df, [finding("SZ004", 0), finding("BL004", run_layer), finding("SZ004", None)]
    )
    assert base.dockerfile is None and base.remedy == "fix it"
    assert unknown.dockerfile is None
    assert run.dockerfile is not None
    assert run.dockerfile.to_json() == {
        "path": "docker/Dockerfile",
        "line": 15,
        "instruction": "RUN echo $PYVER $EXTRA && useradd -m app",
    }
    assert run.remedy == "line 15: `RUN echo $PYVER $EXTRA && useradd -m app`: fix it"
    assert Finding.from_json(run.to_json()) == run


def test_runs_as_root_points_at_the_user_line_or_says_where_it_goes() -> None:
    as_root = PROBE.replace("USER app", "USER root")
    history = [(t.replace("USER app", "USER root"), e) for t, e in CLASSIC]
    (f,) = locate_in(parse_text(as_root), config(history), 8, [finding("SEC001", None)]).findings
    assert f.dockerfile is not None and f.dockerfile.line == 21
    assert f.remedy.startswith("line 21: `USER root` sets a root user")

    no_user = PROBE.replace("USER app\n", "")
    history = [(t, e) for t, e in CLASSIC if "USER" not in t]
    (f,) = locate_in(parse_text(no_user), config(history), 8, [finding("SEC001", None)]).findings
    assert f.dockerfile is None  # no line wrote it: never a guessed one
    assert f.remedy == (
        'Dockerfile sets no USER: fix it, before line 21 (`CMD ["python", "app.py"]`)'
    )


def test_classic_arg_steps_show_defaults_not_the_build_args() -> None:
    """ARG_HEAVY built by Docker 28's classic builder with --build-arg APP_HOME=/srv/web
    UID=10042 VERSION=2.3.1 (tests/integration/test_dockerfile_lines.py): its ARG step
    reads `APP_HOME=/opt/app`, the default; the ENV step shows the value used."""
    from tests.integration.test_dockerfile_lines import ARG_HEAVY as REAL
    from tests.integration.test_dockerfile_lines import ARG_HEAVY_LINES

    history = [
        ("", False),
        ("/bin/sh -c #(nop)  ARG APP_HOME=/opt/app", True),
        ("/bin/sh -c #(nop)  ARG UID", True),
        ("/bin/sh -c #(nop)  ARG GID=10042", True),
        ("/bin/sh -c #(nop)  ARG VERSION", True),
        ("/bin/sh -c #(nop)  ENV APP_HOME=/srv/web APP_VERSION=2.3.1 PATH=/srv/web/bin:"
         "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", True),
        ("/bin/sh -c #(nop) WORKDIR /srv/web", False),
        (f"/bin/sh -c #(nop) COPY dir:{H} in /srv/web/ ", False),
        ("|3 GID=10042 UID=10042 VERSION=2.3.1 /bin/sh -c groupadd --gid ${GID} app  && "
         "useradd --uid ${UID} --gid ${GID} --no-create-home app  && mkdir -p "
         "${APP_HOME}/data  && chmod 0777 ${APP_HOME}/data", False),
        ("/bin/sh -c #(nop)  LABEL org.opencontainers.image.version=2.3.1", True),
        ("/bin/sh -c #(nop)  USER root", True),
        ("/bin/sh -c #(nop)  EXPOSE 8000", True),
        ('/bin/sh -c #(nop)  CMD ["run.sh"]', True),
    ]  # fmt: skip
    m = match(parse_text(REAL), config(history), 4)
    assert [x.instruction.line for x in m.matched if x.instruction] == ARG_HEAVY_LINES
    # a WORKDIR step that reads the default is not the line: the ENV step said /srv/web
    stale = [(t.replace("WORKDIR /srv/web", "WORKDIR /opt/app"), e) for t, e in history]
    m = match(parse_text(REAL), config(stale), 4)
    assert [i.line for i in m.missing] == [11]


def test_exec_form_copy_with_flags_and_an_image_without_history() -> None:
    df = parse_text('FROM scratch\nCOPY --chown=1:1 ["my file", "/srv/x y/"]\n')
    history = [("COPY --chown=1:1 my file /srv/x y/ # buildkit", False)]
    matched = match(df, config(history), 1).matched
    assert [x.instruction.line for x in matched if x.instruction] == [2]
    classic = [("/bin/sh -c #(nop) COPY --chown=1:1file:abc123 in /srv/x y/ ", False)]
    assert len(match(df, config(classic), 1).matched) == 1
    squashed = match(df, {}, 1).to_json()
    assert squashed["matched"] == [] and "no build history" in squashed["problem"]


@pytest.mark.timeout(30)
def test_a_hostile_history_is_matched_quickly_or_not_at_all() -> None:
    """The history comes from the image: a huge step or a huge history must not make
    the scan hang (patterns with `\\S*` are quadratic on a long word)."""
    df = parse_text(ARG_HEAVY)
    word = "x" * 2_000_000
    huge = [("", False), (f"ENV PATH={word}/bin:{word} PYTHONDONTWRITEBYTECODE=1", True)]
    m = match(df, config(huge), 1)
    assert m.matched == []
    # many long ENV steps made to backtrack: each comparison stays linear
    spiky = [(f"ENV PATH={'/bin:' * 800}x PYTHONDONTWRITEBYTECODE=0", True)] * 4000
    assert match(df, config(spiky), 0).matched == []
    endless = [("/bin/sh -c #(nop)  ARG PY", True)] * 5000
    report = match(df, config(endless), 0).to_json()
    assert report["matched"] == [] and "more than 4096 steps" in report["problem"]


_STEP_TEXTS = [t for t, _ in CLASSIC + BUILDKIT] + [
    "/bin/sh -c #(nop) WORKDIR /app",
    "RUN /bin/sh -c make # buildkit",
    "USER root",
    "",
    "|9 junk",
    "COPY  # buildkit",
]


@given(
    st.lists(st.tuples(st.sampled_from(_STEP_TEXTS), st.booleans()), max_size=40),
    st.integers(min_value=0, max_value=40),
)
@settings(max_examples=150, deadline=None)
def test_any_history_gives_an_ordered_match_of_the_same_kinds(
    history: list[tuple[str, bool]], layer_count: int
) -> None:
    """Whatever the image's history: matched steps keep the Dockerfile's order, each is
    of its instruction's kind, base steps come first, and no step has two lines."""
    m = match(parse_text(PROBE), config(history), layer_count)
    matched = m.matched
    assert [x.instruction.line for x in matched if x.instruction] == sorted(
        x.instruction.line for x in matched if x.instruction
    )
    for x in matched:
        assert x.instruction is not None and x.instruction.cmd == x.step.kind
    roles = [x.role for x in m.steps]
    assert roles == sorted(roles, key=lambda r: r != "base")
    assert len(m.missing) + len(matched) == len(PROBE_LINES)
    assert all(x.step.layer is None or x.step.layer < layer_count for x in m.steps)
