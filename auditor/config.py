"""Settings from `[tool.imgaudit]` / `.imgaudit.toml`, the environment and the CLI.

Precedence: CLI > environment (`IMGAUDIT_*`) > config file > defaults. The file is
`--config PATH`, else `IMGAUDIT_CONFIG`, else the first `.imgaudit.toml` or
`pyproject.toml` with a `[tool.imgaudit]` table found from the working directory
upward. Mistakes are errors, never silently ignored: an unknown key, check ID,
option or severity stops the scan with one line (exit 2), because a typo in an
ignore or a threshold would otherwise change what CI lets through without anyone
noticing.

    [tool.imgaudit]
    fail-on = "warning"            # info | warning | error
    fail-under = 80                # overall score
    strict = false
    base = "docker-archive:base.tar"
    packages-index = "Packages.xz"
    dockerfile = "Dockerfile"      # findings point at the line that wrote their layer
    disable = ["BL004"]            # or enable = [...] to run only those
    severity = { SZ004 = "warning" }

    [tool.imgaudit.checks.SZ001]
    warn-mb = 500
    target-mb = 250
    allow = ["/opt/models/*"]      # every check takes path allow-list globs

    [[tool.imgaudit.ignore]]
    check = "SEC006"
    path = "/usr/bin/ping"         # optional glob; without it the whole check is ignored
    reason = "ping is needed by the health check"
    expires = 2027-03-31           # optional; after it the ignore stops applying
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from auditor.errors import InputError
from auditor.findings import Finding, Severity

FILE_NAMES = (".imgaudit.toml", "pyproject.toml")
TOP_KEYS = frozenset(
    {"fail-on", "fail-under", "strict", "base", "packages-index", "dockerfile", "enable",
     "disable", "severity", "checks", "ignore"}
)  # fmt: skip
IGNORE_KEYS = frozenset({"check", "path", "reason", "expires"})
ALLOW = "allow"


class ConfigError(InputError):
    """A configuration mistake: reported as one line, exit code 2."""


@dataclass(frozen=True)
class Ignore:
    check: str
    reason: str
    path: str | None = None
    expires: dt.date | None = None

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today

    def matches(self, finding: Finding) -> bool:
        if finding.check_id != self.check:
            return False
        if self.path is None:
            return True
        paths = [p for p in (finding.path, *finding.paths) if p]
        return bool(paths) and fnmatch.fnmatchcase(paths[0], self.path)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "reason": self.reason}
        if self.path:
            out["path"] = self.path
        if self.expires:
            out["expires"] = self.expires.isoformat()
        return out


@dataclass(frozen=True)
class Config:
    fail_on: Severity = Severity.ERROR
    fail_under: float | None = None
    strict: bool = False
    base: str | None = None
    packages_index: str | None = None
    dockerfile: str | None = None  # the Dockerfile the image was built from
    enable: frozenset[str] | None = None  # None: every check
    disable: frozenset[str] = frozenset()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    ignores: tuple[Ignore, ...] = ()
    source: str | None = None  # the file read, if any

    def selected(self, check_id: str) -> bool:
        if self.enable is not None and check_id not in self.enable:
            return False
        return check_id not in self.disable


@dataclass
class Applied:
    findings: list[Finding]
    ignored: list[tuple[Finding, Ignore]]
    expired: list[Ignore]

    def to_json(self, source: str | None) -> dict[str, Any]:
        return {
            "source": source,
            "ignored": [
                {"check_id": f.check_id, "path": f.path, "message": f.message, **i.to_json()}
                for f, i in self.ignored
            ],
            "expired_ignores": [i.to_json() for i in self.expired],
        }


def apply(config: Config, findings: Sequence[Finding], today: dt.date | None = None) -> Applied:
    """Severity overrides, then ignores; expired ignores are reported, not applied."""
    today = today or dt.date.today()
    active = [i for i in config.ignores if not i.expired(today)]
    expired = [i for i in config.ignores if i.expired(today)]
    kept: list[Finding] = []
    ignored: list[tuple[Finding, Ignore]] = []
    for f in findings:
        if f.check_id in config.severity:
            f = f.with_(severity=config.severity[f.check_id])
        rule = next((i for i in active if i.matches(f)), None)
        if rule is None:
            kept.append(f)
        else:
            ignored.append((f, rule))
    kept.sort(key=Finding.sort_key)
    return Applied(kept, ignored, expired)


# ---- reading ---------------------------------------------------------------------------


def find_file(start: Path) -> Path | None:
    """The first `.imgaudit.toml`, or `pyproject.toml` with [tool.imgaudit], upward."""
    for directory in (start, *start.parents):
        candidate = directory / ".imgaudit.toml"
        if candidate.is_file():
            return candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and "imgaudit" in _tools(_read_toml(pyproject)):
            return pyproject
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    # deferred: start-up time, see README "Performance" (only a found config file is read)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8; tomllib lets the decode error out
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 at byte {exc.start}") from None


def _tools(pyproject: dict[str, Any]) -> dict[str, Any]:
    """A pyproject.toml's [tool] table; empty when it has none or `tool` is not a table
    (a user's pyproject is not imgaudit's to judge unless it configures imgaudit)."""
    tools = pyproject.get("tool", {})
    return tools if isinstance(tools, dict) else {}


def load_table(path: Path) -> dict[str, Any]:
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        table = _tools(data).get("imgaudit")
        if table is None:
            raise ConfigError(f"{path}: no [tool.imgaudit] table")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: tool.imgaudit: expected a table")
        return dict(table)
    return data


def _ids(value: Any, where: str, known: Mapping[str, Any]) -> frozenset[str]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError(f"{where}: expected a list of check IDs")
    out = set()
    for item in items:
        check = str(item).strip().upper()
        if not check:
            continue
        if check not in known:
            raise ConfigError(f"{where}: unknown check ID {item!r}")
        out.add(check)
    return frozenset(out)


def _severity(value: Any, where: str) -> Severity:
    try:
        return Severity.parse(str(value))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if not 0 <= number <= 100:
        raise ConfigError(f"{where}: expected a score between 0 and 100, got {value!r}")
    return number


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{where}: expected true or false, got {value!r}")


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: expected a date (YYYY-MM-DD), got {value!r}") from None


def _options(check: str, table: Any, where: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of options")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key == ALLOW:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}.allow: expected a list of path globs")
            out[ALLOW] = tuple("/" + v.lstrip("/") for v in value)
        elif key in defaults:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
            out[key] = value
        else:
            valid = ", ".join(sorted([*defaults, ALLOW]))
            raise ConfigError(f"{where}: unknown option {key!r} for {check} (valid: {valid})")
    return out


def parse_table(
    table: Mapping[str, Any], where: str, known: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Validate a config table into Config keyword arguments (only the keys it sets)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        at = f"{where}: {key}"
        if key not in TOP_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}")
        if key == "fail-on":
            out["fail_on"] = _severity(value, at)
        elif key == "fail-under":
            out["fail_under"] = _number(value, at)
        elif key == "strict":
            out["strict"] = _bool(value, at)
        elif key in ("base", "packages-index", "dockerfile"):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{at}: expected a string")
            out[key.replace("-", "_")] = value
        elif key in ("enable", "disable"):
            out[key] = _ids(value, at, known)
        elif key == "severity":
            if not isinstance(value, dict):
                raise ConfigError(f"{at}: expected a table of ID = severity")
            out["severity"] = {
                next(iter(_ids([k], at, known))): _severity(v, f"{at}.{k}")
                for k, v in value.items()
            }
        elif key == "checks":
            if not isinstance(value, dict):
                raise ConfigError(f"{at}: expected a table per check ID")
            options = {}
            for check, opts in value.items():
                cid = next(iter(_ids([check], at, known)))
                options[cid] = _options(cid, opts, f"{at}.{check}", known[cid])
            out["options"] = options
        elif key == "ignore":
            out["ignores"] = tuple(_ignore(v, f"{at}[{i}]", known) for i, v in enumerate(value))
    return out


def _ignore(value: Any, where: str, known: Mapping[str, Any]) -> Ignore:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table with check and reason")
    unknown = set(value) - IGNORE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    if "check" not in value:
        raise ConfigError(f"{where}: an ignore needs `check`")
    reason = value.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(f"{where}: an ignore needs a non-empty `reason`")
    path = value.get("path")
    if path is not None and not isinstance(path, str):
        raise ConfigError(f"{where}: path must be a string glob")
    return Ignore(
        check=next(iter(_ids([value["check"]], where, known))),
        reason=reason.strip(),
        path=("/" + path.lstrip("/")) if path else None,
        expires=_date(value["expires"], f"{where}.expires") if "expires" in value else None,
    )


ENV_KEYS = {
    "IMGAUDIT_FAIL_ON": "fail-on",
    "IMGAUDIT_FAIL_UNDER": "fail-under",
    "IMGAUDIT_STRICT": "strict",
    "IMGAUDIT_BASE": "base",
    "IMGAUDIT_PACKAGES_INDEX": "packages-index",
    "IMGAUDIT_DOCKERFILE": "dockerfile",
    "IMGAUDIT_ENABLE": "enable",
    "IMGAUDIT_DISABLE": "disable",
}


def load(
    known: Mapping[str, Mapping[str, Any]],
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    config_path: str | None = None,
) -> Config:
    """`known`: check ID -> its option defaults. `cli`: Config field names -> values
    (None = not given), already typed by argparse (IDs are still validated here)."""
    env = os.environ if env is None else env
    path_text = config_path or env.get("IMGAUDIT_CONFIG")
    path = Path(path_text) if path_text else find_file(cwd or Path.cwd())
    settings: dict[str, Any] = {}
    if path is not None:
        if path_text and not path.is_file():
            raise ConfigError(f"config file {path} not found")
        from_file = parse_table(load_table(path), str(path), known)
        if "dockerfile" in from_file:  # a path in a config file is relative to that file
            from_file["dockerfile"] = _beside(path, from_file["dockerfile"])
        settings.update(from_file)
    env_table = {key: env[name] for name, key in ENV_KEYS.items() if env.get(name)}
    settings.update(parse_table(env_table, "environment", known))
    for key, value in (cli or {}).items():
        if value is None:
            continue
        if key in ("enable", "disable"):
            value = _ids(list(value), f"--{key}", known)
        settings[key] = value
    config = Config(**settings, source=str(path) if path else None)
    if config.enable is not None and config.disable & config.enable:
        both = sorted(config.disable & config.enable)[0]
        raise ConfigError(f"check {both} is both enabled and disabled")
    return config


def with_cli(config: Config, **changes: Any) -> Config:
    return replace(config, **{k: v for k, v in changes.items() if v is not None})


def _beside(config_file: Path, path: str) -> str:
    """`path` from a config file, as a path from the working directory (kept relative
    when it can be: reports and SARIF show it)."""
    if os.path.isabs(path):
        return path
    joined = os.path.normpath(os.path.join(config_file.parent, path))
    if os.path.isabs(joined):
        relative = os.path.relpath(joined)
        return joined if relative.startswith("..") else relative
    return joined
