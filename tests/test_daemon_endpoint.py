"""Which engine `docker-daemon:` talks to: the docker CLI's rules, and clean errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from auditor import cli
from auditor.sources import daemon, progress


def _context(config_dir: Path, name: str, host: str) -> None:
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps(
            {
                "Name": name,
                "Metadata": {},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}},
            }
        )
    )


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "docker-config"
    path.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    return path


def test_default_without_context(config_dir: Path) -> None:
    assert daemon.engine_endpoint() == (None, {})


def test_current_context_from_config(config_dir: Path) -> None:
    _context(config_dir, "remote", "unix:///run/remote.sock")
    (config_dir / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    assert daemon.engine_endpoint() == ("unix:///run/remote.sock", {})


def test_docker_context_env_wins_and_docker_host_wins_over_all(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _context(config_dir, "remote", "unix:///run/remote.sock")
    _context(config_dir, "other", "tcp://127.0.0.1:2375")
    (config_dir / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    monkeypatch.setenv("DOCKER_CONTEXT", "other")
    assert daemon.engine_endpoint() == ("tcp://127.0.0.1:2375", {})
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    assert daemon.engine_endpoint() == (None, {})
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/x.sock")
    monkeypatch.setenv("DOCKER_CONTEXT", "other")
    assert daemon.engine_endpoint() == (None, {})  # the SDK reads DOCKER_HOST itself


def test_unknown_context_is_one_line(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_CONTEXT", "nope")
    assert cli.main(["scan", "docker-daemon:app:1"]) == 2
    assert capsys.readouterr().err == (
        "imgaudit: error: docker context 'nope' not found or unreadable\n"
    )


def test_engine_not_running(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/imgaudit.sock")
    assert cli.main(["scan", "docker-daemon:app:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "imgaudit: error: docker engine not reachable at unix:///nonexistent/imgaudit.sock "
        "(is it running?)"
    )
    assert err.count("\n") == 1


def test_bad_pull_policy() -> None:
    with pytest.raises(daemon.InputError, match="bad --pull"):
        daemon.open_daemon("app:1", None, "sometimes")


def test_status_line_only_when_shown(capsys: pytest.CaptureFixture[str]) -> None:
    quiet = progress.StatusLine(False)
    quiet.update("pulling x", force=True)
    quiet.clear()
    assert capsys.readouterr().err == ""
    shown = progress.StatusLine(True)
    shown.update("pulling x " + progress.bar(5_000_000, 10_000_000), force=True)
    shown.clear()
    err = capsys.readouterr().err
    assert err == "\r\x1b[Kpulling x [############............] 5.0 MB/10.0 MB\r\x1b[K"
    assert not progress.enabled(quiet=True)
