"""Start and stop real services for integration tests: a Docker engine and registries.

Why real services: imgaudit reads images through the docker SDK (``docker-daemon:``)
and through the registry API (``docker://``). Fakes of either drift from the real
thing (manifest conversion, auth challenges, ``docker save`` layouts), so the
integration tests talk to a real ``dockerd`` and a real CNCF distribution registry.

Rules every helper here follows:

* Each service runs in a private temporary directory and is stopped by its own PID
  (never by process name), so parallel runs and other users of the machine are safe.
* Services run in their own session (``start_new_session``), so a Ctrl-C aimed at
  pytest does not kill them before fixture teardown can stop them cleanly.
* A service that cannot run here (binary missing, not root, kernel refuses) raises
  :class:`ServiceUnavailable` with a one-line reason; fixtures turn that into a skip
  (or a failure when ``IMGAUDIT_REQUIRE_INTEGRATION=1``, as ``scripts/test`` sets it
  after installing the packages).
* Only loopback addresses are used.

The Docker data root is persisted in the cache directory (``cache_dir()``) so that
built base images survive between local runs; the exec root and the API socket stay
private under ``/tmp`` (unix socket paths are limited to ~107 bytes).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import docker
import requests

__all__ = [
    "DockerEngine",
    "Registry",
    "ServiceUnavailable",
    "TokenServer",
    "cache_dir",
    "file_lock",
    "require_root",
    "shared_docker_engine",
]

#: Environment variable that moves the persistent cache (docker data root, rootfs tarballs).
CACHE_ENV = "IMGAUDIT_TEST_CACHE"


class ServiceUnavailable(Exception):
    """A service cannot run on this machine; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- helpers


def cache_dir() -> Path:
    """The persistent cache for integration services (created on first use).

    ``$IMGAUDIT_TEST_CACHE`` wins, else ``$XDG_CACHE_HOME/imgaudit-test``, else
    ``~/.cache/imgaudit-test``. Deleting it only costs time: everything is rebuilt.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        path = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "imgaudit-test"
    path.mkdir(parents=True, exist_ok=True)
    return path


def require_root(what: str) -> None:
    """Raise :class:`ServiceUnavailable` unless running as root (dockerd, debootstrap)."""
    if os.geteuid() != 0:
        raise ServiceUnavailable(f"{what} needs root (running as uid {os.geteuid()})")


def require_binary(name: str, package: str) -> str:
    """Return the path of ``name`` or raise :class:`ServiceUnavailable` naming the package."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise ServiceUnavailable(f"{name} not found (apt-get install {package})")
    return path


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block.

    Used so that concurrent test processes (pytest-xdist workers, two checkouts) share
    one dockerd per data root and build each cached base image once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def cached_json(path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`compute()`'s result, made once per `path` across processes and checkouts: read
    from `path` when it exists, else computed under a lock beside it and written
    atomically (a crashed writer leaves no half file)."""
    if path.exists():
        return dict(json.loads(path.read_text()))
    with file_lock(path.with_name(path.stem + ".lock")):
        if path.exists():
            return dict(json.loads(path.read_text()))
        result = compute()
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(result, sort_keys=True))
        partial.replace(path)
        return result


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (a zombie has already exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # Field 3 is the state; field 2 (comm) is in parentheses and may contain spaces.
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def pid_cmdline(pid: int) -> list[str]:
    """The argv of ``pid`` (empty if gone), used to guard against PID reuse."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def stop_pid(pid: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` s, then SIGKILL; reap it if it is our child."""
    if not pid_alive(pid):
        if proc is not None:
            proc.poll()
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return
        if not pid_alive(pid):
            if proc is not None:
                proc.poll()
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    else:
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, deepest first (the order to unmount them)."""
    prefix = str(root).rstrip("/")
    found: list[str] = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            # Field 5 is the mount point, with spaces etc. escaped as octal.
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_all_under(root: Path) -> None:
    """Unmount everything below ``root`` (dockerd leaves ``EXEC_ROOT/netns/default``)."""
    for point in mounts_under(root):
        done = subprocess.run(["umount", point], capture_output=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    alive: Callable[[], bool] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``check`` until it is true; fail fast if ``alive`` says the process died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # not up yet: connection refused, socket missing, ...
            pass
        if alive is not None and not alive():
            raise ServiceUnavailable(
                f"{what} exited during startup; log tail:\n{tail(log) if log else ''}"
            )
        if time.monotonic() > deadline:
            raise ServiceUnavailable(
                f"{what} not ready after {timeout:.0f}s; log tail:\n{tail(log) if log else ''}"
            )
        time.sleep(0.1)


# --------------------------------------------------------------------------- dockerd


@dataclass
class DockerEngine:
    """A private ``dockerd`` started by :meth:`start` and stopped by :meth:`stop`, by PID.

    ``host`` is the ``unix://`` URL to give the docker SDK (``client()``) or the CLI
    (``DOCKER_HOST``). The daemon has no bridge and no iptables rules, touches no host
    sysctl, and builds with ``network_mode="host"`` so ``RUN`` steps reach the
    package mirrors. ``storage_driver`` is ``overlay2`` unless that failed (``vfs``).
    """

    pid: int
    host: str
    data_root: Path
    exec_root: Path
    run_dir: Path
    storage_driver: str
    log_path: Path
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    #: API version to speak: the SDK defaults to a newer one than Debian's dockerd 20.10.
    API_VERSION = "auto"

    @classmethod
    def start(
        cls,
        data_root: Path,
        storage_drivers: tuple[str, ...] = ("overlay2", "vfs"),
        timeout: float = 60.0,
    ) -> DockerEngine:
        """Start dockerd on ``data_root``; try each storage driver in turn.

        Raises :class:`ServiceUnavailable` if dockerd is missing, we are not root, or
        no driver works. The caller must make sure no other dockerd uses
        ``data_root`` (see :func:`shared_docker_engine`).
        """
        require_root("dockerd")
        dockerd = require_binary("dockerd", "docker.io")
        data_root.mkdir(parents=True, exist_ok=True)
        errors: list[str] = []
        for driver in storage_drivers:
            # Short, private path: the API socket and containerd's socket live here.
            run_dir = Path(tempfile.mkdtemp(prefix="imgaudit-d-", dir="/tmp"))
            try:
                return cls._start_once(dockerd, data_root, run_dir, driver, timeout)
            except ServiceUnavailable as exc:
                errors.append(f"[{driver}] {exc.reason}")
                _remove_run_dir(run_dir)
        raise ServiceUnavailable("dockerd did not start:\n" + "\n".join(errors))

    @classmethod
    def _start_once(
        cls, dockerd: str, data_root: Path, run_dir: Path, driver: str, timeout: float
    ) -> DockerEngine:
        exec_root = run_dir / "e"
        sock = run_dir / "docker.sock"
        pidfile = run_dir / "docker.pid"
        config = run_dir / "daemon.json"
        log_path = run_dir / "dockerd.log"
        # An empty config file: ignore /etc/docker/daemon.json, whatever it says.
        config.write_text("{}\n")
        argv = [
            dockerd,
            f"--storage-driver={driver}",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--bridge=none",
            "--config-file", str(config),
            "--data-root", str(data_root),
            "--exec-root", str(exec_root),
            "--pidfile", str(pidfile),
            "-H", f"unix://{sock}",
        ]  # fmt: skip
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(run_dir),
            )
        engine = cls(
            pid=proc.pid,
            host=f"unix://{sock}",
            data_root=data_root,
            exec_root=exec_root,
            run_dir=run_dir,
            storage_driver=driver,
            log_path=log_path,
            _proc=proc,
        )
        try:
            wait_until(
                engine.ping,
                timeout,
                f"dockerd ({driver})",
                alive=lambda: proc.poll() is None,
                log=log_path,
            )
            actual = engine.client().info().get("Driver")
            if actual != driver:
                raise ServiceUnavailable(f"dockerd runs storage driver {actual}, not {driver}")
        except BaseException:
            engine._stop_process()
            unmount_all_under(run_dir)
            raise
        return engine

    def client(self, timeout: int = 600) -> docker.DockerClient:
        """A docker SDK client for this engine (long timeout: builds and saves are slow)."""
        return docker.DockerClient(base_url=self.host, version=self.API_VERSION, timeout=timeout)

    def ping(self) -> bool:
        """True if the engine's API answers."""
        client = docker.DockerClient(base_url=self.host, version=self.API_VERSION, timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def env(self) -> dict[str, str]:
        """``os.environ`` plus ``DOCKER_HOST`` for running the docker CLI against this engine."""
        return {**os.environ, "DOCKER_HOST": self.host}

    def is_running(self) -> bool:
        """True if our dockerd process still runs (checked by PID and argv)."""
        argv = pid_cmdline(self.pid)
        return pid_alive(self.pid) and str(self.data_root) in argv

    def _stop_process(self) -> None:
        if self.is_running() or self._proc is not None:
            stop_pid(self.pid, timeout=30.0, proc=self._proc)
        # dockerd stops its managed containerd; if dockerd was killed, containerd was not.
        ctr_pidfile = self.exec_root / "containerd" / "containerd.pid"
        with contextlib.suppress(FileNotFoundError, ValueError):
            ctr_pid = int(ctr_pidfile.read_text().strip())
            if any("containerd" in a for a in pid_cmdline(ctr_pid)[:1]):
                stop_pid(ctr_pid, timeout=10.0)

    def stop(self) -> None:
        """Stop dockerd by PID, unmount what it left, delete the private run dir.

        The data root (persistent cache) is kept; its leftover mounts are undone.
        """
        self._stop_process()
        unmount_all_under(self.run_dir)
        unmount_all_under(self.data_root)
        _remove_run_dir(self.run_dir)

    def to_state(self) -> dict[str, Any]:
        """JSON-able description, so another process can attach to this engine."""
        return {
            "pid": self.pid,
            "host": self.host,
            "data_root": str(self.data_root),
            "exec_root": str(self.exec_root),
            "run_dir": str(self.run_dir),
            "storage_driver": self.storage_driver,
            "log_path": str(self.log_path),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DockerEngine:
        """Attach to an engine another process started (see :func:`shared_docker_engine`)."""
        return cls(
            pid=int(state["pid"]),
            host=str(state["host"]),
            data_root=Path(state["data_root"]),
            exec_root=Path(state["exec_root"]),
            run_dir=Path(state["run_dir"]),
            storage_driver=str(state["storage_driver"]),
            log_path=Path(state["log_path"]),
        )


def _remove_run_dir(run_dir: Path) -> None:
    unmount_all_under(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)


@contextlib.contextmanager
def shared_docker_engine(data_root: Path | None = None) -> Iterator[DockerEngine]:
    """Use the one dockerd that serves ``data_root``, starting it if nobody runs it.

    Why: two dockerds on one data root corrupt it, and pytest-xdist runs one session
    per worker. A lock file next to the data root guards a small state file
    (``<data_root>.state.json``) with the engine's PID and the PIDs of the processes
    using it. Whoever leaves last stops the engine by PID, even if it did not start it.
    A leftover engine from a killed run is reused if it answers, stopped otherwise.
    """
    root = data_root or cache_dir() / "docker"
    lock = root.with_name(root.name + ".lock")
    state_path = root.with_name(root.name + ".state.json")
    me = os.getpid()

    with file_lock(lock):
        state = _read_state(state_path)
        engine: DockerEngine | None = None
        users: list[int] = []
        if state is not None:
            candidate = DockerEngine.from_state(state["engine"])
            users = [pid for pid in state.get("users", []) if pid_alive(pid) and pid != me]
            if candidate.is_running():
                try:
                    if candidate.ping():
                        engine = candidate
                except Exception:
                    engine = None
                if engine is None:
                    candidate.stop()
                    users = []
            else:
                candidate.stop()  # clean up mounts and run dir of a dead engine
                users = []
        started = engine is None
        if engine is None:
            engine = DockerEngine.start(root)
        users.append(me)
        try:
            _write_state(state_path, {"engine": engine.to_state(), "users": users})
        except BaseException:
            if started:
                engine.stop()
            raise

    try:
        yield engine
    finally:
        with file_lock(lock):
            state = _read_state(state_path)
            remaining = []
            if state is not None:
                remaining = [p for p in state.get("users", []) if p != me and pid_alive(p)]
            if remaining and state is not None:
                state["users"] = remaining
                _write_state(state_path, state)
            else:
                _prune_leftovers(engine)
                engine.stop()
                with contextlib.suppress(FileNotFoundError):
                    state_path.unlink()


def _prune_leftovers(engine: DockerEngine) -> None:
    """Remove stopped containers and untagged images before the last user stops the engine.

    Why: the data root outlives every run (images are built once and reused), and each
    rebuild of a tag leaves the old image behind, untagged. Nobody else uses the engine
    now (the caller holds the lock as its last user), so nothing in use can go. Tagged
    images stay: they are the cache that makes the next run fast.
    """
    try:
        client = engine.client(timeout=120)
        try:
            client.containers.prune()
            client.images.prune(filters={"dangling": True})
        finally:
            client.close()
    except Exception as exc:  # a failed clean-up must not fail the run
        print(f"note: could not prune the test engine's leftovers: {exc}", file=sys.stderr)


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) and "engine" in data else None


def _write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)


# --------------------------------------------------------------------------- token server


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(public_key_der: bytes) -> str:
    """The ``kid`` distribution expects: libtrust's fingerprint of the DER public key.

    base32(sha256(SubjectPublicKeyInfo)[:30]) without padding, in 12 groups of 4
    joined by ``:``. The registry looks the key up by this id among the certificates
    of ``auth.token.rootcertbundle``.
    """
    digest = hashlib.sha256(public_key_der).digest()[:30]
    text = base64.b32encode(digest).decode().rstrip("=")
    return ":".join(text[i : i + 4] for i in range(0, len(text), 4))


class TokenServer:
    """A minimal Docker registry token server (the ``auth.token`` realm), in a thread.

    Why in-process: it is tiny and has no binary to install. It checks HTTP basic
    credentials against ``users``, grants every requested scope to a valid user, and
    signs RS256 JWTs with a throwaway key whose self-signed certificate is the
    registry's ``rootcertbundle``. Anonymous requests get a token with no access (the
    registry then answers 401/insufficient_scope), like Docker Hub.
    """

    def __init__(self, workdir: Path, users: dict[str, str], service: str, issuer: str) -> None:
        """Create the key and certificate in ``workdir``; call :meth:`start` to serve."""
        try:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
            from cryptography.x509.oid import NameOID
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise ServiceUnavailable(f"token auth needs 'cryptography' ({exc})") from exc
        import datetime as dt

        self.users = dict(users)
        self.service = service
        self.issuer = issuer
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = libtrust_key_id(public_der)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path = workdir / "token-signing.crt"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._sign: Callable[[bytes], bytes] = lambda data: self._key.sign(
            data, padding.PKCS1v15(), hashes.SHA256()
        )
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.issued = 0

    @property
    def realm(self) -> str:
        """The URL the registry sends clients to for tokens."""
        return f"http://127.0.0.1:{self.port}/token"

    def make_token(self, subject: str, access: list[dict[str, Any]], ttl: int = 300) -> str:
        """A signed JWT granting ``access`` (list of {type, name, actions}) to ``subject``."""
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.key_id}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + ttl,
            "nbf": now - 30,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        return signing_input + "." + _b64url(self._sign(signing_input.encode()))

    def _check_user(self, authorization: str | None) -> str | None:
        """The user name for valid basic credentials, "" for anonymous, None for bad ones."""
        if not authorization:
            return ""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        expected = self.users.get(user)
        if expected is None or not secrets.compare_digest(expected, password):
            return None
        return user

    @staticmethod
    def _parse_scopes(scopes: list[str]) -> list[dict[str, Any]]:
        access = []
        for scope in scopes:
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) < 3:
                    continue
                # Names may contain ':' (registry host with a port), actions never do.
                kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1]
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        return access

    def start(self) -> TokenServer:
        """Serve on a free loopback port in a daemon thread."""
        server_ref = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _answer(self, query: dict[str, list[str]], authorization: str | None) -> None:
                user = server_ref._check_user(authorization)
                if user is None:
                    body = b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("WWW-Authenticate", 'Basic realm="imgaudit-test-token"')
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                access = server_ref._parse_scopes(query.get("scope", [])) if user else []
                token = server_ref.make_token(user, access)
                server_ref.issued += 1
                body = json.dumps(
                    {
                        "token": token,
                        "access_token": token,
                        "expires_in": 300,
                        "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                self._answer(query, self.headers.get("Authorization"))

            def do_POST(self) -> None:  # OAuth2 password grant, used by some clients
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                authorization = self.headers.get("Authorization")
                if "username" in form and "password" in form:
                    raw = f"{form['username'][0]}:{form['password'][0]}".encode()
                    authorization = "Basic " + base64.b64encode(raw).decode()
                self._answer(form, authorization)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="imgaudit-token-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


# --------------------------------------------------------------------------- registry


@dataclass
class Registry:
    """A private CNCF distribution registry (``docker-registry serve``) on 127.0.0.1.

    ``auth`` is ``"none"``, ``"basic"`` (htpasswd, bcrypt) or ``"token"`` (bearer
    tokens from an in-process :class:`TokenServer`). ``host`` (``127.0.0.1:PORT``) is
    what goes in an image reference; ``url`` is the HTTP base. Loopback registries
    need no insecure-registry setting in dockerd. Storage is a private temp dir with
    deletes enabled. Stopped by PID in :meth:`stop`.
    """

    pid: int
    port: int
    auth: str
    workdir: Path
    log_path: Path
    username: str | None = None
    password: str | None = None
    token_server: TokenServer | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    SERVICE = "imgaudit-test-registry"
    ISSUER = "imgaudit-test-token-server"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the registry part of image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    @property
    def storage(self) -> Path:
        """The registry's filesystem storage root."""
        return self.workdir / "storage"

    def auth_config(self) -> dict[str, str] | None:
        """Credentials in the docker SDK's ``auth_config`` form, or None without auth."""
        if self.username is None or self.password is None:
            return None
        return {"username": self.username, "password": self.password}

    @classmethod
    def start(
        cls,
        auth: str = "none",
        username: str = "imgaudit",
        password: str | None = None,
        timeout: float = 30.0,
    ) -> Registry:
        """Start a registry; raise :class:`ServiceUnavailable` if it cannot run here."""
        if auth not in ("none", "basic", "token"):
            raise ValueError(f"unknown auth mode {auth!r}")
        binary = require_binary("docker-registry", "docker-registry")
        workdir = Path(tempfile.mkdtemp(prefix="imgaudit-reg-"))
        token_server: TokenServer | None = None
        try:
            password = password or secrets.token_urlsafe(12)
            auth_section: dict[str, Any] = {}
            if auth == "basic":
                htpasswd = workdir / "htpasswd"
                htpasswd.write_text(f"{username}:{bcrypt_hash(password)}\n")
                auth_section = {"htpasswd": {"realm": "imgaudit-test", "path": str(htpasswd)}}
            elif auth == "token":
                token_server = TokenServer(
                    workdir, {username: password}, cls.SERVICE, cls.ISSUER
                ).start()
                auth_section = {
                    "token": {
                        "realm": token_server.realm,
                        "service": cls.SERVICE,
                        "issuer": cls.ISSUER,
                        "rootcertbundle": str(token_server.cert_path),
                    }
                }
            last_error: ServiceUnavailable | None = None
            for _attempt in range(3):  # the free port may be taken between probe and bind
                try:
                    registry = cls._start_once(
                        binary, workdir, auth, auth_section, timeout,
                        username if auth != "none" else None,
                        password if auth != "none" else None,
                        token_server,
                    )  # fmt: skip
                    return registry
                except ServiceUnavailable as exc:
                    last_error = exc
            assert last_error is not None
            raise last_error
        except BaseException:
            if token_server is not None:
                token_server.stop()
            shutil.rmtree(workdir, ignore_errors=True)
            raise

    @classmethod
    def _start_once(
        cls,
        binary: str,
        workdir: Path,
        auth: str,
        auth_section: dict[str, Any],
        timeout: float,
        username: str | None,
        password: str | None,
        token_server: TokenServer | None,
    ) -> Registry:
        port = free_port()
        config: dict[str, Any] = {
            "version": "0.1",
            "log": {"level": "info", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(workdir / "storage")},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
        }
        if auth_section:
            config["auth"] = auth_section
        config_path = workdir / "config.yml"
        # JSON is YAML: no YAML library needed.
        config_path.write_text(json.dumps(config, indent=2))
        log_path = workdir / "registry.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [binary, "serve", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(workdir),
            )
        registry = cls(
            pid=proc.pid,
            port=port,
            auth=auth,
            workdir=workdir,
            log_path=log_path,
            username=username,
            password=password,
            token_server=token_server,
            _proc=proc,
        )

        def answers() -> bool:
            return requests.get(f"{registry.url}/v2/", timeout=2).status_code in (200, 401)

        try:
            wait_until(
                answers, timeout, "docker-registry", alive=lambda: proc.poll() is None, log=log_path
            )
        except BaseException:
            stop_pid(proc.pid, timeout=10, proc=proc)
            raise
        return registry

    def request(
        self, method: str, path: str, anonymous: bool = False, **kwargs: Any
    ) -> requests.Response:
        """An HTTP request to the registry API that answers auth challenges like a client.

        Basic: sends the credentials. Token: on a ``Bearer`` challenge, fetches a token
        for the challenged scope from the realm (with credentials) and retries.
        ``anonymous=True`` sends no credentials anywhere.
        """
        url = path if path.startswith("http") else self.url + path
        kwargs.setdefault("timeout", 30)
        basic: tuple[str, str] | None = None
        if not anonymous and self.username is not None and self.password is not None:
            basic = (self.username, self.password)
        if self.auth == "basic":
            return requests.request(method, url, auth=basic, **kwargs)
        response = requests.request(method, url, **kwargs)
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code != 401 or not challenge.lower().startswith("bearer "):
            return response
        params = parse_challenge(challenge)
        query = {"service": params.get("service", "")}
        if "scope" in params:
            query["scope"] = params["scope"]
        token_response = requests.get(params["realm"], params=query, auth=basic, timeout=30)
        if token_response.status_code != 200:
            return token_response
        token = token_response.json()["token"]
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, url, headers=headers, **kwargs)

    def tags(self, repository: str) -> list[str]:
        """``GET /v2/<repository>/tags/list`` (raises on an HTTP error)."""
        response = self.request("GET", f"/v2/{repository}/tags/list")
        response.raise_for_status()
        return list(response.json().get("tags") or [])

    def is_running(self) -> bool:
        """True if the registry process still runs."""
        return pid_alive(self.pid)

    def stop(self) -> None:
        """Stop the registry (and its token server) by PID; delete its directory."""
        stop_pid(self.pid, timeout=15, proc=self._proc)
        if self.token_server is not None:
            self.token_server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def parse_challenge(header: str) -> dict[str, str]:
    """Parse ``Bearer realm="...",service="...",scope="..."`` into a dict."""
    _, _, rest = header.partition(" ")
    params: dict[str, str] = {}
    key = ""
    value: list[str] = []
    in_quotes = False
    state = "key"
    for ch in rest + ",":
        if state == "key":
            if ch == "=":
                state = "value"
            elif ch not in ", ":
                key += ch
        elif ch == '"':
            in_quotes = not in_quotes
        elif ch == "," and not in_quotes:
            params[key.strip()] = "".join(value)
            key, value, state = "", [], "key"
        else:
            value.append(ch)
    return params


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash for an htpasswd file (distribution accepts only bcrypt).

    Uses the ``bcrypt`` wheel (installed by ``scripts/test``); falls back to
    ``htpasswd -nbB`` from apache2-utils if that is what the machine has.
    """
    try:
        import bcrypt
    except ImportError:
        htpasswd = shutil.which("htpasswd")
        if htpasswd is None:
            raise ServiceUnavailable(
                "basic-auth registry needs the 'bcrypt' package (pip install bcrypt)"
            ) from None
        out = subprocess.run(
            [htpasswd, "-nbBC", "5", "user", password], capture_output=True, text=True, check=True
        ).stdout
        return out.strip().split(":", 1)[1]
    hashed: bytes = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5))
    return hashed.decode()
