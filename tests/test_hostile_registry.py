"""Registries that misbehave on purpose: hang, drip-feed, send a huge manifest,
redirect in a loop, serve other bytes than the digest asked for. Each ends in bounded
time as one InputError line (exit 2); credentials never show up in any output."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import CorruptInput, InputError
from auditor.loading import LoadOptions, load_layers
from auditor.sources import SourceOptions, open_image
from auditor.sources import registry as reg
from tests.factory import File, ImageSpec, Layer, build, sha256
from tests.test_bad_input import REPO
from tests.test_registry_client import TOKEN, FakeRegistry

IMAGE = build(ImageSpec([Layer([File("etc/os-release", b"ID=debian\n" * 300)])]))
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"

# A reply: status, headers, body, and how to send the body ("all", "drip", "hang",
# "close-delimited": no Content-Length, the end of the body is the end of the connection).
Reply = tuple[int, dict[str, str], bytes, str]


class HostileServer:
    """A loopback registry whose every answer is chosen by `handle(path) -> Reply`."""

    def __init__(self, handle: Callable[[str], Reply]) -> None:
        self.release = threading.Event()
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                status, headers, body, mode = handle(self.path)
                if mode == "hang":
                    outer.release.wait(30)
                    return
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if mode == "close-delimited":
                    self.send_header("Connection", "close")
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if mode == "drip":
                        for i in range(0, len(body), 16):
                            if outer.release.is_set():
                                return
                            self.wfile.write(body[i : i + 16])
                            self.wfile.flush()
                            time.sleep(0.05)
                    else:
                        self.wfile.write(body)
                except OSError:
                    return
                if mode == "close-delimited":
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def registry_of(
    manifest: Reply | None = None, layer: Reply | None = None, image: Any = IMAGE
) -> Callable[[str], Reply]:
    """`image` as a registry serves it, with the manifest or the layer answer replaced."""
    blobs = {sha256(image.config): image.config, sha256(image.blobs[0]): image.blobs[0]}
    layer_digest = sha256(image.blobs[0])

    def handle(path: str) -> Reply:
        if path == "/v2/":
            return 200, {}, b"{}", "all"
        if "/manifests/" in path:
            if manifest is not None:
                return manifest
            return 200, {"Content-Type": MANIFEST_TYPE}, image.manifest, "all"
        digest = path.rsplit("/", 1)[1]
        if digest == layer_digest and layer is not None:
            return layer
        if digest in blobs:
            return 200, {}, blobs[digest], "all"
        return 404, {}, b"", "all"

    return handle


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[str], Reply]], HostileServer]]:
    servers: list[HostileServer] = []

    def start(handle: Callable[[str], Reply]) -> HostileServer:
        servers.append(HostileServer(handle))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setattr(reg, "BACKOFF", 0.0)
    monkeypatch.setattr(reg, "RETRIES", 1)
    monkeypatch.setattr(reg, "READ_TIMEOUT", 1.0)
    monkeypatch.setattr(reg, "DOCUMENT_DEADLINE", 1.5)
    monkeypatch.setattr(reg, "BLOB_GRACE", 1.5)


def _open(server: HostileServer) -> Any:
    return open_image(f"docker://{server.host}/team/app:1", SourceOptions())


@pytest.mark.timeout(120)  # only a hang; the work (requests) is counted below
def test_a_server_that_hangs_times_out(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # 3 s per read: a loaded machine may be slow to answer /v2/, never that slow
    monkeypatch.setattr(reg, "READ_TIMEOUT", 3.0)
    server = serve(registry_of(manifest=(200, {}, b"", "hang")))
    with pytest.raises(InputError, match="registry unreachable") as exc:
        _open(server)
    assert "timed out" in str(exc.value)
    assert server.requests.count("/v2/team/app/manifests/1") == 2  # first try + 1 retry


def _drip_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A per-read timeout far beyond the budgets: however slowly a busy machine runs the
    drip server's thread, only the budget under test can end the download."""
    monkeypatch.setattr(reg, "READ_TIMEOUT", 60.0)


@pytest.mark.timeout(120)  # only a hang; the work (requests, bytes) is counted below
def test_a_drip_fed_manifest_hits_the_deadline(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _drip_only(monkeypatch)
    padded = IMAGE.manifest + b" " * 4000  # 16 B per 50 ms: over 12 s, deadline 1.5 s
    server = serve(registry_of(manifest=(200, {"Content-Type": MANIFEST_TYPE}, padded, "drip")))
    with pytest.raises(InputError, match=r"in 2 s and is still sending; gave up") as exc:
        _open(server)
    received = int(str(exc.value).split(" sent ")[1].split()[0])
    assert 0 < received < len(padded)  # gave up mid-body
    assert server.requests.count("/v2/team/app/manifests/1") == 1  # not asked again


@pytest.mark.timeout(120)  # only a hang; the work (bytes) is counted below
def test_a_drip_fed_layer_hits_the_rate_floor(
    serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _drip_only(monkeypatch)
    big = build(ImageSpec([Layer([File("app/data", os.urandom(64 << 10))])]))
    server = serve(registry_of(layer=(200, {}, big.blobs[0], "drip"), image=big))
    image = _open(server)
    with pytest.raises(InputError, match=r"under 16 KiB/s; gave up") as exc:
        load_layers(image, LoadOptions(use_cache=False, jobs=1))
    received = int(str(exc.value).split(": ")[1].split()[0])
    assert 0 < received < len(big.blobs[0])  # gave up mid-blob


def test_a_huge_manifest_without_length_is_cut_off(serve: Any) -> None:
    huge = b'{"layers": [' + b'"x",' * (2 << 20) + b'"x"]}'  # 8 MiB, no Content-Length
    server = serve(
        registry_of(manifest=(200, {"Content-Type": MANIFEST_TYPE}, huge, "close-delimited"))
    )
    with pytest.raises(CorruptInput, match=f"over the {reg.MAX_MANIFEST_BYTES} bytes limit"):
        _open(server)
    announced = (200, {"Content-Type": MANIFEST_TYPE}, huge, "all")
    with pytest.raises(CorruptInput, match=f"{len(huge)} bytes, over the"):
        _open(serve(registry_of(manifest=announced)))


def test_a_redirect_loop_stops(serve: Any) -> None:
    holder: list[HostileServer] = []

    def loop(path: str) -> Reply:
        if path == "/v2/":
            return 200, {}, b"{}", "all"
        return 307, {"Location": f"http://{holder[0].host}{path}"}, b"", "all"

    holder.append(serve(loop))
    with pytest.raises(InputError, match=f"more than {reg.MAX_REDIRECTS} redirects"):
        _open(holder[0])
    assert len(holder[0].requests) <= reg.MAX_REDIRECTS + 3


def test_other_bytes_than_the_digest_asked_for(serve: Any) -> None:
    other = build(ImageSpec([Layer([File("etc/os-release", b"ID=evil\n")])]))
    server = serve(registry_of(layer=(200, {}, other.blobs[0], "all")))
    image = _open(server)
    with pytest.raises(CorruptInput, match=r"layer 0.*digest mismatch"):
        load_layers(image, LoadOptions(use_cache=False, jobs=1))
    # A manifest asked for by digest, answered with another one.
    digest = IMAGE.manifest_digest
    swapped = serve(
        registry_of(manifest=(200, {"Content-Type": MANIFEST_TYPE}, other.manifest, "all"))
    )
    with pytest.raises(CorruptInput, match="digest mismatch"):
        open_image(f"docker://{swapped.host}/team/app@{digest}", SourceOptions())


# ---- credentials never leak -----------------------------------------------------------------

SECRET = "pw-Zq8-SECRET-4242"


def _scan(host: str, env: dict[str, str], tmp_path: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "scan",
            "--jobs",
            "2",
            *args,
            f"docker://{host}/team/app:1",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout + proc.stderr


def test_credentials_never_appear_in_any_output(tmp_path: Path) -> None:
    fake = FakeRegistry()
    try:
        config_dir = tmp_path / "docker-config"
        config_dir.mkdir()
        auth = base64.b64encode(f"alice:{SECRET}".encode()).decode()
        (config_dir / "config.json").write_text(json.dumps({"auths": {fake.host: {"auth": auth}}}))
        tmp, cache = tmp_path / "tmp", tmp_path / "cache"
        tmp.mkdir()
        env = {"DOCKER_CONFIG": str(config_dir), "TMPDIR": str(tmp)}
        env["IMGAUDIT_CACHE_DIR"] = str(cache)
        outputs: list[str] = []
        code, text = _scan(
            fake.host, env, tmp_path, "-o", str(tmp_path / "r.json"), "-o", str(tmp_path / "r.html")
        )
        assert code in (0, 1), text
        outputs.append(text)
        # The token service got the password (basic auth); nothing else may.
        # Failures: a 503 storm, then a blob the storage cannot find.
        fake.fail_next = 1000
        code, text = _scan(fake.host, env, tmp_path, "--no-cache", "-f", "json")
        assert code == 2 and "503" in text
        outputs.append(text)
        fake.fail_next = 0
        fake.blobs.clear()
        code, text = _scan(
            fake.host, {**env, "IMGAUDIT_CACHE_DIR": str(tmp_path / "c2")}, tmp_path, "-f", "sarif"
        )
        assert code == 2, text
        outputs.append(text)
        files = [p for p in tmp_path.rglob("*") if p.is_file() and "docker-config" not in p.parts]
        assert any(p.name == "r.json" for p in files)
        for blob in [*outputs, *(p.read_bytes().decode("latin-1") for p in files)]:
            for needle in (SECRET, auth, TOKEN, "X-Signature"):
                assert needle not in blob
    finally:
        fake.stop()
