"""Write a factory image in each transport and give back the reference to scan."""

from __future__ import annotations

from pathlib import Path

from auditor.loading import LoadedImage, LoadOptions, load_image
from tests import factory

TRANSPORTS = ("docker-archive-legacy", "docker-archive-oci", "oci-archive", "oci")


def write(built: factory.BuiltImage, directory: Path, transport: str) -> str:
    """The image written in `transport` under `directory`; the reference for it."""
    if transport == "docker-archive-legacy":
        path = factory.write_docker_archive(built, directory / "legacy.tar", layout="legacy")
        return f"docker-archive:{path}"
    if transport == "docker-archive-oci":
        path = factory.write_docker_archive(built, directory / "docker25.tar", layout="oci")
        return f"docker-archive:{path}"
    if transport == "oci-archive":
        return f"oci-archive:{factory.write_oci_archive(built, directory / 'image.oci.tar')}"
    if transport == "oci":
        return f"oci:{factory.write_oci_dir(built, directory / 'layout')}"
    raise ValueError(transport)


def load(spec: factory.ImageSpec, directory: Path, transport: str = "oci-archive") -> LoadedImage:
    """Build, write and load `spec` without the cache (each test reads its layers)."""
    return load_image(
        write(factory.build(spec), directory, transport), LoadOptions(use_cache=False, jobs=1)
    )
