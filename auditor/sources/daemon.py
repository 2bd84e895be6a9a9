"""`docker-daemon:REF`: an image from the local Docker engine, through its API.

The engine is found the way the docker CLI finds it: `DOCKER_HOST` (with
`DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH`), else the context named by `DOCKER_CONTEXT`
or by `currentContext` in the docker config, else the default socket. The image is
pulled per `--pull` (always / missing / never), then exported with the engine's save
API into a private temporary file. Why a file and not a stream: `docker save` output
is not ordered for streaming (the manifest comes last, layers in any order), so the
archive is read by random access with the docker-archive reader, which handles both
the legacy and the OCI-layout export formats. The file is deleted when the Image is
garbage-collected or the process exits.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import weakref
from typing import Any

from auditor.errors import InputError
from auditor.sources import progress
from auditor.sources.docker_archive import open_archive
from auditor.sources.interface import Image, SourceInfo
from auditor.sources.platform import Platform
from auditor.sources.registry import docker_config_dir

TRANSPORT = "docker-daemon"
PULL_POLICIES = ("always", "missing", "never")
API_TIMEOUT = 600  # seconds: exports of big images are slow


class EngineUnavailable(InputError):
    """The engine cannot be reached (not running, wrong DOCKER_HOST, no permission)."""


def engine_endpoint() -> tuple[str | None, dict[str, Any]]:
    """(base_url, extra client kwargs) from DOCKER_HOST or the current docker context.

    None means "the SDK's default" (DOCKER_HOST handled by `docker.from_env`).
    """
    if os.environ.get("DOCKER_HOST"):
        return None, {}
    name = os.environ.get("DOCKER_CONTEXT")
    if not name:
        try:
            with open(os.path.join(docker_config_dir(), "config.json"), encoding="utf-8") as fh:
                config = json.load(fh)
            name = config.get("currentContext") if isinstance(config, dict) else None
        except (OSError, ValueError):
            name = None
    if not name or name == "default":
        return None, {}
    context_id = hashlib.sha256(name.encode()).hexdigest()
    meta_path = os.path.join(docker_config_dir(), "contexts", "meta", context_id, "meta.json")
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
        endpoint = meta["Endpoints"]["docker"]
        host = str(endpoint["Host"])
    except (OSError, ValueError, KeyError, TypeError):
        raise EngineUnavailable(f"docker context {name!r} not found or unreadable") from None
    extra: dict[str, Any] = {}
    tls_dir = os.path.join(docker_config_dir(), "contexts", "tls", context_id, "docker")
    if os.path.isdir(tls_dir):
        from docker.tls import TLSConfig

        def tls_file(n: str) -> str | None:
            p = os.path.join(tls_dir, n)
            return p if os.path.exists(p) else None

        cert, key = tls_file("cert.pem"), tls_file("key.pem")
        extra["tls"] = TLSConfig(
            client_cert=(cert, key) if cert and key else None,
            ca_cert=tls_file("ca.pem"),
            verify=not endpoint.get("SkipTLSVerify", False),
        )
    return host, extra


def connect() -> Any:
    """A docker SDK client that has answered a ping, or EngineUnavailable."""
    import docker
    import docker.errors

    base_url, extra = engine_endpoint()
    where = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        if base_url is None:
            client = docker.from_env(timeout=API_TIMEOUT)
        else:
            client = docker.DockerClient(base_url=base_url, timeout=API_TIMEOUT, **extra)
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        raise EngineUnavailable(
            f"docker engine not reachable at {where} (is it running?): {_first_line(exc)}"
        ) from None
    return client


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def find_image(client: Any, ref: str) -> Any | None:
    """The engine's image for `ref`, or None when it has none."""
    import docker.errors

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        if getattr(exc, "status_code", None) == 404:
            return None
        raise InputError(f"docker-daemon:{ref}: {_first_line(exc)}") from None


def pull(client: Any, ref: str, platform: Platform | None, quiet: bool) -> None:
    """Pull `ref` through the engine, with a status line on a terminal."""
    import docker.errors
    from docker.utils import parse_repository_tag

    repository, tag = parse_repository_tag(ref)
    status = progress.StatusLine(progress.enabled(quiet))
    layers: dict[str, tuple[int, int]] = {}
    try:
        kwargs: dict[str, Any] = {"stream": True, "decode": True}
        if platform is not None:
            kwargs["platform"] = str(platform)
        for event in client.api.pull(repository, tag=tag or "latest", **kwargs):
            if "error" in event:
                raise InputError(f"docker-daemon:{ref}: pull failed: {_one_line(event['error'])}")
            detail = event.get("progressDetail") or {}
            if event.get("id") and isinstance(detail, dict) and detail.get("total"):
                layers[str(event["id"])] = (int(detail.get("current", 0)), int(detail["total"]))
            done = sum(c for c, _ in layers.values())
            total = sum(t for _, t in layers.values())
            status.update(f"pulling {ref} {progress.bar(done, total or None)}")
    except docker.errors.APIError as exc:
        raise InputError(f"docker-daemon:{ref}: pull failed: {_api_message(exc)}") from None
    finally:
        status.clear()


def _one_line(text: Any) -> str:
    lines = str(text).strip().splitlines()
    return lines[0][:300] if lines else "unknown error"


def _api_message(exc: Any) -> str:
    explanation = getattr(exc, "explanation", None)
    return _one_line(explanation or exc)


def export(client: Any, name: str, directory: str, quiet: bool) -> str:
    """Stream the engine's save output for `name` into `directory`/image.tar."""
    import docker.errors

    path = os.path.join(directory, "image.tar")
    status = progress.StatusLine(progress.enabled(quiet))
    written = 0
    try:
        with open(path, "wb") as out:
            for chunk in client.api.get_image(name, chunk_size=1 << 20):
                out.write(chunk)
                written += len(chunk)
                status.update(f"exporting {name} {progress.bar(written, None)}")
    except docker.errors.APIError as exc:
        raise InputError(f"docker-daemon:{name}: export failed: {_api_message(exc)}") from None
    except OSError as exc:
        raise InputError(f"docker-daemon:{name}: cannot write the export ({exc})") from None
    finally:
        status.clear()
    return path


def _remove_dir(path: str, owner_pid: int) -> None:
    # Forked layer workers inherit the finalizer: only the creating process deletes.
    if os.getpid() == owner_pid:
        shutil.rmtree(path, ignore_errors=True)


def open_daemon(
    ref: str,
    platform: Platform | None,
    pull_policy: str = "missing",
    quiet: bool = False,
    client: Any = None,
) -> Image:
    """Resolve `ref` in the local engine (pulling per policy) into an Image."""
    if pull_policy not in PULL_POLICIES:
        raise InputError(f"bad --pull {pull_policy!r} (one of {', '.join(PULL_POLICIES)})")
    if not ref:
        raise InputError("docker-daemon: empty image reference")
    client = client or connect()
    display = f"docker-daemon:{ref}"
    image = None if pull_policy == "always" else find_image(client, ref)
    if image is None:
        if pull_policy == "never":
            raise InputError(f"{display}: no such image in the docker engine (--pull never)")
        pull(client, ref, platform, quiet)
        image = find_image(client, ref)
        if image is None:
            raise InputError(f"{display}: no such image in the docker engine after the pull")
    image_id = str(image.id)
    # Export by name when the name is a tag of this image (keeps RepoTags), else by ID.
    by_name = "@" not in ref and any(_same_tag(ref, t) for t in image.tags or [])
    directory = tempfile.mkdtemp(prefix="imgaudit-daemon-")
    try:
        path = export(client, ref if by_name else image_id, directory, quiet)
        result = open_archive(path, None, platform, display)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    if result.config_digest != image_id:
        shutil.rmtree(directory, ignore_errors=True)
        raise InputError(f"{display}: the image changed while it was exported; try again")
    reference = result.reference or ref
    result = dataclasses.replace(result, reference=reference, source=SourceInfo(TRANSPORT, display))
    weakref.finalize(result, _remove_dir, directory, os.getpid())
    atexit.register(_remove_dir, directory, os.getpid())
    return result


def _same_tag(ref: str, tag: str) -> bool:
    def norm(name: str) -> str:
        for prefix in ("docker.io/library/", "docker.io/"):
            name = name.removeprefix(prefix)
        if ":" not in name.rsplit("/", 1)[-1]:
            name += ":latest"
        return name

    return norm(ref) == norm(tag)
