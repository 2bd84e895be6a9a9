"""The engine and registry transports against a real dockerd and a real registry.

One image, built by the engine from the debootstrap minbase plus two layers of our
own, is scanned through the engine (`docker-daemon:`), the registry (`docker://`)
and a `docker save` archive. The three JSON reports must be identical apart from
`source`, and apart from what only the stored compression changes: engine exports
are uncompressed tars, the registry holds gzip blobs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pty
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests

from auditor import cli
from auditor.sources import registry as registry_module
from tests.support.baseimages import BuiltImage, build, push, save
from tests.support.services import DockerEngine, Registry

PID = os.getpid()
REPO = "imgaudit-test/sources"
VERSION = f"p{PID}"
DOCKERFILE = """\
FROM {base}
COPY app.py /srv/app/app.py
COPY settings.cfg /srv/app/settings.cfg
USER 1000
"""
DERIVED_DOCKERFILE = """\
FROM {base}
COPY extra.txt /srv/app/extra.txt
"""
# Only these may differ between an uncompressed export and a gzip registry copy.
# (The report carries no media type: it names how a transport stored the bytes.)
COMPRESSION_FIELDS = ("digest", "compressed_size")


def scan_json(
    capsys: pytest.CaptureFixture[str], reference: str, *extra: str
) -> tuple[int, dict[str, Any] | None, str]:
    # The test images run as root: SEC001 would trip the default gate (exit 1), which
    # tests/test_scan_gating.py covers; here only reading the image matters.
    code = cli.main(
        ["scan", "--format", "json", "--quiet", "--disable", "SEC001", *extra, reference]
    )
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


@pytest.fixture
def engine_env(
    docker_engine: DockerEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Point the SDK at the test engine, and use a fresh layer cache and docker config."""
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))


@pytest.fixture(scope="module")
def app_image(
    docker_engine: DockerEngine, bookworm_minbase: BuiltImage, registry: Registry
) -> Iterator[str]:
    """`REGISTRY/imgaudit-test/sources:pPID` in the engine and pushed to `registry`."""
    tag = f"{registry.host}/{REPO}:{VERSION}"
    build(
        docker_engine,
        tag,
        DOCKERFILE.format(base=bookworm_minbase.tag),
        {"app.py": "print('hello')\n", "settings.cfg": "[app]\ndebug = false\n"},
    )
    pushed = push(docker_engine, tag, registry, repository=REPO)
    assert pushed.reference == tag
    yield tag
    client = docker_engine.client()
    try:
        client.images.remove(tag, force=True)
    except docker.errors.ImageNotFound:
        pass
    finally:
        client.close()


def _strip_compression(report: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(report))
    del out["source"]
    del out["image"]["compressed_size"]
    for layer in out["image"]["layers"]:
        for key in COMPRESSION_FIELDS:
            del layer[key]
    return out


def test_engine_registry_and_archive_reports_match(
    app_image: str,
    docker_engine: DockerEngine,
    engine_env: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = save(docker_engine, app_image, tmp_path / "app.tar")
    reports = {}
    for name, ref in [
        ("daemon", f"docker-daemon:{app_image}"),
        ("registry", f"docker://{app_image}"),
        ("archive", f"docker-archive:{archive}"),
    ]:
        # A cache per transport: each scan really reads its own layers.
        monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(tmp_path / f"cache-{name}"))
        code, report, err = scan_json(capsys, ref)
        assert code == 0, err
        assert err == ""  # --quiet, and stderr is no terminal anyway
        assert report is not None
        reports[name] = report

    daemon, registry_report, saved = reports["daemon"], reports["registry"], reports["archive"]
    assert daemon["source"] == {
        "transport": "docker-daemon",
        "reference": f"docker-daemon:{app_image}",
    }
    assert registry_report["source"]["transport"] == "docker"
    assert registry_report["source"]["reference"] == f"docker://{app_image}"
    assert registry_report["source"]["manifest_digest"].startswith("sha256:")
    assert saved["source"]["transport"] == "docker-archive"

    # Engine export and docker save are the same bytes: only `source` differs.
    assert {k: v for k, v in daemon.items() if k != "source"} == {
        k: v for k, v in saved.items() if k != "source"
    }
    # The registry holds gzip blobs: exactly the compression fields differ.
    assert _strip_compression(daemon) == _strip_compression(registry_report)
    d_layers, r_layers = daemon["image"]["layers"], registry_report["image"]["layers"]
    assert len(d_layers) == len(r_layers) == 3
    for d, r in zip(d_layers, r_layers):
        assert d["digest"] == d["diff_id"]  # uncompressed: the blob is the diff
        assert r["digest"] != r["diff_id"]
        assert r["compressed_size"] < d["compressed_size"]
    assert daemon["image"]["reference"] == app_image
    assert daemon["image"]["digest"] == registry_report["image"]["digest"]
    assert daemon["image"]["user"] == "1000"


class CountingProxy:
    """A reverse proxy in front of a registry that counts blob GETs (layer downloads)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.blob_gets: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if "/blobs/" in self.path:
                    proxy.blob_gets.append(self.path.rsplit("/", 1)[1])
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("accept", "authorization", "range")
                }
                reply = requests.get(
                    proxy.upstream + self.path, headers=headers, timeout=30, allow_redirects=False
                )
                self.send_response(reply.status_code)
                for key, value in reply.headers.items():
                    if key.lower() not in (
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                        "content-length",
                    ):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_rescan_downloads_no_cached_layer(
    app_image: str,
    docker_engine: DockerEngine,
    bookworm_minbase: BuiltImage,
    registry: Registry,
    engine_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    derived_tag = f"{registry.host}/{REPO}-derived:{VERSION}"
    build(
        docker_engine, derived_tag, DERIVED_DOCKERFILE.format(base=app_image), {"extra.txt": "x\n"}
    )
    push(docker_engine, derived_tag, registry, repository=f"{REPO}-derived")
    proxy = CountingProxy(registry.url)
    try:
        first_ref = f"docker://{proxy.host}/{REPO}:{VERSION}"
        code, first, err = scan_json(capsys, first_ref)
        assert code == 0, err
        assert first is not None
        layer_digests = [ly["digest"] for ly in first["image"]["layers"]]
        config = first["image"]["digest"]
        # First scan: the config and every layer, once each.
        assert sorted(proxy.blob_gets) == sorted([config, *layer_digests])

        proxy.blob_gets.clear()
        code, again, err = scan_json(capsys, first_ref)
        assert code == 0, err
        assert proxy.blob_gets == [config]  # every layer came from the cache
        assert again == first

        proxy.blob_gets.clear()
        code, derived, err = scan_json(capsys, f"docker://{proxy.host}/{REPO}-derived:{VERSION}")
        assert code == 0, err
        assert derived is not None
        new_layer = derived["image"]["layers"][-1]["digest"]
        assert [ly["digest"] for ly in derived["image"]["layers"][:-1]] == layer_digests
        # A related image: its config and its one new layer, no shared layer.
        assert sorted(proxy.blob_gets) == sorted([derived["image"]["digest"], new_layer])
    finally:
        proxy.stop()
        client = docker_engine.client()
        try:
            client.images.remove(derived_tag, force=True)
        finally:
            client.close()


def test_registry_by_digest(
    app_image: str, registry: Registry, engine_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = requests.head(
        f"{registry.url}/v2/{REPO}/manifests/{VERSION}",
        headers={"Accept": registry_module.ACCEPT},
        timeout=30,
    )
    digest = reply.headers["Docker-Content-Digest"]
    code, report, err = scan_json(capsys, f"docker://{registry.host}/{REPO}@{digest}")
    assert code == 0, err
    assert report is not None
    assert report["source"]["manifest_digest"] == digest
    assert report["image"]["reference"] == f"{registry.host}/{REPO}@{digest}"
    wrong = "sha256:" + "0" * 64
    code, _, err = scan_json(capsys, f"docker://{registry.host}/{REPO}@{wrong}")
    assert code == 2
    assert err.count("\n") == 1 and "not found" in err


def test_bare_reference_prefers_engine_then_registry(
    app_image: str,
    docker_engine: DockerEngine,
    registry: Registry,
    engine_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, report, err = scan_json(capsys, app_image)
    assert code == 0, err
    assert report is not None
    assert report["source"]["transport"] == "docker-daemon"
    image_id = report["image"]["digest"]
    reply = requests.head(
        f"{registry.url}/v2/{REPO}/manifests/{VERSION}",
        headers={"Accept": registry_module.ACCEPT},
        timeout=30,
    )
    by_digest = f"{registry.host}/{REPO}@{reply.headers['Docker-Content-Digest']}"
    code, report, err = scan_json(capsys, by_digest)  # the engine knows the push digest
    assert code == 0, err
    assert report is not None
    assert report["source"]["transport"] == "docker-daemon"
    assert (report["image"]["digest"], report["image"]["reference"]) == (image_id, by_digest)
    # An engine that is not running: the registry answers instead.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/imgaudit-test.sock")
    for ref in (app_image, by_digest):
        code, report, err = scan_json(capsys, ref)
        assert code == 0, err
        assert report is not None
        assert report["source"]["transport"] == "docker"
        assert (report["image"]["digest"], report["image"]["reference"]) == (image_id, ref)
    # An image neither has: the registry's answer.
    code, _, err = scan_json(capsys, f"{registry.host}/imgaudit-test/absent:1")
    assert code == 2
    assert err.count("\n") == 1 and "not found in the registry" in err


def test_engine_pulls_missing_image_from_registry(
    app_image: str,
    docker_engine: DockerEngine,
    registry: Registry,
    engine_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pulled = f"{registry.host}/{REPO}:{VERSION}"
    client = docker_engine.client()
    try:
        # Keep the image under another name so untagging the pushed name is cheap.
        client.api.tag(app_image, "imgaudit-test/sources-keep", VERSION)
        client.images.remove(pulled)
        code, _, err = scan_json(capsys, f"docker-daemon:{pulled}", "--pull", "never")
        assert code == 2
        assert err.count("\n") == 1 and "no such image" in err
        code, report, err = scan_json(capsys, f"docker-daemon:{pulled}", "--pull", "missing")
        assert code == 0, err
        assert report is not None
        assert client.images.get(pulled).id == report["image"]["digest"]
    finally:
        client.api.tag(f"imgaudit-test/sources-keep:{VERSION}", f"{registry.host}/{REPO}", VERSION)
        client.images.remove(f"imgaudit-test/sources-keep:{VERSION}")
        client.close()


def test_engine_not_running_is_one_line(
    engine_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/imgaudit-test.sock")
    code, _, err = scan_json(capsys, "docker-daemon:imgaudit-test/anything:1")
    assert code == 2
    assert err.count("\n") == 1
    assert "docker engine not reachable at unix:///nonexistent/imgaudit-test.sock" in err


def test_registry_errors_are_one_line(
    registry: Registry,
    engine_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = scan_json(capsys, f"docker://{registry.host}/imgaudit-test/absent:1")
    assert code == 2
    absent = f"{registry.host}/imgaudit-test/absent:1"
    assert err == f"imgaudit: error: {absent}: not found in the registry (manifests)\n"
    monkeypatch.setattr(registry_module, "BACKOFF", 0.0)
    code, _, err = scan_json(capsys, "docker://127.0.0.1:9/imgaudit-test/absent:1")
    assert code == 2
    assert err.count("\n") == 1 and "registry unreachable at 127.0.0.1:9" in err


def test_platform_not_in_image(
    app_image: str, engine_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = scan_json(capsys, f"docker://{app_image}", "--platform", "linux/s390x")
    assert code == 2
    assert err == f"imgaudit: error: docker://{app_image}: image is linux/amd64, not linux/s390x\n"


def _write_docker_config(path: Path, host: str, user: str, password: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (path / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))


@pytest.mark.parametrize("kind", ["auth_registry", "token_registry"])
def test_registry_with_credentials(
    kind: str,
    request: pytest.FixtureRequest,
    app_image: str,
    docker_engine: DockerEngine,
    engine_env: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    private: Registry = request.getfixturevalue(kind)
    assert private.username is not None and private.password is not None
    push(docker_engine, app_image, private, repository="private/sources")
    ref = f"docker://{private.host}/private/sources:{VERSION}"
    config_dir = tmp_path / "docker-config"

    code, _, err = scan_json(capsys, ref)  # no credentials at all
    assert code == 2
    assert err.count("\n") == 1 and "requires authentication (no credentials for" in err

    _write_docker_config(config_dir, private.host, private.username, "wrong-" + private.password)
    code, _, err = scan_json(capsys, ref)
    assert code == 2
    assert err.count("\n") == 1 and "authentication refused" in err
    assert private.password not in err

    _write_docker_config(config_dir, private.host, private.username, private.password)
    code, report, err = scan_json(capsys, ref)
    assert code == 0, err
    assert report is not None
    assert len(report["image"]["layers"]) == 3
    assert private.password not in err


def test_docker_context_selects_the_engine(
    app_image: str,
    docker_engine: DockerEngine,
    engine_env: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config_dir = tmp_path / "docker-config"
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(b"imgaudit-test").hexdigest()
    meta.mkdir(parents=True)
    endpoint = {"docker": {"Host": docker_engine.host, "SkipTLSVerify": False}}
    (meta / "meta.json").write_text(json.dumps({"Name": "imgaudit-test", "Endpoints": endpoint}))
    (config_dir / "config.json").write_text(json.dumps({"currentContext": "imgaudit-test"}))
    monkeypatch.delenv("DOCKER_HOST")
    code, report, err = scan_json(capsys, f"docker-daemon:{app_image}")
    assert code == 0, err
    assert err == ""
    assert report is not None and report["image"]["reference"] == app_image


def test_progress_on_a_terminal_only(app_image: str, engine_env: None, tmp_path: Path) -> None:
    """stderr a terminal: a status line per download; stderr a pipe: no progress, only the
    one-line summary every scan prints."""
    argv = [sys.executable, "-m", "auditor", "scan", "--format", "json", "--disable", "SEC001"]
    argv.append(f"docker://{app_image}")
    root = str(Path(__file__).resolve().parents[2])
    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            argv, cwd=root, stdout=subprocess.PIPE, stderr=slave, timeout=300, check=False
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    assert done.returncode == 0
    shown = b"".join(chunks).decode()
    assert "\r\x1b[Kpulling " in shown
    assert "MB" in shown or "kB" in shown
    json.loads(done.stdout)
    # Same scan, stderr a pipe (and the cache now warm): no progress, just the summary line.
    piped = subprocess.run(argv, cwd=root, capture_output=True, timeout=300, check=False)
    assert piped.returncode == 0
    assert b"\r" not in piped.stderr and b"pulling" not in piped.stderr
    lines = piped.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imgaudit: ")
