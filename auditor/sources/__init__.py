"""Turn a user's reference into an `Image`, whatever the transport.

Transports follow skopeo's spelling: `docker-archive:PATH[:REF]`, `oci-archive:PATH[:tag]`,
`oci:DIR[:tag]`, `dir:DIR`, `docker-daemon:REF`, `docker://REF`. A bare path is recognised by
its content; a bare reference goes to the local engine first, then the registry.

A new transport is one module in this package that opens its references into an
`Image` (auditor/sources/interface.py), and one entry in `TRANSPORTS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from auditor.errors import InputError
from auditor.sources import dir_transport, docker_archive, oci_archive, oci_layout_dir
from auditor.sources.archive import TarArchive
from auditor.sources.interface import Image
from auditor.sources.platform import Platform


@dataclass(frozen=True)
class SourceOptions:
    """Transport settings from the command line."""

    platform: Platform | None = None
    pull: str = "missing"  # always | missing | never (engine pull policy)
    insecure_registries: tuple[str, ...] = ()
    quiet: bool = False


Opener = Callable[[str, SourceOptions], Image]


def _split_path_ref(spec: str) -> tuple[str, str | None]:
    """`PATH[:REF]`: the longest prefix that exists is the path (paths may hold colons)."""
    if os.path.exists(spec):
        return spec, None
    idx = spec.find(":")
    while idx != -1:
        if os.path.exists(spec[:idx]):
            return spec[:idx], spec[idx + 1 :] or None
        idx = spec.find(":", idx + 1)
    return spec, None


def _docker_archive(spec: str, opts: SourceOptions) -> Image:
    path, ref = _split_path_ref(spec)
    return docker_archive.open_archive(path, ref, opts.platform, f"docker-archive:{path}")


def _oci_archive(spec: str, opts: SourceOptions) -> Image:
    path, tag = _split_path_ref(spec)
    return oci_archive.open_archive(path, tag, opts.platform, f"oci-archive:{path}")


def _oci_dir(spec: str, opts: SourceOptions) -> Image:
    path, tag = _split_path_ref(spec)
    return oci_layout_dir.open_layout(path, tag, opts.platform, f"oci:{path}")


def _dir(spec: str, opts: SourceOptions) -> Image:
    return dir_transport.open_dir(spec, opts.platform, f"dir:{spec}")


def _daemon(spec: str, opts: SourceOptions) -> Image:
    from auditor.sources import daemon

    return daemon.open_daemon(spec, opts.platform, opts.pull, opts.quiet)


def _registry(spec: str, opts: SourceOptions) -> Image:
    from auditor.sources import registry

    return registry.open_registry(spec, opts.platform, opts.insecure_registries, opts.quiet)


def _bare(spec: str, opts: SourceOptions) -> Image:
    """A bare REF: the local engine when it has the image (or must pull it), else the
    registry. An engine that is not running is no error here: the registry is asked."""
    from auditor.sources import daemon, registry

    registry.parse_reference(spec)  # a malformed reference fails the same way for both
    try:
        client = daemon.connect()
    except daemon.EngineUnavailable:
        client = None
    if client is not None:
        try:
            if opts.pull == "always" or daemon.find_image(client, spec) is not None:
                return daemon.open_daemon(spec, opts.platform, opts.pull, opts.quiet, client)
        finally:
            client.close()
    return registry.open_registry(spec, opts.platform, opts.insecure_registries, opts.quiet)


TRANSPORTS: dict[str, Opener] = {
    "docker-archive": _docker_archive,
    "oci-archive": _oci_archive,
    "oci": _oci_dir,
    "dir": _dir,
    "docker-daemon": _daemon,
    "docker": _registry,
    "bare": _bare,
}


def open_image(reference: str, opts: SourceOptions | None = None) -> Image:
    """Resolve `reference` into an Image, or raise InputError with one clear line."""
    opts = opts or SourceOptions()
    if not reference:
        raise InputError("empty image reference")
    transport, sep, rest = reference.partition(":")
    if sep and transport in TRANSPORTS and transport != "bare" and not os.path.exists(reference):
        if transport == "docker" and rest.startswith("//"):
            rest = rest[2:]
        return TRANSPORTS[transport](rest, opts)
    if os.path.exists(reference) or reference.startswith(("/", "./", "../", "~")):
        return _open_path(os.path.expanduser(reference), opts)
    if sep and "/" not in transport and not rest[:1].isdigit() and _looks_like_transport(transport):
        known = ", ".join(sorted(TRANSPORTS))
        raise InputError(f"unknown transport {transport!r} in {reference!r} (known: {known})")
    bare = TRANSPORTS.get("bare")
    if bare is None:
        raise InputError(
            f"{reference}: no such file, and engine/registry references are not available"
        )
    return bare(reference, opts)


def _looks_like_transport(word: str) -> bool:
    # `myimage:tag` must not be mistaken for a transport; transports are lowercase
    # words with dashes, and a reference's name part has no uppercase either, so only
    # reject spellings that clearly look like a transport prefix.
    return word.endswith(("-archive", "-daemon", "-dir")) or word in {
        "dir",
        "containers-storage",
        "docker-daemon",
        "docker",
    }


def _open_path(path: str, opts: SourceOptions) -> Image:
    """A path alone: an OCI layout directory, a `dir:` directory (manifest.json, no
    index.json), or an archive recognised by its members."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or directory")
    if os.path.isdir(path) and dir_transport.is_dir_layout(path):
        return dir_transport.open_dir(path, opts.platform, f"dir:{path}")
    if os.path.isdir(path):
        return oci_layout_dir.open_layout(path, None, opts.platform, f"oci:{path}")
    archive = TarArchive(path, path)
    # The member table is read once and handed on: a second pass would read (or, for
    # a compressed archive, decompress) the whole file again.
    if archive.has("manifest.json"):
        archive.display = f"docker-archive:{path}"
        return docker_archive.open_archive(path, None, opts.platform, archive.display, archive)
    if archive.has("index.json"):
        archive.display = f"oci-archive:{path}"
        return oci_archive.open_archive(path, None, opts.platform, archive.display, archive)
    archive.close()
    raise InputError(f"{path}: not an image archive (no manifest.json or index.json inside)")
