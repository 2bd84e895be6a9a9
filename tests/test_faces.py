"""One pipeline, many faces: `scan`, `diff`, `fleet` and the Python API report the same
findings for the same image under the same `[tool.imgaudit]` config.

The config is found the way every face finds it (a pyproject.toml in the working
directory), and it changes what the image's findings are in every way a config can:
`strict` adds SEC006 findings, `disable` drops SEC001, `severity` raises SZ003 and an
ignore hides two SEC006 paths. Each face is compared with `imgaudit scan --format json`,
which in turn is checked to have applied the config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor import Report, Settings, audit
from auditor.cli import main
from auditor.fleet.runs import FleetStore
from tests.checks.support import debian_base
from tests.factory import File, ImageSpec, Layer, build, write_docker_archive

CONFIG = """\
[tool.imgaudit]
strict = true
disable = ["SEC001"]
severity = { SZ003 = "warning" }

[[tool.imgaudit.ignore]]
check = "SEC006"
path = "/usr/bin/ch*"
reason = "chfn and chsh stay for the login shell setup"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with the config and the image, as the working directory."""
    spec = ImageSpec(
        name="example.org/faces/app:1",
        layers=[
            debian_base(),
            Layer(
                [
                    File("app/main.py", b"print(1)\n"),
                    File("root/.cache/pip/x.whl", b"y" * 4000),
                    # the command's program (a stand-in: a command on no PATH directory
                    # is a PY007 error)
                    File("usr/bin/python3", b"stand-in\n", mode=0o755),
                ],
                "COPY . /app",
            ),
        ],
        config={"Cmd": ["python3", "/app/main.py"]},
    )
    write_docker_archive(build(spec), tmp_path / "app.tar")
    (tmp_path / "pyproject.toml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    for name in ("IMGAUDIT_CONFIG", "IMGAUDIT_STRICT", "IMGAUDIT_DISABLE", "IMGAUDIT_ENABLE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def scan_json(project: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = main(["scan", f"docker-archive:{project / 'app.tar'}", "-f", "json", "-q", *argv])
    assert code == 0  # SEC001, the only error, is disabled
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def summary(findings: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(f["check_id"], f["severity"], f.get("path")) for f in findings]


def test_scan_applies_the_config(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = summary(scan_json(project, capsys)["findings"])
    assert ("SZ003", "warning", "/root/.cache/pip/x.whl") in found  # severity override
    setuid = [path for check, _, path in found if check == "SEC006"]  # strict
    assert "/usr/bin/passwd" in setuid and "/usr/bin/su" in setuid
    assert not [p for p in setuid if p and p.startswith("/usr/bin/ch")]  # the ignore
    assert "SEC001" not in {check for check, _, _ in found}  # disabled


def test_python_api_gives_the_scan_report(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = scan_json(project, capsys)
    report = audit(str(project / "app.tar"), config=project / "pyproject.toml")
    assert isinstance(report, Report)
    api = report.to_json()
    assert {**api, "source": None} == {**cli, "source": None}  # the only part that may differ
    assert Report.from_json(cli) == report
    # without a config argument, the config is found as the command line finds it
    assert audit(f"docker-archive:{project / 'app.tar'}").to_json() == cli
    # and Settings() are the defaults: the config is not read
    defaults = audit(f"docker-archive:{project / 'app.tar'}", Settings())
    assert "SEC001" in {f.check_id for f in defaults.findings or ()}


def test_diff_reports_the_image_as_scan_does(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An image against its own scan report: nothing new, nothing fixed, the same score.
    Under another config the image's side differs, so the comparison can fail."""
    report = project / "report.json"
    report.write_text(json.dumps(scan_json(project, capsys)))
    image = f"docker-archive:{project / 'app.tar'}"
    assert main(["diff", image, str(report), "-f", "json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["findings"] == {"new": [], "fixed": []}
    assert same["scores"]["old"] == same["scores"]["new"]
    empty = project / "empty.toml"
    empty.write_text("")
    assert main(["diff", image, str(report), "-f", "json", "--config", str(empty)]) == 0
    other = json.loads(capsys.readouterr().out)
    # the report's strict SEC006 findings are "new", the image's SEC001 "fixed"
    assert {f["check_id"] for f in other["findings"]["new"]} == {"SEC006"}
    assert [f["check_id"] for f in other["findings"]["fixed"]] == ["SEC001"]


def test_fleet_records_the_scan_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed")
    cli = scan_json(project, capsys)
    db = f"sqlite:///{project / 'history.db'}"
    out = project / "fleet.json"
    argv = ["fleet", str(project / "app.tar"), "--db", db, "--cache-dir", str(project / "c")]
    assert main([*argv, "-q", "-f", "json", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    (image,) = doc["images"]
    with FleetStore(db) as store:
        stored = store.report(image["scan_id"])
    assert stored is not None
    assert stored["findings"] == cli["findings"]
    assert stored["scores"] == cli["scores"] and stored["config"] == cli["config"]
