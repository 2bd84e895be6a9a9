"""A private PostgreSQL server for the history-store tests, stopped by its PID.

Why a real server: the store's PostgreSQL path (transactions, BIGSERIAL, advisory lock
around schema creation, concurrent writers) is exactly what a fake would not exercise.

The cluster lives in a temporary directory, listens on 127.0.0.1 on a free port and
on a private unix socket directory, and requires a password (scram-sha-256), so the
`postgresql://user:pass@host:port/db` URL is tested as users write it. PostgreSQL
refuses to run as root: as root, initdb and the server run as the `postgres` system
user (created by the Debian package) through `runuser`; otherwise as the current user.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.services import ServiceUnavailable, free_port, pid_alive

USER = "imgaudit"
DATABASE = "imgaudit"


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServiceUnavailable("PostgreSQL server not found (apt-get install postgresql)")


def _version_key(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


@dataclass
class PostgresServer:
    root: Path
    port: int
    password: str
    pid: int

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = _bindir()
        prefix: list[str] = []
        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise ServiceUnavailable("running as root and no postgres user exists") from None
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            prefix = [runuser, "-u", "postgres", "--"]
        root = Path(tempfile.mkdtemp(prefix="imgaudit-pg-"))
        password = secrets.token_hex(12)
        (root / "pw").write_text(password + "\n")
        (root / "sock").mkdir()
        if owner is not None:
            for path in (root, root / "pw", root / "sock"):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        data = root / "data"
        try:
            _run(
                [
                    *prefix,
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    f"--username={USER}",
                    f"--pwfile={root / 'pw'}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-sync",
                ]
            )
            port = _start_on_a_free_port(prefix, bindir, root, data)
            pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
            env = dict(os.environ, PGPASSWORD=password)
            _run(
                [
                    str(bindir / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    USER,
                    DATABASE,
                ],
                env=env,
            )
        except ServiceUnavailable:
            _stop_pid_file(data)
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cls(root, port, password, pid)

    def stop(self) -> None:
        """SIGINT is PostgreSQL's "fast" shutdown: abort clients, checkpoint, exit."""
        if pid_alive(self.pid):
            os.kill(self.pid, signal.SIGINT)
            deadline = time.monotonic() + 30
            while pid_alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if pid_alive(self.pid):
                os.kill(self.pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


#: Tries at a free port: another process may take the port between the moment it was
#: seen free and the moment the server binds it (as with the registries).
PORT_ATTEMPTS = 5


def _start_on_a_free_port(prefix: list[str], bindir: Path, root: Path, data: Path) -> int:
    """Start the server on a port that was free; on a lost race for it, try another."""
    log = root / "server.log"
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        start = log.stat().st_size if log.exists() else 0
        try:
            _run(
                [
                    *prefix,
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    f"-k {root / 'sock'} -p {port} -h 127.0.0.1 -c fsync=off",
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
            return port
        except ServiceUnavailable:
            with open(log, "rb") as fh:
                fh.seek(start)
                new = fh.read().decode(errors="replace")
            if "could not bind" not in new or attempt == PORT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _stop_pid_file(data: Path) -> None:
    try:
        pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if pid_alive(pid):
        os.kill(pid, signal.SIGINT)
        time.sleep(1)


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceUnavailable(f"{Path(cmd[0]).name}: {exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise ServiceUnavailable(f"{' '.join(cmd[:6])} failed: {last[0]}")
