"""`docker-archive:PATH[:REF|:@N]`: `docker save` output.

Both layouts are first-class: Docker <= 24 writes manifest.json + `<id>/layer.tar`
(+ `<id>.json` configs); Docker >= 25 writes an OCI layout inside the tar with a
manifest.json that points at `blobs/sha256/...`. Both are read through manifest.json,
which every version writes and which carries the RepoTags.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from auditor.errors import CorruptInput, InputError
from auditor.sources.archive import TarArchive, check_is_file
from auditor.sources.interface import (
    Image,
    Layer,
    SourceInfo,
    parse_json,
    require_dict,
    sha256_digest,
    validated_diff_ids,
)
from auditor.sources.platform import Platform

TRANSPORT = "docker-archive"
_BLOB_PATH = re.compile(r"^blobs/(sha256|sha512)/([0-9a-f]+)$")
_LEGACY_CONFIG = re.compile(r"^([0-9a-f]{64})\.json$")
_COMPRESSED_MAGICS = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd")
UNCOMPRESSED_LAYER = "application/vnd.docker.image.rootfs.diff.tar"


def open_archive(
    path: str,
    ref: str | None,
    platform: Platform | None,
    display: str,
    archive: TarArchive | None = None,
) -> Image:
    """The image `ref` (a tag, `@N`, or the only one) of a docker save archive.

    `archive` is the already-read member table when the caller has one (path detection).
    """
    if archive is None:
        check_is_file(path, display)
        archive = TarArchive(path, display)
    if not archive.has("manifest.json"):
        raise CorruptInput(f"{display}: not a docker-archive (no manifest.json)")
    entries = parse_json(archive.read("manifest.json"), f"{display}: manifest.json")
    if not isinstance(entries, list) or not entries:
        raise CorruptInput(f"{display}: manifest.json must be a non-empty list")
    entry, reference = _select(entries, ref, display)
    config_path = entry.get("Config")
    if not isinstance(config_path, str):
        raise CorruptInput(f"{display}: manifest.json entry without Config")
    config_bytes = archive.read(config_path)
    config_digest = sha256_digest(config_bytes)
    _verify_name(config_path, config_digest, display)
    config = require_dict(parse_json(config_bytes, f"{display}: {config_path}"), "config")
    layer_paths = entry.get("Layers")
    if not isinstance(layer_paths, list) or not all(isinstance(p, str) for p in layer_paths):
        raise CorruptInput(f"{display}: manifest.json entry without a Layers list")
    diff_ids = validated_diff_ids(config, len(layer_paths), platform, display)
    raw_sources = entry.get("LayerSources")
    sources: dict[str, Any] = raw_sources if isinstance(raw_sources, dict) else {}
    layers = []
    for i, (lpath, diff_id) in enumerate(zip(layer_paths, diff_ids)):
        locator = archive.locate(lpath)
        digest, media_type = _blob_identity(archive, lpath, diff_id, locator.size, sources)
        layers.append(Layer(i, diff_id, digest, media_type, locator.size, locator))
    return Image(
        reference=reference,
        config=config,
        config_digest=config_digest,
        layers=tuple(layers),
        source=SourceInfo(TRANSPORT, display, path),
        keepalive=(archive,),
    )


def _select(entries: list[Any], ref: str | None, display: str) -> tuple[dict[str, Any], str]:
    if ref is not None and ref.startswith("@"):
        try:
            entry = entries[int(ref[1:])]
        except (ValueError, IndexError):
            raise InputError(f"{display}: no image {ref} (archive has {len(entries)})") from None
        return require_dict(entry, "manifest.json entry"), _first_tag(entry)
    if ref is None:
        if len(entries) > 1:
            tags = sorted(t for e in entries for t in _tags(e))
            raise InputError(
                f"{display}: holds {len(entries)} images; pick one with "
                f"docker-archive:PATH:REF (tags: {', '.join(tags) or 'none'}) or :@N"
            )
        entry = require_dict(entries[0], "manifest.json entry")
        return entry, _first_tag(entry)
    wanted = {ref, _normalise(ref)}
    for entry in entries:
        for tag in _tags(entry):
            if tag in wanted or _normalise(tag) in wanted:
                return require_dict(entry, "manifest.json entry"), tag
    tags = sorted(t for e in entries for t in _tags(e))
    raise InputError(f"{display}: no image tagged {ref!r} (tags: {', '.join(tags) or 'none'})")


def _tags(entry: Any) -> list[str]:
    tags = entry.get("RepoTags") if isinstance(entry, dict) else None
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _first_tag(entry: Any) -> str:
    tags = _tags(entry)
    return tags[0] if tags else ""


def _normalise(ref: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
    if ":" not in ref.rsplit("/", 1)[-1] and "@" not in ref:
        ref += ":latest"
    return ref


def _verify_name(config_path: str, digest: str, display: str) -> None:
    """Configs are named after their own digest: a mismatch means tampering or damage."""
    name = config_path.rsplit("/", 1)[-1]
    m = _BLOB_PATH.match(config_path) or _LEGACY_CONFIG.match(name)
    if m is None:
        return
    expected_hex = m.group(m.lastindex or 1)
    if m.re is _BLOB_PATH and m.group(1) != "sha256":
        return
    if digest != "sha256:" + expected_hex:
        raise CorruptInput(f"{display}: {config_path}: digest mismatch (content is {digest})")


def _blob_identity(
    archive: TarArchive,
    lpath: str,
    diff_id: str,
    size: int | None,
    sources: dict[str, Any],
) -> tuple[str, str]:
    """The stored blob's digest and media type, without reading the layer.

    OCI-style entries are named by digest. A legacy `<id>/layer.tar` is uncompressed
    (docker writes it so), so its digest is its diff_id; a compressed one is hashed.
    """
    m = _BLOB_PATH.match(lpath)
    if m is not None:
        digest = f"{m.group(1)}:{m.group(2)}"
        src = sources.get(digest)
        media = src.get("mediaType") if isinstance(src, dict) else None
        return digest, str(media or UNCOMPRESSED_LAYER)
    with archive.locate(lpath).open() as fh:
        head = fh.read(4)
        if not head.startswith(_COMPRESSED_MAGICS):
            return diff_id, UNCOMPRESSED_LAYER
        h = hashlib.sha256(head)
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    media = UNCOMPRESSED_LAYER + (".gzip" if head.startswith(b"\x1f\x8b") else "+zstd")
    return "sha256:" + h.hexdigest(), media
