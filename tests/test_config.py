"""Config files (good and bad), precedence CLI > env > file > defaults, ignores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from auditor.checks import ALL_CHECKS
from auditor.config import Config, ConfigError, Ignore, apply, find_file, load
from auditor.findings import Finding, Severity

KNOWN = {c.info.id: c.options for c in ALL_CHECKS}

GOOD = """\
[tool.imgaudit]
fail-on = "warning"
fail-under = 80
strict = true
packages-index = "Packages.xz"
disable = ["BL004", "sz004"]
severity = { SZ003 = "error" }

[tool.imgaudit.checks.SZ001]
warn-mb = 500
target-mb = 250.5
allow = ["opt/models/*"]

[[tool.imgaudit.ignore]]
check = "SEC006"
path = "/usr/bin/ping"
reason = "ping is the health check"
expires = 2027-03-31

[[tool.imgaudit.ignore]]
check = "OS005"
reason = "rebuilt weekly by the base team"
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_good_pyproject_found_upward(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", GOOD)
    nested = tmp_path / "src" / "pkg"
    nested.mkdir(parents=True)
    config = load(KNOWN, env={}, cwd=nested)
    assert config == Config(
        fail_on=Severity.WARNING,
        fail_under=80,
        strict=True,
        packages_index="Packages.xz",
        disable=frozenset({"BL004", "SZ004"}),
        severity={"SZ003": Severity.ERROR},
        options={"SZ001": {"warn-mb": 500, "target-mb": 250.5, "allow": ("/opt/models/*",)}},
        ignores=(
            Ignore("SEC006", "ping is the health check", "/usr/bin/ping", dt.date(2027, 3, 31)),
            Ignore("OS005", "rebuilt weekly by the base team"),
        ),
        source=str(tmp_path / "pyproject.toml"),
    )
    assert not config.selected("BL004") and config.selected("SEC001")


def test_pyproject_without_section_is_skipped_and_imgaudit_toml_wins(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n')
    assert find_file(tmp_path) is None
    write(tmp_path, ".imgaudit.toml", 'fail-on = "info"\n')
    assert find_file(tmp_path) == tmp_path / ".imgaudit.toml"
    assert load(KNOWN, env={}, cwd=tmp_path).fail_on == Severity.INFO


def test_pyproject_whose_tool_is_no_table_is_skipped(tmp_path: Path) -> None:
    """`tool` as a value, not a table: not an imgaudit config (it used to crash)."""
    write(tmp_path, "pyproject.toml", "tool = 1\n")
    assert find_file(tmp_path) is None
    assert load(KNOWN, env={}, cwd=tmp_path) == Config()


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        (".imgaudit.toml", b'fail-on = "\xff"\n', "invalid TOML: not UTF-8 at byte 11"),
        ("pyproject.toml", b'[project]\nname = "\xff"\n', "invalid TOML: not UTF-8"),
        ("pyproject.toml", b"[tool]\nimgaudit = 3\n", "tool.imgaudit: expected a table"),
    ],
)
def test_undecodable_or_misshapen_files_are_one_line_errors(
    tmp_path: Path, name: str, raw: bytes, message: str
) -> None:
    """Found on the way up, these are errors, not tracebacks (tomllib lets a UTF-8
    decode error out; `imgaudit = 3` is no table)."""
    (tmp_path / name).write_bytes(raw)
    with pytest.raises(ConfigError) as exc:
        load(KNOWN, env={}, cwd=tmp_path)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_defaults_without_any_file(tmp_path: Path) -> None:
    assert load(KNOWN, env={}, cwd=tmp_path) == Config()


def test_precedence_cli_over_env_over_file(tmp_path: Path) -> None:
    write(tmp_path, ".imgaudit.toml", 'fail-on = "warning"\nfail-under = 50\ndisable = ["BL004"]\n')
    env = {"IMGAUDIT_FAIL_ON": "info", "IMGAUDIT_DISABLE": "SZ004,BL003"}
    assert load(KNOWN, env={}, cwd=tmp_path).fail_on == Severity.WARNING
    from_env = load(KNOWN, env=env, cwd=tmp_path)
    assert from_env.fail_on == Severity.INFO
    assert from_env.disable == {"SZ004", "BL003"}
    assert from_env.fail_under == 50
    cli = {"fail_on": Severity.ERROR, "disable": ["sec001"], "fail_under": None}
    from_cli = load(KNOWN, cli=cli, env=env, cwd=tmp_path)
    assert (from_cli.fail_on, from_cli.disable, from_cli.fail_under) == (
        Severity.ERROR,
        {"SEC001"},
        50,
    )


def test_explicit_config_path_and_env_config(tmp_path: Path) -> None:
    path = write(tmp_path, "ci.toml", "strict = true\n")
    assert load(KNOWN, env={}, cwd=Path("/"), config_path=str(path)).strict
    assert load(KNOWN, env={"IMGAUDIT_CONFIG": str(path)}, cwd=Path("/")).strict


BAD = [
    ('colour = "red"\n', "unknown key 'colour'"),
    ('disable = ["SEC999"]\n', "unknown check ID 'SEC999'"),
    ('fail-on = "fatal"\n', "unknown severity 'fatal'"),
    ("fail-under = 120\n", "between 0 and 100"),
    ('severity = { SEC001 = "loud" }\n', "unknown severity 'loud'"),
    ("[checks.SZ001]\nwarn-gb = 1\n", "unknown option 'warn-gb' for SZ001"),
    ('[checks.SZ001]\nwarn-mb = "big"\n', "expected a number"),
    ('[checks.SZ001]\nallow = "/opt"\n', "expected a list of path globs"),
    ('[[ignore]]\ncheck = "SEC001"\n', "needs a non-empty `reason`"),
    ('[[ignore]]\ncheck = "SEC001"\nreason = " "\n', "needs a non-empty `reason`"),
    ('[[ignore]]\ncheck = "SEC001"\nreason = "x"\nexpires = "soon"\n', "expected a date"),
    ('[[ignore]]\ncheck = "SEC001"\nreason = "x"\nuntil = 2027-01-01\n', "unknown key 'until'"),
    ('[[ignore]]\ncheck = "NOPE1"\nreason = "x"\n', "unknown check ID 'NOPE1'"),
    ('fail-on = "error"\nfail-on = "info"\n', "invalid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, ".imgaudit.toml", text)
    with pytest.raises(ConfigError) as exc:
        load(KNOWN, env={}, cwd=tmp_path)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_bad_env_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment: strict: expected true or false"):
        load(KNOWN, env={"IMGAUDIT_STRICT": "maybe"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load(KNOWN, env={}, cwd=tmp_path, config_path=str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="both enabled and disabled"):
        load(KNOWN, cli={"enable": ["SEC001"], "disable": ["SEC001"]}, env={}, cwd=tmp_path)


def finding(check: str, path: str | None, severity: Severity = Severity.WARNING) -> Finding:
    return Finding(check, check.lower(), severity, "m", "r", path=path)


def test_ignores_severity_overrides_and_expiry() -> None:
    config = Config(
        severity={"SZ003": Severity.ERROR},
        ignores=(
            Ignore("SEC006", "health check", "/usr/bin/ping", dt.date(2027, 3, 31)),
            Ignore("SEC007", "was fine last year", None, dt.date(2026, 1, 1)),
            Ignore("OS005", "rebuilt weekly"),
        ),
    )
    findings = [
        finding("SEC006", "/usr/bin/ping"),
        finding("SEC006", "/usr/local/bin/tool"),
        finding("SEC007", "/app"),
        finding("OS005", None),
        finding("SZ003", "/var/log/dpkg.log"),
    ]
    applied = apply(config, findings, today=dt.date(2026, 11, 28))
    assert [(f.check_id, f.path, f.severity) for f in applied.findings] == [
        ("SZ003", "/var/log/dpkg.log", Severity.ERROR),
        ("SEC006", "/usr/local/bin/tool", Severity.WARNING),
        ("SEC007", "/app", Severity.WARNING),
    ]
    assert [(f.check_id, i.reason) for f, i in applied.ignored] == [
        ("SEC006", "health check"),
        ("OS005", "rebuilt weekly"),
    ]
    assert applied.expired == [config.ignores[1]]
    report = applied.to_json("x.toml")
    assert report["expired_ignores"] == [
        {"check": "SEC007", "reason": "was fine last year", "expires": "2026-01-01"}
    ]
    # after 2027-03-31 the ping ignore stops applying too
    later = apply(config, findings, today=dt.date(2027, 4, 1))
    assert ("SEC006", "/usr/bin/ping") in [(f.check_id, f.path) for f in later.findings]
