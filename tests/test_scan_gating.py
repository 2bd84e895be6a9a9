"""The scan command end to end: scores, base/own provenance, --fail-on/--fail-under exits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.report import table
from tests.checks.support import debian_base, real_file
from tests.factory import Dir, File, ImageSpec, Layer, build, write_docker_archive

APP_USER = b"app:x:10001:10001::/home/app:/usr/sbin/nologin\n"


def app_layers() -> list[Layer]:
    return [
        Layer(
            [
                File("etc/passwd", real_file("passwd") + APP_USER),
                File("etc/group", real_file("group") + b"app:x:10001:\n"),
                Dir("home/app", 0o755, 10001, 10001),
                File("app/main.py", b"print('hello')\n" * 100),
            ],
            "COPY . /app",
        )
    ]


def archive(tmp_path: Path, name: str, spec: ImageSpec) -> str:
    return f"docker-archive:{write_docker_archive(build(spec), tmp_path / name)}"


@pytest.fixture
def images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no config file found upward from here
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("IMGAUDIT_FAIL_ON", "IMGAUDIT_FAIL_UNDER", "IMGAUDIT_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    base = ImageSpec(layers=[debian_base()])
    good = ImageSpec(layers=[debian_base(), *app_layers()], config={"User": "app"})
    root = ImageSpec(layers=[debian_base(), *app_layers()])
    return {
        "base": archive(tmp_path, "base.tar", base),
        "good": archive(tmp_path, "good.tar", good),
        "root": archive(tmp_path, "root.tar", root),
    }


def scan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["scan", "-q", "-f", "json", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_clean_non_root_image_scores_a_and_passes(images, capsys) -> None:  # type: ignore[no-untyped-def]
    code, report = scan_json(capsys, images["good"])
    assert code == 0
    assert report["findings"] == []
    assert report["scores"] == {
        "overall": 100, "grade": "A", "secure": 100, "small": 100, "fast": 100, "usable": 100
    }  # fmt: skip
    statuses = {r["check_id"]: r["status"] for r in report["results"]}
    assert statuses["OS006"] == "skipped" and statuses["SEC002"] == "passed"
    assert "error" not in statuses.values()


def test_root_image_fails_on_error_with_base_marked(images, capsys) -> None:  # type: ignore[no-untyped-def]
    code, report = scan_json(capsys, images["root"], "--base", images["base"], "--strict")
    assert code == 1
    assert report["facts"]["provenance"] == {
        "base": images["base"],
        "method": "--base",
        "base_layers": 1,
        "reason": f"layer 0 is the base's: they equal {images['base']}'s (--base)",
    }
    sec001 = [f for f in report["findings"] if f["check_id"] == "SEC001"]
    assert len(sec001) == 1 and "in_base" not in sec001[0]  # config-level: no layer
    assert sec001[0]["origin"] == "own"  # the final config is the team's to set
    setuid = [f for f in report["findings"] if f["check_id"] == "SEC006"]
    assert len(setuid) == 11 and all(f["in_base"] is True and f["layer"] == 0 for f in setuid)
    assert {f["origin"] for f in setuid} == {"base"}
    assert report["scores"]["grade"] == "C"  # an error of the team's own: at best C


def test_fail_on_and_fail_under(images, capsys) -> None:  # type: ignore[no-untyped-def]
    assert scan_json(capsys, images["good"], "--strict", "--fail-on", "warning")[0] == 1
    assert scan_json(capsys, images["good"], "--strict", "--fail-on", "error")[0] == 0
    assert scan_json(capsys, images["root"], "--fail-under", "80", "--fail-on", "error")[0] == 1
    code, report = scan_json(capsys, images["root"], "--disable", "SEC001", "--fail-under", "95")
    assert (code, report["scores"]["overall"]) == (0, 100)
    assert scan_json(capsys, images["good"], "--fail-under", "100")[0] == 0


def eol_base_image(tmp_path: Path) -> tuple[str, str]:
    """(base, app): a Debian 10 base (OS002: an error, end of life since 2024-06-30)
    that ends with CMD, and an app built FROM it with a non-root user."""
    os_release = File("etc/os-release", b'ID=debian\nVERSION_ID="10"\nPRETTY_NAME="Debian 10"\n')
    rootfs = debian_base([os_release], setuid=False)
    rootfs.after = ['/bin/sh -c #(nop)  CMD ["bash"]']
    base = ImageSpec(layers=[rootfs])
    app = ImageSpec(layers=[rootfs, *app_layers()], config={"User": "app"})
    return archive(tmp_path, "eol-base.tar", base), archive(tmp_path, "eol-app.tar", app)


def test_base_errors_are_shown_not_gated_unless_strict(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The default gate counts the team's errors; the base's are reported (and scored) but
    fail the build only under --strict, whether the base is named or inferred."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    base, app = eol_base_image(tmp_path)
    for named in ([], ["--base", base]):
        code, report = scan_json(capsys, app, *named)
        os002 = [f for f in report["findings"] if f["check_id"] == "OS002"]
        assert [(f["severity"], f["origin"]) for f in os002] == [("error", "base")]
        assert code == 0, report["facts"]["provenance"]
        # scored in full wherever it sits: an end-of-life base is what FROM chose
        assert report["scores"]["grade"] == "C"
        assert scan_json(capsys, app, *named, "--strict")[0] == 1
    assert report["facts"]["provenance"]["method"] == "--base"
    code, report = scan_json(capsys, app)
    assert report["facts"]["provenance"]["method"] == "history"
    assert main(["scan", app]) == 0
    err = capsys.readouterr().err
    assert "1 finding(s) at or above error come from the base image: shown, not gated" in err


def test_config_ignore_lets_the_gate_pass(images, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".imgaudit.toml").write_text(
        '[[ignore]]\ncheck = "SEC001"\nreason = "PID 1 drops privileges itself"\n'
        '[[ignore]]\ncheck = "SEC006"\nreason = "old"\nexpires = 2020-01-01\n'
    )
    code, report = scan_json(capsys, images["root"])
    assert code == 0
    assert [i["check_id"] for i in report["config"]["ignored"]] == ["SEC001"]
    assert report["config"]["expired_ignores"][0]["check"] == "SEC006"
    assert main(["scan", "-q", images["root"]]) == 0
    out = capsys.readouterr().out
    assert "Ignored by config: 1 finding(s)" in out
    assert "Expired ignore for SEC006 (expired 2020-01-01): no longer applies" in out


def test_usage_and_input_errors_exit_2(images, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bad.toml").write_text('disable = ["SEC999"]\n')
    assert main(["scan", images["good"], "--config", str(tmp_path / "bad.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown check ID 'SEC999'" in err
    assert main(["scan", images["good"], "--fail-under", "101"]) == 2
    assert main(["scan", images["good"], "--packages-index", str(tmp_path / "none")]) == 2
    assert main(["scan", images["good"], "--base", f"docker-archive:{tmp_path}/missing.tar"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["scan", images["good"], "--fail-on", "fatal"])
    assert exc.value.code == 2


def test_table_shows_grade_and_findings(images, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["scan", "-q", images["root"], "--base", images["base"], "--strict"]) == 1
    out = capsys.readouterr().out
    # secure: SEC001 (own: the config) error 25 + SEC006's 11 warnings (base) capped at 20,
    # at the base's weight 0.4: 8; lost 33; overall 100 - 0.4 * 33 = 86.8; an own error: C
    assert "Grade C  87/100    Secure 67  Small 100  Fast 100  Usable 100" in out
    lines = out.splitlines()
    at = lines.index(" " * table.INDENT + "at /usr/bin/su")
    row = next(ln for ln in reversed(lines[:at]) if not ln.startswith(" "))
    assert row.split()[:3] == ["WARNING", "SEC006", "secure"]
    assert lines[at + 1].strip().startswith("layer 0 (base): ADD rootfs.tar.xz / # debian bookw")


def test_checks_and_explain_commands(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["checks"]) == 0
    out = capsys.readouterr().out
    assert "SEC001  runs-as-root" in out and "BL004   layers" in out
    assert main(["explain", "runs-as-root"]) == 0
    assert "How to fix" in capsys.readouterr().out
    assert main(["explain", "SEC999"]) == 2
