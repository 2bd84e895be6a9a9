"""The registry client's protocol details, against a tiny registry served by the test.

The real registry (tests/integration) shows the happy paths; this small server lets
the tests force what a local registry never does: a token service, a redirect to
separate blob storage (which must not see the token), 503s, a multi-arch index with
arm64, oversized or tampered manifests.
"""

from __future__ import annotations

import base64
import contextlib
import json
import pickle
import socket
import ssl
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import CorruptInput, InputError
from auditor.loading import LoadOptions, load_layers
from auditor.sources import SourceOptions, open_image
from auditor.sources import registry as reg
from auditor.sources.platform import Platform
from tests.factory import File, ImageSpec, Layer, build, sha256

INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
TOKEN = "tok-secret-123"


class Server:
    """A loopback HTTP server whose handler is a method of the test's choosing."""

    def __init__(self, handle: Any) -> None:
        outer = self
        self.requests: list[tuple[str, dict[str, str]]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                outer.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = handle(self.path, self.headers)
                truncate = headers.pop("X-Test-Truncate", None)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if truncate:  # promise the whole body, send half, hang up
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeRegistry:
    """`team/app:1` is an index of linux/amd64 and linux/arm64/v8; token auth; blobs
    redirect to a separate storage server."""

    def __init__(self) -> None:
        self.images = {
            "amd64": build(
                ImageSpec(
                    [Layer([File("etc/os-release", b"ID=amd64test\n")])], architecture="amd64"
                )
            ),
            "arm64": build(
                ImageSpec(
                    [
                        Layer([File("etc/os-release", b"ID=arm64test\n")]),
                        Layer([File("app/x.py", b"x=1\n")]),
                    ],
                    architecture="arm64",
                    variant="v8",
                )
            ),
        }
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        descs = []
        for img in self.images.values():
            for blob in [*img.blobs, img.config]:
                self.blobs[sha256(blob)] = blob
            self.manifests[img.manifest_digest] = img.manifest
            plat = {"os": "linux", "architecture": img.spec.architecture}
            if img.spec.variant:
                plat["variant"] = img.spec.variant
            descs.append(
                {
                    "mediaType": MANIFEST_TYPE,
                    "digest": img.manifest_digest,
                    "size": len(img.manifest),
                    "platform": plat,
                }
            )
        self.index = json.dumps(
            {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": descs}
        ).encode()
        self.manifests[sha256(self.index)] = self.index
        self.fail_next = 0  # answer this many requests with 503 first
        self.tamper = False
        self.truncate_once: set[str] = set()
        self.storage = Server(self.serve_storage)
        self.server = Server(self.serve)
        self.host = self.server.host

    def stop(self) -> None:
        self.server.stop()
        self.storage.stop()

    def serve_storage(self, path: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        digest = path.split("?", 1)[0].rsplit("/", 1)[1]
        if digest not in self.blobs:
            return 404, {}, b""
        data = self.blobs[digest]
        wanted = headers.get("Range", "")
        if wanted.startswith("bytes=") and wanted.endswith("-"):
            start = int(wanted[6:-1])
            end = len(data) - 1
            return 206, {"Content-Range": f"bytes {start}-{end}/{len(data)}"}, data[start:]
        if digest in self.truncate_once:
            self.truncate_once.discard(digest)
            return 200, {"X-Test-Truncate": "1"}, data
        return 200, {"Content-Type": "application/octet-stream"}, data

    def serve(self, path: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        if self.fail_next > 0:
            self.fail_next -= 1
            return 503, {}, b"busy"
        if path.startswith("/token"):
            return 200, {"Content-Type": "application/json"}, json.dumps({"token": TOKEN}).encode()
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            challenge = (
                f'Bearer realm="http://{self.host}/token",service="fake",'
                'scope="repository:team/app:pull"'
            )
            return 401, {"WWW-Authenticate": challenge}, b""
        if path == "/v2/":
            return 200, {}, b"{}"
        if path.startswith("/v2/team/app/manifests/"):
            ref = path.rsplit("/", 1)[1]
            data = self.index if ref == "1" else self.manifests.get(ref)
            if data is None:
                return 404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
            media = json.loads(data)["mediaType"]
            digest = sha256(data)
            if self.tamper:
                data = data.replace(b'"schemaVersion": 2', b'"schemaVersion":2')
            return 200, {"Content-Type": media, "Docker-Content-Digest": digest}, data
        if path.startswith("/v2/team/app/blobs/"):
            digest = path.rsplit("/", 1)[1]
            if digest not in self.blobs:
                return 404, {}, b""
            location = f"http://{self.storage.host}/storage/{digest}?X-Signature=abc"
            return 307, {"Location": location}, b""
        return 404, {}, b""


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    registry = FakeRegistry()
    yield registry
    registry.stop()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setattr(reg, "BACKOFF", 0.0)


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "familiar"),
    [
        ("python:3.12", "docker.io", "library/python", "3.12", None, "python:3.12"),
        ("python", "docker.io", "library/python", "latest", None, "python:latest"),
        ("myorg/base:3.9", "docker.io", "myorg/base", "3.9", None, "myorg/base:3.9"),
        ("docker.io/library/python:3", "docker.io", "library/python", "3", None, "python:3"),
        ("index.docker.io/myorg/x", "docker.io", "myorg/x", "latest", None, "myorg/x:latest"),
        (
            "registry.example:5000/a/b/c:v1.2",
            "registry.example:5000",
            "a/b/c",
            "v1.2",
            None,
            "registry.example:5000/a/b/c:v1.2",
        ),
        ("localhost/app", "localhost", "app", "latest", None, "localhost/app:latest"),
        ("127.0.0.1:5000/app:1", "127.0.0.1:5000", "app", "1", None, "127.0.0.1:5000/app:1"),
        (
            "ghcr.io/o/app@sha256:" + "a" * 64,
            "ghcr.io",
            "o/app",
            None,
            "sha256:" + "a" * 64,
            "ghcr.io/o/app@sha256:" + "a" * 64,
        ),
        (
            "python:3.12@sha256:" + "b" * 64,
            "docker.io",
            "library/python",
            "3.12",
            "sha256:" + "b" * 64,
            "python:3.12@sha256:" + "b" * 64,
        ),
    ],
)
def test_parse_reference(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None, familiar: str
) -> None:
    ref = reg.parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ref.familiar() == familiar
    assert ref.endpoint == ("registry-1.docker.io" if registry == "docker.io" else registry)


@pytest.mark.parametrize(
    "text",
    ["", "Python:3", "app@sha256:abc", "app:bad/tag", "a b", "app:-x", "re//po", "host:5000/"],
)
def test_parse_reference_rejects(text: str) -> None:
    with pytest.raises(InputError):
        reg.parse_reference(text)


def test_parse_challenge() -> None:
    scheme, params = reg.parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull,push",
    }
    assert reg.parse_challenge('Basic realm="Registry Realm"') == (
        "basic",
        {"realm": "Registry Realm"},
    )
    assert reg.parse_challenge('bearer realm=https://x/t, error="insufficient_scope"') == (
        "bearer",
        {"realm": "https://x/t", "error": "insufficient_scope"},
    )
    assert reg.parse_challenge('Bearer realm="a\\"b"')[1] == {"realm": 'a"b'}


def test_plain_http_only_for_loopback_or_insecure() -> None:
    assert reg.is_loopback("127.0.0.1:5000")
    assert reg.is_loopback("localhost")
    assert reg.is_loopback("[::1]:5000")
    assert not reg.is_loopback("10.0.0.1:5000")
    assert not reg.is_loopback("registry.example")
    client = reg.RegistryClient("registry.example:5000", "a")
    assert not client.plain_http_allowed()
    assert client._probe_scheme() == "https"  # never probes plain http
    assert reg.RegistryClient(
        "registry.example:5000", "a", ("registry.example:5000",)
    ).plain_http_allowed()
    assert reg.RegistryClient(
        "registry.example:5000", "a", ("registry.example",)
    ).plain_http_allowed()


class _Handshakes(threading.Thread):
    """A loopback TLS server (a self-signed certificate made by openssl) that completes
    handshakes until closed."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(daemon=True)
        key, cert = tmp / "key.pem", tmp / "cert.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handshakes = 0

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), self.context.wrap_socket(conn, server_side=True):
                self.handshakes += 1


def test_a_loopback_registry_s_scheme_is_told_by_a_handshake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loopback (or --insecure) registry gets https when it completes a TLS handshake,
    plain http when it answers it as plain HTTP or refuses the connection; the probe
    checks no certificate (it loads no CA bundle: ~20 ms of a warm registry scan), the
    requests after it do."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    tls = _Handshakes(tmp_path)
    tls.start()
    plain = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        assert reg.RegistryClient(f"127.0.0.1:{tls.port}", "a")._probe_scheme() == "https"
        deadline = time.monotonic() + 5
        while tls.handshakes < 1 and time.monotonic() < deadline:  # the server's side
            time.sleep(0.01)
        assert tls.handshakes == 1
        assert reg.RegistryClient(f"localhost:{tls.port}", "a").base_url() == (
            f"https://localhost:{tls.port}"
        )
        host = f"127.0.0.1:{plain.server_address[1]}"
        assert reg.RegistryClient(host, "a")._probe_scheme() == "http"
        assert reg.RegistryClient(f"127.0.0.1:{closed_port}", "a")._probe_scheme() == "http"
    finally:
        tls.listener.close()
        plain.shutdown()
        plain.server_close()


# --------------------------------------------------------------------------- protocol


def test_index_platform_token_and_redirect_without_auth(fake: FakeRegistry, tmp_path: Path) -> None:
    image = open_image(
        f"docker://{fake.host}/team/app:1", SourceOptions(platform=Platform.parse("linux/arm64"))
    )
    arm = fake.images["arm64"]
    assert image.config_digest == arm.config_digest
    assert image.source.manifest_digest == arm.manifest_digest
    assert image.reference == f"{fake.host}/team/app:1"
    assert [ly.digest for ly in image.layers] == [sha256(b) for b in arm.blobs]
    # Locators travel to worker processes: they must pickle, token and all.
    assert all(pickle.loads(pickle.dumps(ly.locator)) == ly.locator for ly in image.layers)
    loaded = load_layers(image, LoadOptions(cache_dir=tmp_path / "cache", jobs=2))
    assert loaded.fs.read("etc/os-release") == b"ID=arm64test\n"
    assert loaded.fs.get("app/x.py") is not None
    # The token went to the registry, never to blob storage.
    storage_auth = [h.get("authorization") for _p, h in fake.storage.requests]
    assert len(storage_auth) == 3  # config is read through the registry too: 2 layers + config
    assert storage_auth == [None, None, None]
    registry_blob_auth = [h.get("authorization") for p, h in fake.server.requests if "/blobs/" in p]
    assert registry_blob_auth and all(a == f"Bearer {TOKEN}" for a in registry_blob_auth)


def test_default_platform_is_host_and_missing_platform_lists_choices(fake: FakeRegistry) -> None:
    image = open_image(f"docker://{fake.host}/team/app:1", SourceOptions())
    host_arch = Platform.host().architecture
    assert image.config_digest == fake.images[host_arch].config_digest
    with pytest.raises(InputError) as info:
        open_image(
            f"docker://{fake.host}/team/app:1",
            SourceOptions(platform=Platform.parse("linux/s390x")),
        )
    assert str(info.value) == (
        f"docker://{fake.host}/team/app:1: platform linux/s390x not in the image index "
        "(has: linux/amd64, linux/arm64/v8)"
    )


def test_retries_on_503(fake: FakeRegistry) -> None:
    fake.fail_next = 2
    image = open_image(f"docker://{fake.host}/team/app:1", SourceOptions())
    assert image.config_digest == fake.images["amd64"].config_digest
    assert [p for p, _ in fake.server.requests[:3]] == ["/v2/team/app/manifests/1"] * 3
    fake.fail_next = 1000
    with pytest.raises(InputError) as info:
        open_image(f"docker://{fake.host}/team/app:1", SourceOptions())
    assert str(info.value) == (
        f"{fake.host}/team/app:1: registry answered HTTP 503 after {reg.RETRIES + 1} attempts"
    )


def test_interrupted_download_resumes_with_range(fake: FakeRegistry, tmp_path: Path) -> None:
    arm = fake.images["arm64"]
    big = arm.blobs[0]
    fake.truncate_once.add(sha256(big))
    image = open_image(
        f"docker://{fake.host}/team/app:1", SourceOptions(platform=Platform.parse("linux/arm64"))
    )
    loaded = load_layers(image, LoadOptions(cache_dir=tmp_path / "cache", jobs=1))
    assert loaded.fs.read("etc/os-release") == b"ID=arm64test\n"  # digests verified
    ranges = [h.get("range") for p, h in fake.storage.requests if sha256(big) in p]
    assert ranges == [None, f"bytes={len(big) // 2}-"]


def test_manifest_digest_is_verified(fake: FakeRegistry) -> None:
    fake.tamper = True
    digest = fake.images["amd64"].manifest_digest
    with pytest.raises(CorruptInput, match="digest mismatch"):
        open_image(f"docker://{fake.host}/team/app@{digest}", SourceOptions())
    with pytest.raises(CorruptInput, match="Docker-Content-Digest"):
        open_image(f"docker://{fake.host}/team/app:1", SourceOptions())


def test_manifest_size_limit(fake: FakeRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reg, "MAX_MANIFEST_BYTES", 100)
    with pytest.raises(CorruptInput, match="over the 100"):
        open_image(f"docker://{fake.host}/team/app:1", SourceOptions())


# --------------------------------------------------------------------------- credentials


def _config(tmp_path: Path, data: dict[str, Any]) -> None:
    (tmp_path / "docker-config").mkdir(exist_ok=True)
    (tmp_path / "docker-config" / "config.json").write_text(json.dumps(data))


def test_credentials_from_auths(tmp_path: Path) -> None:
    auth = base64.b64encode(b"alice:s3cret:with:colons").decode()
    _config(
        tmp_path,
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:pw").decode()},
                "registry.example:5000": {"auth": auth},
            }
        },
    )
    creds = reg.load_credentials("registry.example:5000")
    assert creds is not None
    assert (creds.username, creds.secret) == ("alice", "s3cret:with:colons")
    assert "s3cret" not in repr(creds)
    hub = reg.load_credentials("docker.io")
    assert hub is not None and (hub.username, hub.secret) == ("hub", "pw")
    assert reg.load_credentials("other.example") is None


def test_credentials_from_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-imgaudittest"
    helper.write_text(
        "#!/bin/sh\nread server\n"
        'if [ "$server" = "registry.example" ]; then\n'
        '  echo \'{"ServerURL":"registry.example","Username":"bob","Secret":"hunter2"}\'\n'
        "else echo 'credentials not found in native keychain'; exit 1; fi\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    _config(tmp_path, {"credHelpers": {"registry.example": "imgaudittest"}})
    creds = reg.load_credentials("registry.example")
    assert creds is not None and (creds.username, creds.secret) == ("bob", "hunter2")
    _config(tmp_path, {"credsStore": "imgaudittest"})
    assert reg.load_credentials("elsewhere.example") is None
    creds = reg.load_credentials("registry.example")
    assert creds is not None and creds.username == "bob"


def test_warm_scan_fetches_only_manifests_and_config(fake: FakeRegistry, tmp_path: Path) -> None:
    """A second scan of the same image, caches filled: the manifests (index, platform
    manifest) and the config are all it asks for; no layer blob is downloaded again."""
    from auditor.loading import load_image
    from auditor.pipeline import Settings, audit

    ref = f"docker://{fake.host}/team/app:1"
    options = LoadOptions(
        source=SourceOptions(platform=Platform.parse("linux/arm64")),
        cache_dir=tmp_path / "cache",
        jobs=1,
    )
    arm = fake.images["arm64"]
    layer_digests = {sha256(b) for b in arm.blobs}
    cold = audit(load_image(ref, options), Settings()).to_json()
    cold_blobs = {p.rsplit("/", 1)[1].split("?")[0] for p, _ in fake.storage.requests}
    assert cold_blobs == layer_digests | {arm.config_digest}  # the cold scan read them all
    fake.server.requests.clear()
    fake.storage.requests.clear()
    warm = audit(load_image(ref, options), Settings()).to_json()
    assert warm == cold
    manifests = [p for p, _ in fake.server.requests if "/manifests/" in p]
    blobs = [p for p, _ in fake.server.requests if "/blobs/" in p]
    other = [p for p, _ in fake.server.requests if p not in manifests and p not in blobs]
    # The tag once more after the 401 that sends the client for a token (the token is
    # not kept between scans), then the platform's manifest.
    assert manifests == [
        "/v2/team/app/manifests/1",
        "/v2/team/app/manifests/1",
        f"/v2/team/app/manifests/{arm.manifest_digest}",
    ]
    auth = [h.get("authorization") for p, h in fake.server.requests if "/manifests/" in p]
    assert auth == [None, f"Bearer {TOKEN}", f"Bearer {TOKEN}"]
    assert blobs == [f"/v2/team/app/blobs/{arm.config_digest}"]
    assert [p.split("?")[0] for p, _ in fake.storage.requests] == [f"/storage/{arm.config_digest}"]
    assert all(p.startswith("/token") or p == "/v2/" for p in other), other
