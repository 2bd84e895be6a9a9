"""A fleet of factory images pushed to a real registry, cheaply, for fleet tests and
bench/fleet.py.

Images share bases the way real fleets do: a few base layer stacks (real host ELF
files and text files, so indexing does real work) with 1-3 small application layers
on top. Pushing goes straight through the distribution API (monolithic blob upload,
manifest PUT), skipping blobs the registry already has, so 30+ images take seconds.
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from tests.factory import BuiltImage, File, ImageSpec, Layer, build, host_file
from tests.support.services import Registry

MAX_LIB = 600_000
MANIFEST_MEDIA = "application/vnd.oci.image.manifest.v1+json"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_built(registry: Registry, repository: str, tag: str, built: BuiltImage) -> str:
    """Push blobs, config and manifest; returns the manifest digest."""
    blobs = [*built.blobs, built.config]
    for blob in blobs:
        digest = _sha256(blob)
        head = registry.request("HEAD", f"/v2/{repository}/blobs/{digest}")
        if head.status_code == 200:
            continue
        start = registry.request("POST", f"/v2/{repository}/blobs/uploads/")
        start.raise_for_status()
        location = start.headers["Location"]
        if location.startswith("/"):
            location = registry.url + location
        sep = "&" if "?" in location else "?"
        put = registry.request(
            "PUT",
            f"{location}{sep}digest={digest}",
            data=blob,
            headers={"Content-Type": "application/octet-stream"},
        )
        put.raise_for_status()
    reply = registry.request(
        "PUT",
        f"/v2/{repository}/manifests/{tag}",
        data=built.manifest,
        headers={"Content-Type": MANIFEST_MEDIA},
    )
    reply.raise_for_status()
    return _sha256(built.manifest)


def _host_libs(limit: int) -> list[File]:
    """Real shared libraries of this host: what a base image mostly is."""
    files = []
    for path in sorted(glob.glob("/usr/lib/x86_64-linux-gnu/lib*.so.*")):
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        if os.path.getsize(path) > MAX_LIB:  # keep bases realistic but quick to build
            continue
        files.append(host_file(path, path))
        if len(files) >= limit:
            break
    return files


def base_layers(variant: int, libs: int = 25) -> list[Layer]:
    """Base stack `variant`: an OS layer of real libraries and a tools layer."""
    os_release = f'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="fleet base {variant}"\n'
    lib_files = _host_libs(libs * (variant + 1))[libs * variant :]
    return [
        Layer(
            [File("etc/os-release", os_release.encode()), *lib_files],
            f"ADD rootfs-{variant}.tar /",
        ),
        Layer(
            [host_file("/bin/ls", "usr/bin/ls"), host_file("/bin/cat", "usr/bin/cat")],
            f"RUN install tools {variant}",
        ),
    ]


@dataclass(frozen=True)
class FleetImage:
    repository: str
    tag: str
    built: BuiltImage
    reference: str = ""


def fleet_specs(count: int, bases: int = 3, created: str = "2026-11-01T00:00:00Z") -> list[Any]:
    """(repository, tag, spec) for `count` images over `bases` shared base stacks."""
    stacks = [base_layers(b) for b in range(bases)]
    out = []
    for i in range(count):
        app_layers = [
            Layer(
                [
                    File(
                        f"app/module_{i}_{k}.txt",
                        f"image {i} layer {k}\n".encode() * (50 * (k + 1)),
                    )
                ],
                f"COPY app{k} /app",
            )
            for k in range(1 + i % 3)
        ]
        spec = ImageSpec(
            layers=[*stacks[i % bases], *app_layers],
            config={"User": "1000", "Cmd": ["/usr/bin/ls"]},
            created=created,
        )
        out.append((f"fleet/team{i % 4}/app{i}", "1.0", spec))
    return out


def push_fleet(registry: Registry, count: int, bases: int = 3) -> list[FleetImage]:
    images = []
    for repository, tag, spec in fleet_specs(count, bases):
        built = build(spec)
        push_built(registry, repository, tag, built)
        images.append(FleetImage(repository, tag, built, f"{registry.host}/{repository}:{tag}"))
    return images
