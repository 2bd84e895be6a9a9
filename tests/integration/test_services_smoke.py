"""Smoke tests for the integration services themselves.

If these fail, every other integration test's failure is suspect: they check that the
engine builds and saves, that registries accept pushes and enforce their auth, and
that the Debian base images hold what later tests assume. Nothing from an image is
run: files are read with ``docker create`` + ``get_archive`` or from ``docker save``.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from tests.support.baseimages import BuiltImage, build, push, save
from tests.support.services import DockerEngine, Registry, pid_alive

# One tag per test process: pytest-xdist workers share the engine but not this image.
SCRATCH_TAG = f"imgaudit-test/smoke-scratch:p{os.getpid()}"
SCRATCH_VERSION = SCRATCH_TAG.rsplit(":", 1)[1]
HELLO = b"hello from imgaudit\n"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


@pytest.fixture(scope="module")
def scratch_image(docker_engine: DockerEngine) -> Iterator[str]:
    """A one-file ``FROM scratch`` image, removed from the engine afterwards."""
    image_id = build(
        docker_engine,
        SCRATCH_TAG,
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
        {"hello.txt": HELLO},
    )
    assert image_id.startswith("sha256:")
    yield SCRATCH_TAG
    client = docker_engine.client()
    try:
        client.images.remove(image_id, force=True)
    except docker.errors.ImageNotFound:
        pass
    finally:
        client.close()


def read_file_from_image(client: docker.DockerClient, image: str, path: str) -> tuple[bytes, bytes]:
    """(tar type, content) of ``path`` in ``image``, via a created, never-started container.

    The content of anything but a regular file is empty.
    """
    container = client.containers.create(image, command=["/nonexistent"])
    try:
        stream, _stat = container.get_archive(path)
        data = b"".join(stream)
    finally:
        container.remove(force=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.getmembers()[0]
        fh = tar.extractfile(member) if member.isfile() else None
        return member.type, (fh.read() if fh is not None else b"")


def test_engine_answers(docker_client: docker.DockerClient, docker_engine: DockerEngine) -> None:
    assert docker_client.ping()
    assert docker_client.info()["Driver"] == docker_engine.storage_driver
    assert docker_engine.host.startswith("unix:///tmp/")


def test_build_from_scratch_and_save(
    docker_engine: DockerEngine, scratch_image: str, tmp_path: Path
) -> None:
    archive = save(docker_engine, scratch_image, tmp_path / "scratch.tar")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert "manifest.json" in names
        manifest_fh = tar.extractfile("manifest.json")
        assert manifest_fh is not None
        manifest = json.load(manifest_fh)
        assert manifest[0]["RepoTags"] == [scratch_image]
        layers = manifest[0]["Layers"]
        assert len(layers) == 1
        layer_fh = tar.extractfile(layers[0])
        assert layer_fh is not None
        with tarfile.open(fileobj=io.BytesIO(layer_fh.read())) as layer:
            hello = layer.extractfile("hello.txt")
            assert hello is not None
            assert hello.read() == HELLO


def test_registry_accepts_push_and_lists_tag(
    docker_engine: DockerEngine, registry: Registry, scratch_image: str
) -> None:
    pushed = push(docker_engine, scratch_image, registry)
    assert pushed.reference == f"{registry.host}/{SCRATCH_TAG}"
    assert pushed.digest.startswith("sha256:")
    assert registry.tags("imgaudit-test/smoke-scratch") == [SCRATCH_VERSION]
    response = requests.get(
        f"{registry.url}/v2/imgaudit-test/smoke-scratch/manifests/{SCRATCH_VERSION}",
        headers={"Accept": MANIFEST_TYPES},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == pushed.digest


def test_auth_registry_refuses_anonymous(auth_registry: Registry) -> None:
    anonymous = requests.get(f"{auth_registry.url}/v2/", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")
    assert auth_registry.username is not None
    wrong = requests.get(
        f"{auth_registry.url}/v2/", auth=(auth_registry.username, "wrong"), timeout=30
    )
    assert wrong.status_code == 401
    assert auth_registry.request("GET", "/v2/").status_code == 200


def test_auth_registry_accepts_push_with_credentials(
    docker_engine: DockerEngine, auth_registry: Registry, scratch_image: str
) -> None:
    pushed = push(docker_engine, scratch_image, auth_registry, repository="private/scratch")
    assert pushed.digest.startswith("sha256:")
    assert auth_registry.tags("private/scratch") == [SCRATCH_VERSION]
    listing = auth_registry.request("GET", "/v2/private/scratch/tags/list", anonymous=True)
    assert listing.status_code == 401


def test_token_registry_challenges_and_accepts_credentials(
    docker_engine: DockerEngine, token_registry: Registry, scratch_image: str
) -> None:
    anonymous = requests.get(f"{token_registry.url}/v2/", timeout=30)
    assert anonymous.status_code == 401
    challenge = anonymous.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert token_registry.token_server is not None
    assert token_registry.token_server.realm in challenge

    pushed = push(docker_engine, scratch_image, token_registry, repository="tok/scratch")
    assert pushed.digest.startswith("sha256:")
    assert token_registry.tags("tok/scratch") == [SCRATCH_VERSION]
    # An anonymous token carries no access: the registry refuses it.
    refused = token_registry.request("GET", "/v2/tok/scratch/tags/list", anonymous=True)
    assert refused.status_code == 401


def test_registry_stops_by_pid() -> None:
    reg = Registry.start()
    assert pid_alive(reg.pid)
    reg.stop()
    assert not pid_alive(reg.pid)
    assert not reg.workdir.exists()


def test_minbase_is_bookworm(
    docker_client: docker.DockerClient, bookworm_minbase: BuiltImage
) -> None:
    kind, _ = read_file_from_image(docker_client, bookworm_minbase.tag, "/etc/os-release")
    assert kind == tarfile.SYMTYPE  # -> ../usr/lib/os-release, as on Debian
    _, os_release = read_file_from_image(docker_client, bookworm_minbase.tag, "/usr/lib/os-release")
    fields = dict(line.split("=", 1) for line in os_release.decode().splitlines() if "=" in line)
    assert fields["ID"] == "debian"
    assert fields["VERSION_CODENAME"] == "bookworm"
    _, status = read_file_from_image(docker_client, bookworm_minbase.tag, "/var/lib/dpkg/status")
    assert b"Package: libc6\n" in status
    assert b"Package: python3" not in status


def test_python_image_has_debian_python(
    docker_client: docker.DockerClient, bookworm_python: BuiltImage
) -> None:
    image = docker_client.images.get(bookworm_python.tag)
    assert image.id == bookworm_python.id
    _, status = read_file_from_image(docker_client, bookworm_python.tag, "/var/lib/dpkg/status")
    for package in (b"python3", b"python3-venv", b"python3-pip", b"python3.11"):
        assert b"Package: " + package + b"\n" in status
    _, python = read_file_from_image(docker_client, bookworm_python.tag, "/usr/bin/python3.11")
    assert python[:4] == b"\x7fELF"


def test_postgres_takes_another_port_when_its_port_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The port seen free is taken before the server binds it (a race lost to another
    process): the server starts on the next free port instead of failing."""
    import socket

    from tests.support import postgres

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    taken_port = taken.getsockname()[1]
    ports = iter([taken_port])
    real = postgres.free_port
    monkeypatch.setattr(postgres, "free_port", lambda: next(ports, None) or real())
    try:
        server = postgres.PostgresServer.start()
    except postgres.ServiceUnavailable as exc:
        pytest.skip(exc.reason)
    finally:
        taken.close()
    try:
        assert server.port != taken_port
        assert "could not bind" in (server.root / "server.log").read_text()
    finally:
        server.stop()
