"""Secrets masked in what a report repeats of the image's build history: SEC008 tells
the user a build argument leaked, and the report (a CI artifact, a log, a SARIF upload)
must not carry it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.cli import main
from auditor.history import clean_step
from auditor.redaction import redact
from auditor.report.formats import OutputFormat
from tests import factory
from tests.factory import File, Layer
from tests.images import write

TOKEN = "pypi-AgEIcHlwaS5vcmcCJDQ1leaked"
KEPT = (  # no secret value: a variable, a file indirection, a key id by name alone
    "ENV API_KEY=${API_KEY} PASSWORD_FILE=/run/s/pw",
    "ENV GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D",
)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"PYPI_TOKEN={TOKEN} /bin/sh -c x", "PYPI_TOKEN=py… /bin/sh -c x"),
        ("pip install -i https://ci:hunter22@repo.example/simple app",
         "pip install -i https://ci:hu…@repo.example/simple app"),
        ("ENV DB_PASSWORD=s3cretpw MODE=prod", "ENV DB_PASSWORD=s3… MODE=prod"),
        (KEPT[0], KEPT[0]),
        (KEPT[1], KEPT[1]),
        ("git clone https://github.com/org/repo.git", "git clone https://github.com/org/repo.git"),
    ],
)  # fmt: skip
def test_redact_masks_secret_values_only(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_a_run_step_is_shown_without_its_build_arguments() -> None:
    """Both builders record the arguments a RUN step was given before its command;
    the Dockerfile line has none (BuildKit's form kept them before)."""
    for text in (
        f"RUN |2 PYPI_TOKEN={TOKEN} X=1 /bin/sh -c pip install app # buildkit",
        f"|2 PYPI_TOKEN={TOKEN} X=1 /bin/sh -c pip install app",
    ):
        assert clean_step(text) == "RUN pip install app"
    assert clean_step(f"RUN |1 PYPI_TOKEN={TOKEN} /bin/echo hi # buildkit") == "RUN /bin/echo hi"


@pytest.mark.parametrize("fmt", [f.value for f in OutputFormat])
def test_no_report_repeats_a_leaked_build_argument(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step = f"RUN |1 PYPI_TOKEN={TOKEN} /bin/sh -c pip install -r requirements.txt # buildkit"
    url = "RUN /bin/sh -c pip install -i https://ci:hunter22@repo.example/simple app # buildkit"
    layers = [Layer([File("app/a.py", b"print(1)\n")], step), Layer([File("app/b", b"")], url)]
    ref = write(factory.build(factory.ImageSpec(layers=layers)), tmp_path, "oci")
    code = main(["scan", "-q", "-f", fmt, ref])
    out = capsys.readouterr().out
    assert code in (0, 1) and out
    assert TOKEN not in out and "hunter22" not in out
    if fmt == "json":
        assert "PYPI_TOKEN (py…)" in out  # SEC008 said it, masked


def test_hostile_history_text_is_read_in_linear_time() -> None:
    """A history entry is the image's own text: a long run of scheme characters, or many
    `x://` in one word, must not make the URL search quadratic (200 KB here: quadratic
    would take minutes)."""
    from auditor.redaction import url_secret
    from checks import sec008_secrets

    for text in ("a" * 200_000, "a.b-" * 50_000 + "://u:p@h", "x://" * 50_000, "A=" * 100_000):
        assert redact(text) is not None
        url_secret(text)
        sec008_secrets.history_secrets([{"created_by": f"RUN |1 T={text} /bin/sh -c {text}"}], {})
