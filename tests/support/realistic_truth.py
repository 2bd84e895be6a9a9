"""The truth about an image of the realistic set, established by running it.

Why: a finding is right when running the image confirms it (shared/design.md). So the
tests never hard-code what an image contains: they run ``realistic_probe.py`` inside the
image through the shared engine (``--network none``, the probe bind-mounted read-only)
under the image's own CPython, which asks the image's own loader and interpreters.

Two runs per image: ``inventory`` as root (nothing hidden by permissions), then
``runtime`` as the image's configured user, with its env and working directory, and the
interpreters and venvs the first run found. Images without a shell are no exception:
the probe is started with the image's own interpreter as the entrypoint.

Results are cached as JSON under the test cache, keyed by image id and the probe's own
hash, so a changed probe or a rebuilt image is probed again and nothing else is.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import docker.errors

from .baseimages import BuiltImage
from .services import DockerEngine, cache_dir, cached_json

__all__ = ["PROBE", "establish", "probe_version"]

PROBE = Path(__file__).resolve().with_name("realistic_probe.py")
#: Interpreters tried, in order, to run the probe (every image of the set has one).
PROBE_PYTHONS = ("/usr/local/bin/python3.11", "/usr/bin/python3.11")
PROBE_WHEEL = "imgaudit_probe-1.0-py3-none-any.whl"


def probe_version() -> str:
    """A hash of how truth is established (the probe and this module): part of the cache key."""
    return hashlib.sha256(PROBE.read_bytes() + Path(__file__).read_bytes()).hexdigest()[:12]


def _probe_wheel() -> bytes:
    """A one-module wheel that ``pip install`` can install with no index and no deps."""
    files = {
        "imgaudit_probe.py": b"PROBE = True\n",
        "imgaudit_probe-1.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: imgaudit-probe\nVersion: 1.0\n"
        ),
        "imgaudit_probe-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: imgaudit-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = "".join(f"{name},,\n" for name in files) + "imgaudit_probe-1.0.dist-info/RECORD,,\n"
    files["imgaudit_probe-1.0.dist-info/RECORD"] = record.encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def _probe_dir() -> Path:
    """A world-readable directory holding the probe and its wheel, for the bind mount."""
    root = Path(tempfile.mkdtemp(prefix="imgaudit-probe-"))
    root.chmod(0o755)
    shutil.copyfile(PROBE, root / PROBE.name)
    (root / PROBE_WHEEL).write_bytes(_probe_wheel())
    for path in root.iterdir():
        path.chmod(0o644)
    return root


def _run(
    engine: DockerEngine,
    image: BuiltImage,
    probe_dir: Path,
    args: list[str],
    user: str | None,
    pythons: tuple[str, ...],
) -> dict[str, Any]:
    client = engine.client(timeout=1200)
    try:
        errors = []
        for python in pythons:
            try:
                container = client.containers.create(
                    image.id,
                    command=["/probe/" + PROBE.name, *args],
                    entrypoint=[python],
                    user=user if user is not None else "",
                    network_mode="none",
                    volumes={str(probe_dir): {"bind": "/probe", "mode": "ro"}},
                )
            except docker.errors.APIError as exc:
                errors.append(f"{python}: {exc}")
                continue
            try:
                try:
                    container.start()
                except docker.errors.APIError as exc:  # no such interpreter in the image
                    errors.append(f"{python}: {exc}")
                    continue
                status = container.wait(timeout=1200)
                out = container.logs(stdout=True, stderr=False).decode()
                err = container.logs(stdout=False, stderr=True).decode(errors="replace")
            finally:
                container.remove(force=True)
            if status.get("StatusCode") != 0:
                raise RuntimeError(f"probe {args[:1]} in {image.tag} failed: {err[-3000:]}")
            result: dict[str, Any] = json.loads(out)
            result["probe_python"] = python
            return result
        raise RuntimeError(f"no interpreter to run the probe in {image.tag}: {errors}")
    finally:
        client.close()


def _inspect(engine: DockerEngine, image: BuiltImage) -> dict[str, Any]:
    client = engine.client()
    try:
        inspect: dict[str, Any] = client.api.inspect_image(image.id)
        return inspect
    finally:
        client.close()


def establish(engine: DockerEngine, image: BuiltImage) -> dict[str, Any]:
    """The truth about ``image``: ``{"config", "size", "inventory", "runtime"}`` (see the
    probe); ``size`` is the engine's (uncompressed bytes of all layers)."""
    key = f"{image.id.removeprefix('sha256:')[:24]}-{probe_version()}"
    store = cache_dir() / "realistic" / "truth"

    def probe() -> dict[str, Any]:
        inspect = _inspect(engine, image)
        config = inspect["Config"]
        probe_dir = _probe_dir()
        try:
            inventory = _run(engine, image, probe_dir, ["inventory"], "0", PROBE_PYTHONS)
            command = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
            args = {
                "command": command,
                "pythons": inventory["pythons"],
                "venvs": inventory["venvs"],
                "wheel": "/probe/" + PROBE_WHEEL,
            }
            runtime = _run(
                engine, image, probe_dir, ["runtime", json.dumps(args)], None,
                (inventory["probe_python"],),
            )  # fmt: skip
        finally:
            shutil.rmtree(probe_dir, ignore_errors=True)
        truth = {"image": image.tag, "id": image.id, "config": config,
                 "size": inspect["Size"], "inventory": inventory, "runtime": runtime}  # fmt: skip
        return truth

    return cached_json(store / f"{key}.json", probe)
