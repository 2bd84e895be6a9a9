"""Build, cache, save and push the real images integration tests scan.

Why build our own bases: there is no Docker Hub here, only the Debian and PyPI
mirrors. ``debootstrap --variant=minbase bookworm`` gives a real Debian root
filesystem (dpkg database, os-release, glibc ELF files) that ``docker import`` turns
into a base image; ``docker build --network host`` then adds Debian's Python from
the same mirror. Images scanned in tests are therefore what users really scan.

Caching, cheapest first:

1. The engine's data root is persistent (see ``services.shared_docker_engine``): an
   image whose tag carries the expected recipe label is reused as is.
2. The debootstrap root filesystem is kept as a tarball in ``cache_dir()``: a fresh
   data root only needs ``docker import`` (seconds), not debootstrap (~40 s).

Every builder takes a file lock, so concurrent test processes build each image once.
Nothing from an image is run on the host; ``RUN`` steps run inside the engine.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from .services import (
    DockerEngine,
    Registry,
    cache_dir,
    file_lock,
    require_binary,
    require_root,
)

__all__ = [
    "MINBASE_TAG",
    "PYTHON_TAG",
    "BuildError",
    "BuiltImage",
    "PushedImage",
    "apt_mirror",
    "build",
    "debian_minbase",
    "debian_python",
    "minbase_rootfs",
    "push",
    "save",
]

MINBASE_TAG = "imgaudit-test/bookworm-minbase:latest"
PYTHON_TAG = "imgaudit-test/bookworm-python:latest"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
#: Label whose value is a hash of how an image was made; a mismatch forces a rebuild.
RECIPE_LABEL = "org.imgaudit.test.recipe"
#: Bump when the minbase recipe (debootstrap options, clean-up) changes.
MINBASE_RECIPE_VERSION = "1"

PYTHON_DOCKERFILE = """\
FROM {base}
RUN export DEBIAN_FRONTEND=noninteractive \\
 && apt-get update \\
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
CMD ["python3"]
"""

ContextFile = bytes | str | Path


class BuildError(RuntimeError):
    """A ``docker build`` failed; the message carries the build log."""

    def __init__(self, tag: str, log: str) -> None:
        super().__init__(f"docker build of {tag} failed:\n{log}")
        self.tag = tag
        self.log = log


@dataclass(frozen=True)
class BuiltImage:
    """An image in the test engine: ``tag`` to refer to it, ``id`` (``sha256:...``)."""

    tag: str
    id: str


@dataclass(frozen=True)
class PushedImage:
    """An image pushed to a test registry.

    ``reference`` is ``127.0.0.1:PORT/repository:tag``; ``digest`` is the manifest
    digest the registry reported (``sha256:...``).
    """

    reference: str
    repository: str
    tag: str
    digest: str


# --------------------------------------------------------------------------- mirror


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = ""
    for raw in [*text.splitlines(), ""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if stanza:
                yield stanza
            stanza, key = {}, ""
            continue
        if raw[0] in " \t" and key:
            stanza[key] += " " + raw.strip()
            continue
        key, _, value = raw.partition(":")
        key = key.strip().lower()
        stanza[key] = value.strip()


def apt_mirror(suite: str = SUITE, etc: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses for ``suite`` (debootstrap needs one).

    Reads ``sources.list.d/*.sources`` (deb822) first, then ``sources.list`` and
    ``sources.list.d/*.list`` (one-line style); ``$IMGAUDIT_TEST_MIRROR`` overrides.
    Falls back to deb.debian.org.
    """
    override = os.environ.get("IMGAUDIT_TEST_MIRROR")
    if override:
        return override
    for path in sorted(glob.glob(str(etc / "sources.list.d" / "*.sources"))):
        with contextlib.suppress(OSError):
            for stanza in _deb822_stanzas(Path(path).read_text()):
                if stanza.get("enabled", "yes").lower() == "no":
                    continue
                if "deb" not in stanza.get("types", "").split():
                    continue
                if suite in stanza.get("suites", "").split() and stanza.get("uris"):
                    return stanza["uris"].split()[0]
    lists = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for list_path in lists:
        with contextlib.suppress(OSError):
            for line in list_path.read_text().splitlines():
                # deb [arch=amd64 signed-by=...] URI SUITE COMPONENT...
                line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0])
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
                    return parts[1]
    return DEFAULT_MIRROR


# --------------------------------------------------------------------------- engine helpers


def _image(engine: DockerEngine, tag: str) -> Any | None:
    client = engine.client()
    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    finally:
        client.close()


def _cached(engine: DockerEngine, tag: str, recipe: str) -> BuiltImage | None:
    image = _image(engine, tag)
    if image is not None and (image.labels or {}).get(RECIPE_LABEL) == recipe:
        return BuiltImage(tag=tag, id=str(image.id))
    return None


def _context_tar(dockerfile_text: str, context_files: Mapping[str, ContextFile]) -> bytes:
    """A build context tar: ``Dockerfile`` plus ``context_files`` (name -> content).

    A value is the bytes of a file, or a host path (file or directory) to add under
    that name. Entries are root-owned with a fixed mtime, so the context is
    reproducible and the build cache hits across runs.
    """
    if "Dockerfile" in context_files:
        raise ValueError("pass the Dockerfile as dockerfile_text, not in context_files")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add_bytes(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))

        def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            return info

        add_bytes("Dockerfile", dockerfile_text.encode())
        for name, content in sorted(context_files.items()):
            name = name.lstrip("/")
            if isinstance(content, bytes):
                add_bytes(name, content)
            elif isinstance(content, str):
                add_bytes(name, content.encode())
            else:
                tar.add(str(content), arcname=name, filter=normalise)
    return buf.getvalue()


def build(
    engine: DockerEngine,
    tag: str,
    dockerfile_text: str,
    context_files: Mapping[str, ContextFile] | None = None,
    labels: Mapping[str, str] | None = None,
    buildargs: Mapping[str, str] | None = None,
    nocache: bool = False,
) -> str:
    """``docker build`` with ``--network host``; return the image id (``sha256:...``).

    ``context_files`` maps names in the build context to bytes, text, or a host path.
    Raises :class:`BuildError` with the whole build log when a step fails.
    """
    context = _context_tar(dockerfile_text, context_files or {})
    client = engine.client()
    log: list[str] = []
    image_id: str | None = None
    try:
        stream: Iterable[dict[str, Any]] = client.api.build(
            fileobj=io.BytesIO(context),
            custom_context=True,
            tag=tag,
            rm=True,
            forcerm=True,
            network_mode="host",
            labels=dict(labels or {}),
            buildargs=dict(buildargs or {}),
            nocache=nocache,
            decode=True,
        )
        for chunk in stream:
            if "stream" in chunk:
                log.append(str(chunk["stream"]))
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("error") or chunk.get("errorDetail")
                log.append(f"ERROR: {detail}\n")
                raise BuildError(tag, "".join(log))
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
        if image_id is None:
            try:
                image_id = str(client.images.get(tag).id)
            except docker.errors.ImageNotFound:
                raise BuildError(tag, "".join(log) + "\n(no image was produced)") from None
        return image_id
    except docker.errors.APIError as exc:
        raise BuildError(tag, "".join(log) + f"\nAPI error: {exc}") from exc
    finally:
        client.close()


def save(engine: DockerEngine, tag: str, path: Path) -> Path:
    """``docker save TAG > path``, streamed (tags are recorded in manifest.json).

    Docker 20.10 writes the legacy layout (manifest.json, ``<id>/layer.tar``);
    engines >= 25 would write an OCI layout inside the same tar.
    """
    client = engine.client()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as out:
            for chunk in client.api.get_image(tag):
                out.write(chunk)
        partial.replace(path)
        return path
    finally:
        client.close()


def push(
    engine: DockerEngine, tag: str, registry: Registry, repository: str | None = None
) -> PushedImage:
    """Tag ``tag`` as ``REGISTRY/repository:tag`` and push it through the engine.

    ``repository`` defaults to the repository part of ``tag``. Uses the registry's
    credentials when it has auth (basic or token). Raises RuntimeError with the
    push log when the engine reports an error.
    """
    name, _, version = tag.rpartition(":")
    if not name or "/" in version:
        name, version = tag, "latest"
    repo = repository or name
    target = f"{registry.host}/{repo}"
    client = engine.client()
    log: list[str] = []
    digest = ""
    try:
        client.api.tag(tag, target, version)
        for chunk in client.api.push(
            target, tag=version, stream=True, decode=True, auth_config=registry.auth_config()
        ):
            log.append(json.dumps(chunk))
            if "error" in chunk or "errorDetail" in chunk:
                raise RuntimeError(f"push of {target}:{version} failed:\n" + "\n".join(log))
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "Digest" in aux:
                digest = str(aux["Digest"])
    finally:
        try:
            if f"{target}:{version}" != tag:  # the tag made for the push: the data root
                # outlives the run, and registries get a new port each time
                with contextlib.suppress(docker.errors.ImageNotFound):
                    client.api.remove_image(f"{target}:{version}")
        finally:
            client.close()
    return PushedImage(reference=f"{target}:{version}", repository=repo, tag=version, digest=digest)


# --------------------------------------------------------------------------- base images


def _minbase_recipe(mirror: str) -> str:
    text = f"{MINBASE_RECIPE_VERSION}|{SUITE}|minbase|{mirror}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def minbase_rootfs(mirror: str | None = None, cache: Path | None = None) -> Path:
    """The cached debootstrap ``minbase`` root filesystem tarball, made if missing.

    ``debootstrap --variant=minbase bookworm ROOT MIRROR`` (root needed, ~40 s), then
    the apt lists and caches are dropped (they are host-specific and big) and the
    hostname and resolv.conf debootstrap copied from the host are reset.
    """
    mirror = mirror or apt_mirror()
    cache = cache or cache_dir()
    tarball = cache / f"bookworm-minbase-{_minbase_recipe(mirror)}.tar"
    if tarball.exists():
        return tarball
    require_root("debootstrap")
    debootstrap = require_binary("debootstrap", "debootstrap")
    with file_lock(cache / "rootfs.lock"):
        if tarball.exists():
            return tarball
        work = Path(tempfile.mkdtemp(prefix="imgaudit-rootfs-", dir=cache))
        root = work / "root"
        try:
            done = subprocess.run(
                [debootstrap, "--variant=minbase", SUITE, str(root), mirror],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                log = (done.stdout + done.stderr)[-4000:]
                debootstrap_log = root / "debootstrap" / "debootstrap.log"
                if debootstrap_log.exists():
                    log += "\n" + debootstrap_log.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"debootstrap failed ({done.returncode}):\n{log}")
            junk = ("var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb")
            for pattern in junk:
                for path in glob.glob(str(root / pattern)):
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
            (root / "etc" / "hostname").write_text("imgaudit-test\n")
            (root / "etc" / "resolv.conf").write_text("")
            partial = tarball.with_name(tarball.name + ".partial")
            subprocess.run(
                ["tar", "--numeric-owner", "--sort=name", "-C", str(root),
                 "-cf", str(partial), "."],
                check=True,
                capture_output=True,
            )  # fmt: skip
            partial.replace(tarball)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return tarball


def debian_minbase(engine: DockerEngine) -> BuiltImage:
    """``imgaudit-test/bookworm-minbase:latest``: debootstrap minbase, ``docker import``ed.

    Reused when the engine already has the tag with the same recipe label; otherwise
    imported from the cached rootfs tarball (made by :func:`minbase_rootfs` if needed).
    """
    mirror = apt_mirror()
    recipe = _minbase_recipe(mirror)
    cached = _cached(engine, MINBASE_TAG, recipe)
    if cached is not None:
        return cached
    with file_lock(cache_dir() / "images.lock"):
        cached = _cached(engine, MINBASE_TAG, recipe)
        if cached is not None:
            return cached
        tarball = minbase_rootfs(mirror)
        repository, _, tag = MINBASE_TAG.rpartition(":")
        client = engine.client()
        try:
            client.api.import_image_from_file(
                str(tarball),
                repository=repository,
                tag=tag,
                changes=[f"LABEL {RECIPE_LABEL}={recipe}", 'CMD ["bash"]'],
            )
            image = client.images.get(MINBASE_TAG)
        finally:
            client.close()
        return BuiltImage(tag=MINBASE_TAG, id=str(image.id))


def debian_python(engine: DockerEngine) -> BuiltImage:
    """``imgaudit-test/bookworm-python:latest``: minbase + Debian's python3, venv, pip.

    Built with ``--network host`` from the mirror debootstrap wrote into the image's
    /etc/apt/sources.list. Rebuilt when the minbase image or the Dockerfile changes.
    """
    base = debian_minbase(engine)
    dockerfile = PYTHON_DOCKERFILE.format(base=MINBASE_TAG)
    recipe = hashlib.sha256(f"{base.id}|{dockerfile}".encode()).hexdigest()[:16]
    cached = _cached(engine, PYTHON_TAG, recipe)
    if cached is not None:
        return cached
    with file_lock(cache_dir() / "images.lock"):
        cached = _cached(engine, PYTHON_TAG, recipe)
        if cached is not None:
            return cached
        image_id = build(engine, PYTHON_TAG, dockerfile, labels={RECIPE_LABEL: recipe})
        return BuiltImage(tag=PYTHON_TAG, id=image_id)
