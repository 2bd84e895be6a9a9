"""A private podman for tests: vfs storage under a temporary root, nothing shared.

Why podman: its `save` formats (docker-archive, oci-archive, oci-dir, docker-dir) and
its Docker-compatible API socket are how many users move images without dockerd;
imgaudit must read what the real podman writes. Every command runs with its own
`--root`/`--runroot`/`--tmpdir` (vfs needs no kernel overlay support, nor a mount
namespace), so it touches neither the machine's podman storage nor another test's.
The API service is stopped by its own PID.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path

from tests.support.services import (
    ServiceUnavailable,
    require_binary,
    require_root,
    stop_pid,
    wait_until,
)

__all__ = ["Podman"]


class Podman:
    """`podman` with its storage in `workdir` (as root: rootless needs subuid setup)."""

    def __init__(self, workdir: Path) -> None:
        require_root("podman with a private storage root")
        self.exe = require_binary("podman", "podman")
        self.workdir = workdir
        for sub in ("root", "tmp"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        # podman refuses a --runroot longer than 50 characters (and the API socket in it
        # must fit a unix socket path): pytest's tmp paths are longer, so a short one.
        self.runroot = Path(tempfile.mkdtemp(prefix="imgaudit-podman-", dir="/tmp"))
        weakref.finalize(self, shutil.rmtree, self.runroot, True)
        self.base = [
            self.exe,
            "--root",
            str(workdir / "root"),
            "--runroot",
            str(self.runroot),
            "--tmpdir",
            str(workdir / "tmp"),
            "--storage-driver",
            "vfs",
            "--events-backend",
            "file",
            "--cgroup-manager",
            "cgroupfs",
        ]

    def run(self, *args: str) -> str:
        """Run one podman command; ServiceUnavailable with its stderr when it fails."""
        done = subprocess.run([*self.base, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ServiceUnavailable(f"podman {args[0]} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    @contextlib.contextmanager
    def api(self) -> Iterator[str]:
        """The Docker-compatible API on a private unix socket; yields its DOCKER_HOST."""
        sock = self.runroot / "api.sock"
        log = self.workdir / "api.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*self.base, "system", "service", "--time=0", f"unix://{sock}"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(sock.exists, 30, "podman system service", lambda: proc.poll() is None, log)
            yield f"unix://{sock}"
        finally:
            stop_pid(proc.pid, proc=proc)
