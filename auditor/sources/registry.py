"""`docker://REF`: read an image straight from an OCI / Docker v2 registry, no daemon.

Why our own client (one module, on `requests`): what we need is small (GET a
manifest, GET blobs as streams) but the safety details matter and the Python
clients on PyPI each miss some of them: `oras` targets artifacts and downloads blobs
to files, `python-dxf` brings its own auth stack (jwcrypto, www-authenticate) and
neither reads docker credential helpers, and `docker-registry-client` is unmaintained
since 2017. The details this module guarantees:

* Accept headers for OCI and Docker v2 manifests and indexes (without them a
  registry may convert to schema 1, which has no config and no diff_ids).
* The Bearer token challenge flow (anonymous pull tokens; basic credentials from
  `$DOCKER_CONFIG/config.json` `auths`, or `credsStore` / `credHelpers` through
  `docker-credential-NAME get`), and plain Basic auth.
* Redirects (blob storage, CDNs) are followed by hand, and never with the
  Authorization header: the token is for the registry, not for the storage host.
* Plain HTTP only for loopback hosts or `--insecure-registry HOST`; https is tried
  first even there, as docker does.
* Retries with backoff on 429 / 5xx and connection errors, timeouts on everything,
  a size limit on manifests, and digests verified (the pinned digest of a
  `@sha256:` reference, and the registry's Docker-Content-Digest header). Layer
  blobs are verified by `auditor.layers` while they stream.
* Credentials never appear in messages.

Manifests and indexes are resolved by the shared OCI layout logic
(`auditor.sources.ocilayout`) through `RegistryStore`, so platform selection and
validation are the same as for `oci:` directories. Layer blobs are `RegistryBlob`
locators: pickleable, they re-authenticate in the worker process that reads them.
Layers already in the layer cache (auditor/cache.py) are never opened, hence never
downloaded.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import ipaddress
import json
import os
import random
import re
import socket
import ssl
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import requests
import urllib3

from auditor.errors import CorruptInput, InputError, UnsupportedInput
from auditor.sources import progress
from auditor.sources.interface import BlobLocator, Image, SourceInfo, sha256_digest
from auditor.sources.ocilayout import INDEX_TYPES, MANIFEST_TYPES, BlobStore, load_image
from auditor.sources.platform import Platform

TRANSPORT = "docker"
DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
DOCKER_HUB_AUTH_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_REDIRECTS = 5
RETRIES = 4  # attempts after the first, for 429 / 5xx / connection errors
BACKOFF = 0.5  # seconds, doubled per attempt (with jitter)
MAX_RETRY_AFTER = 30.0
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0  # per socket read: a server that stops sending
# A server that drip-feeds (a byte now and then, never idle for READ_TIMEOUT) is caught
# by wall-clock budgets: a whole document (manifest, config) in DOCUMENT_DEADLINE; a
# layer blob in BLOB_GRACE plus the time its bytes take at MIN_BLOB_RATE.
DOCUMENT_DEADLINE = 120.0
BLOB_GRACE = 300.0
MIN_BLOB_RATE = 16 * 1024  # bytes per second, averaged over the whole blob
CHUNK = 1 << 20

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
SCHEMA1_TYPES = {
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
}

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_HOST = re.compile(r"^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::\d+)?$")


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class Reference:
    """A fully qualified image reference: registry host, repository, tag and/or digest."""

    registry: str  # as written by users ("docker.io", "127.0.0.1:5000")
    repository: str  # "library/python"
    tag: str | None = None
    digest: str | None = None

    @property
    def endpoint(self) -> str:
        """The host to talk to (Docker Hub's API lives on registry-1.docker.io)."""
        return DOCKER_HUB_ENDPOINT if self.registry == DOCKER_HUB else self.registry

    @property
    def selector(self) -> str:
        """What to put after /manifests/: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def familiar(self) -> str:
        """The short form docker prints (`python:3.12`, `myorg/app@sha256:...`)."""
        name = f"{self.registry}/{self.repository}"
        if self.registry == DOCKER_HUB:
            name = self.repository.removeprefix("library/")
        if self.digest:
            return f"{name}@{self.digest}" if not self.tag else f"{name}:{self.tag}@{self.digest}"
        return f"{name}:{self.tag or 'latest'}"

    def __str__(self) -> str:
        name = f"{self.registry}/{self.repository}"
        if self.tag:
            name += f":{self.tag}"
        if self.digest:
            name += f"@{self.digest}"
        return name


def parse_reference(text: str) -> Reference:
    """Parse a docker-style reference, filling in Docker Hub defaults.

    `python:3.12` -> docker.io/library/python:3.12; `host:5000/a/b@sha256:...`; the
    first component is a registry host when it has a dot or a port, or is localhost.
    """
    original = text
    if not text or any(c.isspace() for c in text):
        raise InputError(f"bad image reference {original!r}")
    name, at, digest = text.partition("@")
    if at and not _DIGEST.match(digest):
        raise InputError(f"bad digest in image reference {original!r} (want sha256:<64 hex>)")
    tag: str | None = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = name.rpartition(":")
        if not _TAG.match(tag):
            raise InputError(f"bad tag {tag!r} in image reference {original!r}")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        registry, repository = first, rest
        if not _HOST.match(registry):
            raise InputError(f"bad registry host {registry!r} in image reference {original!r}")
    else:
        registry, repository = DOCKER_HUB, name
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = "library/" + repository
    if not repository or not all(_COMPONENT.match(c) for c in repository.split("/")):
        raise InputError(
            f"bad repository name in image reference {original!r} "
            "(lowercase letters, digits and . _ - separators)"
        )
    if tag is None and not at:
        tag = "latest"
    return Reference(registry, repository, tag, digest or None)


def is_loopback(host: str) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1, with or without a port."""
    name = _hostname(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _speaks_tls(endpoint: str) -> bool:
    """Whether `host[:port]` (443 by default) completes a TLS handshake: False when it
    refuses the connection or answers the handshake with anything else (a plain HTTP
    server), as the requests-based probe decided; True when it cannot be told (a
    timeout), so that plain http is never chosen on a doubt."""
    host = _hostname(endpoint)
    tail = endpoint[len(host) + (2 if endpoint.startswith("[") else 0) :]
    port = int(tail[1:]) if tail.startswith(":") and tail[1:].isdigit() else 443
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only whether TLS is spoken, not to whom
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as sock:
            sock.settimeout(10)
            with context.wrap_socket(sock, server_hostname=host):
                return True
    except (ssl.SSLError, ConnectionError):
        return False
    except TimeoutError:
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- auth


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="https://x/token",service="reg",scope="repository:a:pull"` ->
    ("bearer", {realm, service, scope}). Quoted values may hold commas and escapes."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " ,":
            i += 1
        start = i
        while i < n and rest[i] not in "=, ":
            i += 1
        key = rest[start:i].strip().lower()
        while i < n and rest[i] == " ":
            i += 1
        if i >= n or rest[i] != "=":
            continue
        i += 1
        while i < n and rest[i] == " ":
            i += 1
        if i < n and rest[i] == '"':
            i += 1
            value = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(rest[i])
                i += 1
            i += 1
            params[key] = "".join(value)
        else:
            start = i
            while i < n and rest[i] != ",":
                i += 1
            params[key] = rest[start:i].strip()
    return scheme.lower(), params


@dataclass(frozen=True)
class Credentials:
    username: str = field(repr=False)
    secret: str = field(repr=False)
    identity_token: bool = False  # secret is an OAuth2 refresh token, not a password


def docker_config_dir() -> str:
    return os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def _auth_key_matches(key: str, registry: str) -> bool:
    host = key
    if "://" in host:
        host = urllib.parse.urlsplit(host).netloc
    host = host.split("/", 1)[0]
    if registry == DOCKER_HUB:
        return host in ("index.docker.io", "docker.io", "registry-1.docker.io")
    return host == registry


def load_credentials(registry: str) -> Credentials | None:
    """Credentials for `registry` from the docker config: helper first, then `auths`.

    Order as in the docker CLI: `credHelpers[registry]`, then `credsStore`, then the
    inline `auths` entry. An unreadable config means no credentials (anonymous pull).
    """
    path = os.path.join(docker_config_dir(), "config.json")
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    helpers = config.get("credHelpers")
    helper = None
    if isinstance(helpers, dict):
        for key, name in helpers.items():
            if isinstance(name, str) and _auth_key_matches(key, registry):
                helper = name
    if helper is None and isinstance(config.get("credsStore"), str):
        helper = config["credsStore"]
    if helper:
        found = _from_helper(helper, registry)
        if found is not None:
            return found
    auths = config.get("auths")
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        if not isinstance(entry, dict) or not _auth_key_matches(key, registry):
            continue
        if isinstance(entry.get("identitytoken"), str) and entry["identitytoken"]:
            return Credentials(str(entry.get("username") or ""), entry["identitytoken"], True)
        if isinstance(entry.get("auth"), str) and entry["auth"]:
            try:
                user, _, secret = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                raise InputError(f"{path}: bad 'auth' value for {key}") from None
            return Credentials(user, secret)
        if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
            return Credentials(entry["username"], entry["password"])
    return None


def _from_helper(helper: str, registry: str) -> Credentials | None:
    """`docker-credential-HELPER get` with the server URL on stdin, JSON on stdout."""
    if not re.match(r"^[A-Za-z0-9_.-]+$", helper):
        return None
    servers = list(DOCKER_HUB_AUTH_KEYS) if registry == DOCKER_HUB else [registry]
    for server in servers:
        try:
            done = subprocess.run(
                [f"docker-credential-{helper}", "get"],
                input=server.encode(),
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None  # helper missing or hung: fall back to anonymous / auths
        if done.returncode != 0:
            continue  # "credentials not found in native keychain"
        try:
            data = json.loads(done.stdout)
            user, secret = str(data["Username"]), str(data["Secret"])
        except (ValueError, KeyError, TypeError):
            continue
        if user == "<token>":
            return Credentials("", secret, True)
        return Credentials(user, secret)
    return None


# --------------------------------------------------------------------------- HTTP client


@dataclass
class RegistryClient:
    """HTTP access to one repository of one registry, with auth, retries and redirects.

    The client is cheap and holds no connection pool across processes: every worker
    that reads a blob makes its own (see `RegistryBlob`).
    """

    registry: str
    repository: str
    insecure: tuple[str, ...] = ()
    authorization: str | None = field(default=None, repr=False)
    scheme: str | None = None
    display: str = ""
    _session: requests.Session | None = field(default=None, repr=False)
    _credentials: Credentials | None = field(default=None, repr=False)
    _credentials_loaded: bool = False
    _auth_tried: str | None = field(default=None, repr=False)

    endpoint: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.display = self.display or f"{self.registry}/{self.repository}"
        self.endpoint = DOCKER_HUB_ENDPOINT if self.registry == DOCKER_HUB else self.registry

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = True  # proxies from the environment
            self._session.headers["User-Agent"] = "imgaudit"
        return self._session

    def plain_http_allowed(self, host: str | None = None) -> bool:
        host = host or self.registry
        return is_loopback(host) or host in self.insecure or _hostname(host) in self.insecure

    def credentials(self) -> Credentials | None:
        if not self._credentials_loaded:
            self._credentials = load_credentials(self.registry)
            self._credentials_loaded = True
        return self._credentials

    # -- scheme ------------------------------------------------------------------

    def base_url(self) -> str:
        if self.scheme is None:
            self.scheme = self._probe_scheme()
        return f"{self.scheme}://{self.endpoint}"

    def _probe_scheme(self) -> str:
        """https always; plain http only where allowed, and only when https fails.

        Whether the host speaks TLS is asked by a TLS handshake of our own, with no
        certificate check (the requests that follow check it as always): a probe
        through requests loaded the CA bundle for it, ~20 ms of a ~0.2 s scan answered
        from the result cache. Through a proxy the environment names, requests asks."""
        if not self.plain_http_allowed():
            return "https"
        url = f"https://{self.endpoint}/v2/"
        if not requests.utils.get_environ_proxies(url):
            return "https" if _speaks_tls(self.endpoint) else "http"
        try:
            self.session.get(url, timeout=(CONNECT_TIMEOUT, 10), allow_redirects=False)
            return "https"
        except requests.exceptions.SSLError:
            return "http"
        except requests.exceptions.ConnectionError:
            return "http"
        except requests.exceptions.RequestException:
            return "https"

    # -- requests ----------------------------------------------------------------

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        """GET `/v2/<repository>/<path>` with auth, retries and redirects; streamed.

        Raises InputError for not found (404), auth refused (401/403) and other
        client errors; the caller gets a 2xx response only.
        """
        return self.get_url(f"{self.base_url()}/v2/{self.repository}/{path}", headers, path)

    def get_url(
        self, url: str, headers: dict[str, str] | None = None, path: str = ""
    ) -> requests.Response:
        """`get` for a full URL of this registry (the catalog, a `Link` header's next page)."""
        path = path or urllib.parse.urlsplit(url).path
        response = self._send(url, headers or {})
        if response.status_code == 401:
            response.close()
            if self._authenticate(response):
                response = self._send(url, headers or {})
            if response.status_code == 401:
                response.close()
                raise InputError(self._refused_message())
        if response.status_code == 403:
            response.close()
            raise InputError(f"{self.display}: access denied by the registry (403)")
        if response.status_code == 404:
            response.close()
            raise InputError(f"{self.display}: not found in the registry ({path.split('/')[0]})")
        if response.status_code >= 400:
            response.close()
            raise InputError(
                f"{self.display}: registry answered HTTP {response.status_code} for {path}"
            )
        return response

    def _refused_message(self) -> str:
        if self.credentials() is None:
            return (
                f"{self.display}: access denied: the image does not exist or the registry "
                f"requires authentication (no credentials for {self.registry} in the docker "
                "config; docker login?)"
            )
        return f"{self.display}: authentication refused by the registry (check your credentials)"

    def _send(self, url: str, headers: dict[str, str]) -> requests.Response:
        """One logical GET: retries on 429/5xx/connection errors, redirects by hand."""
        attempt = 0
        while True:
            try:
                response = self._follow(url, headers)
            except requests.exceptions.SSLError as exc:
                raise InputError(
                    f"{self.display}: TLS error talking to {self.endpoint} ({_short_error(exc)})"
                ) from None
            except requests.exceptions.RequestException as exc:
                if attempt >= RETRIES:
                    raise InputError(
                        f"{self.display}: registry unreachable at {self.endpoint} "
                        f"({_short_error(exc)})"
                    ) from None
                _sleep(attempt, None)
                attempt += 1
                continue
            if (response.status_code == 429 or response.status_code >= 500) and attempt < RETRIES:
                retry_after = response.headers.get("Retry-After")
                response.close()
                _sleep(attempt, retry_after)
                attempt += 1
                continue
            if response.status_code == 429 or response.status_code >= 500:
                response.close()
                raise InputError(
                    f"{self.display}: registry answered HTTP {response.status_code} "
                    f"after {RETRIES + 1} attempts"
                )
            return response

    def _follow(self, url: str, headers: dict[str, str]) -> requests.Response:
        """GET and follow redirects. The Authorization header goes to the registry's own
        URL only; a redirect target (blob storage) gets the request without it."""
        send_auth = True
        for _ in range(MAX_REDIRECTS + 1):
            out = dict(headers)
            if send_auth and self.authorization:
                out["Authorization"] = self.authorization
            response = self.session.get(
                url,
                headers=out,
                stream=True,
                allow_redirects=False,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            )
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise InputError(f"{self.display}: redirect without a Location header")
            target = urllib.parse.urljoin(url, location)
            parts = urllib.parse.urlsplit(target)
            if parts.scheme not in ("http", "https"):
                raise InputError(f"{self.display}: redirect to an unsupported URL scheme")
            downgrade = parts.scheme == "http" and urllib.parse.urlsplit(url).scheme == "https"
            if downgrade and not self.plain_http_allowed(parts.netloc):
                raise InputError(
                    f"{self.display}: registry redirected from https to plain http "
                    f"({parts.netloc}); refused"
                )
            url = target
            send_auth = False
        raise InputError(f"{self.display}: more than {MAX_REDIRECTS} redirects")

    def _authenticate(self, response: requests.Response) -> bool:
        """Answer a 401 challenge once per scheme+realm; True when there is a new header."""
        header = response.headers.get("WWW-Authenticate", "")
        scheme, params = parse_challenge(header)
        key = f"{scheme} {params.get('realm', '')} {params.get('scope', '')}"
        if self._auth_tried == key:
            return False
        self._auth_tried = key
        creds = self.credentials()
        if scheme == "basic":
            if creds is None or creds.identity_token:
                return False
            if not (self.scheme == "https" or self.plain_http_allowed()):
                return False
            raw = f"{creds.username}:{creds.secret}".encode()
            self.authorization = "Basic " + base64.b64encode(raw).decode()
            return True
        if scheme == "bearer":
            token = self._fetch_token(params, creds)
            self.authorization = f"Bearer {token}"
            return True
        return False

    def _fetch_token(self, params: dict[str, str], creds: Credentials | None) -> str:
        realm = params.get("realm", "")
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"{self.display}: registry sent a bad auth realm")
        if parts.scheme == "http" and not self.plain_http_allowed(parts.netloc):
            raise InputError(
                f"{self.display}: token service {parts.netloc} is plain http; refused "
                "(use --insecure-registry for it)"
            )
        scope = params.get("scope") or f"repository:{self.repository}:pull"
        query = {"scope": scope}
        if params.get("service"):
            query["service"] = params["service"]
        try:
            if creds is not None and creds.identity_token:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": creds.secret,
                    "client_id": "imgaudit",
                    **query,
                }
                reply = self.session.post(realm, data=form, timeout=(CONNECT_TIMEOUT, 30))
            else:
                auth = (creds.username, creds.secret) if creds is not None else None
                reply = self.session.get(
                    realm, params=query, auth=auth, timeout=(CONNECT_TIMEOUT, 30)
                )
        except requests.exceptions.RequestException as exc:
            raise InputError(
                f"{self.display}: token service unreachable ({_short_error(exc)})"
            ) from None
        if reply.status_code in (401, 403):
            raise InputError(self._refused_message())
        if reply.status_code != 200:
            raise InputError(f"{self.display}: token service answered HTTP {reply.status_code}")
        try:
            body = reply.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise InputError(f"{self.display}: token service sent no token")
        return token

    # -- documents ---------------------------------------------------------------

    def fetch_manifest(self, selector: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest or index, size-limited and verified."""
        response = self.get(f"manifests/{selector}", {"Accept": ACCEPT})
        with response:
            data = _read_limited(response, MAX_MANIFEST_BYTES, f"{self.display}: manifest")
        digest = sha256_digest(data)
        if selector.startswith("sha"):
            _check_digest(data, selector, f"{self.display}: manifest")
            digest = selector
        header = response.headers.get("Docker-Content-Digest", "")
        if header.startswith(("sha256:", "sha512:")):
            _check_digest(data, header, f"{self.display}: manifest (Docker-Content-Digest)")
        media = response.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            doc_type = json.loads(data).get("mediaType")
        except (ValueError, AttributeError):
            doc_type = None
        if isinstance(doc_type, str) and doc_type:
            media = doc_type
        if media in SCHEMA1_TYPES or (not media and b'"schemaVersion": 1' in data):
            raise UnsupportedInput(
                f"{self.display}: the registry serves only a schema 1 manifest (unsupported)"
            )
        return data, media, digest

    def fetch_blob(self, digest: str, limit: int) -> bytes:
        response = self.get(f"blobs/{digest}")
        with response:
            data = _read_limited(response, limit, f"{self.display}: blob {digest}")
        _check_digest(data, digest, f"{self.display}: blob")
        return data


def _check_digest(data: bytes, digest: str, what: str) -> None:
    algo, _, hexpart = digest.partition(":")
    if algo not in ("sha256", "sha512"):
        return
    actual = hashlib.new(algo, data).hexdigest()
    if actual != hexpart.lower():
        raise CorruptInput(f"{what}: digest mismatch (expected {digest}, got {algo}:{actual})")


def _read_limited(response: requests.Response, limit: int, what: str) -> bytes:
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise CorruptInput(f"{what}: {length} bytes, over the {limit} limit")
    data = bytearray()
    deadline = time.monotonic() + DOCUMENT_DEADLINE
    try:
        # read1: whatever has arrived (a drip-fed body never fills a 64 KiB read).
        while chunk := response.raw.read1(65536, decode_content=True):
            data += chunk
            if len(data) > limit:
                raise CorruptInput(f"{what}: over the {limit} bytes limit")
            if time.monotonic() > deadline:
                raise InputError(
                    f"{what}: the registry sent {len(data)} bytes in {DOCUMENT_DEADLINE:.0f} s "
                    "and is still sending; gave up"
                )
    except (OSError, urllib3.exceptions.HTTPError, requests.RequestException) as exc:
        raise InputError(f"{what}: download failed ({_short_error(exc)})") from None
    return bytes(data)


def _sleep(attempt: int, retry_after: str | None) -> None:
    delay = BACKOFF * (2**attempt) * (0.75 + random.random() / 2)
    if retry_after and retry_after.strip().isdigit():
        delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER))
    time.sleep(delay)


def _short_error(exc: BaseException) -> str:
    """A one-line cause, without URLs' query strings (which can hold signed tokens)."""
    text = type(exc).__name__
    reason = exc.args[0] if exc.args else None
    inner = getattr(reason, "reason", None)
    if inner is not None:
        text = str(inner)
    elif reason is not None:
        text = str(reason)
    text = re.sub(r"\?[^\s'\")]*", "", text)
    return text.splitlines()[0][:200] if text else type(exc).__name__


# --------------------------------------------------------------------------- blobs


@dataclass(frozen=True)
class RegistryBlob(BlobLocator):
    """A layer blob in a registry, streamed when opened (in a worker process).

    Pickleable: only names and the current Authorization header travel; a worker
    whose token expired answers the challenge again with the same docker config.
    """

    registry: str
    repository: str
    digest: str
    size: int | None
    scheme: str
    insecure: tuple[str, ...] = ()
    authorization: str | None = field(default=None, repr=False)
    show_progress: bool = False

    def open(self) -> BinaryIO:
        client = RegistryClient(
            self.registry,
            self.repository,
            self.insecure,
            authorization=self.authorization,
            scheme=self.scheme,
        )
        response = client.get(f"blobs/{self.digest}")
        return _BlobStream(client, self, response)  # type: ignore[return-value]

    def describe(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"


class _BlobStream:
    """The raw (still compressed) bytes of a blob; resumes with a Range request when
    the connection drops, so one reset does not fail a long download."""

    def __init__(self, client: RegistryClient, blob: RegistryBlob, response: requests.Response):
        self._client = client
        self._blob = blob
        self._response = response
        self._offset = 0
        self._resumes = 0
        self._started = time.monotonic()
        self._status = progress.StatusLine(blob.show_progress)
        self._label = f"pulling {blob.digest.partition(':')[2][:12]}"

    def read(self, n: int = -1) -> bytes:
        while True:
            try:
                raw = self._response.raw
                data = raw.read(None, decode_content=False) if n < 0 else raw.read1(n, False)
            except (OSError, urllib3.exceptions.HTTPError, requests.RequestException) as exc:
                # The connection dropped mid-stream: resume where it stopped.
                self._resume(exc)
                continue
            self._offset += len(data)
            elapsed = time.monotonic() - self._started
            if data and elapsed > BLOB_GRACE + self._offset / MIN_BLOB_RATE:
                raise InputError(
                    f"{self._blob.describe()}: {self._offset} bytes in {elapsed:.0f} s, "
                    f"under {MIN_BLOB_RATE // 1024} KiB/s; gave up"
                )
            self._status.update(f"{self._label} {progress.bar(self._offset, self._blob.size)}")
            if not data:
                self._status.clear()
            return bytes(data)

    def _resume(self, exc: BaseException) -> None:
        self._response.close()
        if self._resumes >= RETRIES:
            raise InputError(
                f"{self._blob.describe()}: download interrupted ({_short_error(exc)})"
            ) from None
        self._resumes += 1
        _sleep(self._resumes - 1, None)
        response = self._client.get(
            f"blobs/{self._blob.digest}", {"Range": f"bytes={self._offset}-"}
        )
        if response.status_code != 206:
            response.close()
            raise InputError(
                f"{self._blob.describe()}: download interrupted and the registry cannot resume"
            )
        self._response = response

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._status.clear()
        self._response.close()
        self._client.session.close()

    def __enter__(self) -> _BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- store


class RegistryStore(BlobStore):
    """The registry seen as an OCI layout: `index.json` is the reference's manifest or
    index, blobs come over HTTP. Lets `ocilayout.load_image` resolve platforms."""

    def __init__(self, client: RegistryClient, ref: Reference, show_progress: bool) -> None:
        self.client = client
        self.ref = ref
        self.display = f"docker://{ref.familiar()}"
        self.show_progress = show_progress
        self._documents: dict[str, bytes] = {}
        self._index: bytes | None = None
        self.top_digest = ""

    def resolve(self) -> None:
        """Fetch the top document and present it as index.json."""
        data, media, digest = self.client.fetch_manifest(self.ref.selector)
        self._documents[digest] = data
        self.top_digest = digest
        if media in INDEX_TYPES:
            self._index = data
        elif media in MANIFEST_TYPES or not media:
            desc = {"mediaType": media or None, "digest": digest, "size": len(data)}
            self._index = json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode()
        else:
            raise UnsupportedInput(f"{self.display}: not an image (media type {media!r})")

    def has_file(self, name: str) -> bool:
        return name == "index.json" and self._index is not None

    def read_file(self, name: str) -> bytes:
        if name != "index.json" or self._index is None:
            raise CorruptInput(f"{self.display}: no {name}")
        return self._index

    def read_blob(self, digest: str) -> bytes:
        if digest not in self._documents:
            self._documents[digest] = self.client.fetch_blob(digest, MAX_CONFIG_BYTES)
        return self._documents[digest]

    def read_verified(self, digest: str, what: str) -> Any:
        # Children of an index are manifests, served from /manifests/ (a registry
        # need not serve them from /blobs/); configs come from /blobs/.
        if what in ("manifest", "index") and digest not in self._documents:
            data, _media, _digest = self.client.fetch_manifest(digest)
            self._documents[digest] = data
        return super().read_verified(digest, what)

    def locate(self, digest: str) -> BlobLocator:
        return RegistryBlob(
            registry=self.client.registry,
            repository=self.client.repository,
            digest=digest,
            size=None,
            scheme=self.client.scheme or "https",
            insecure=self.client.insecure,
            authorization=self.client.authorization,
            show_progress=self.show_progress,
        )


def open_registry(
    text: str,
    platform: Platform | None,
    insecure: tuple[str, ...] = (),
    quiet: bool = False,
) -> Image:
    """Resolve `text` (a reference, no transport prefix) in its registry into an Image."""
    ref = parse_reference(text)
    client = RegistryClient(ref.registry, ref.repository, insecure, display=ref.familiar())
    store = RegistryStore(client, ref, progress.enabled(quiet))
    store.resolve()
    source = SourceInfo(TRANSPORT, f"docker://{ref.familiar()}")
    image = load_image(store, None, platform, source)
    layers = tuple(
        dataclasses.replace(
            layer,
            locator=dataclasses.replace(layer.locator, size=layer.size)
            if isinstance(layer.locator, RegistryBlob)
            else layer.locator,
        )
        for layer in image.layers
    )
    return dataclasses.replace(image, reference=ref.familiar(), layers=layers)
