"""The OCI image layout (index.json + blobs/), shared by `oci:`, `oci-archive:` and
Docker >= 25 `docker save` output.

Resolution: index.json -> (nested indexes) -> the manifest for the requested tag and
platform -> config + layers. Every JSON document is verified against its digest.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any

from auditor.errors import CorruptInput, InputError
from auditor.sources.interface import (
    BlobLocator,
    Image,
    Layer,
    SourceInfo,
    parse_json,
    require_dict,
    validated_diff_ids,
    verify_digest,
)
from auditor.sources.platform import Platform

MAX_INDEX_DEPTH = 8
DEFAULT_PLATFORM = Platform("linux", "amd64")

INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
MANIFEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
}
# Layers a registry does not serve (Windows base layers): named by URL, often absent.
FOREIGN_TYPES = {
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
}
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


class PlatformNotFound(InputError):
    """The index has no manifest for the wanted platform."""


class BlobStore(abc.ABC):
    """Content-addressed blobs of one layout, wherever they are stored."""

    display: str

    @abc.abstractmethod
    def read_file(self, name: str) -> bytes:
        """A top-level file of the layout (index.json, oci-layout)."""

    @abc.abstractmethod
    def has_file(self, name: str) -> bool: ...

    @abc.abstractmethod
    def locate(self, digest: str) -> BlobLocator:
        """Where blob `digest` is; CorruptInput naming the blob when it is missing."""

    @abc.abstractmethod
    def read_blob(self, digest: str) -> bytes: ...

    def read_verified(self, digest: str, what: str) -> Any:
        data = self.read_blob(digest)
        verify_digest(data, digest, f"{self.display}: {what} {digest}")
        return parse_json(data, f"{self.display}: {what} {digest}")


def blob_path(digest: str) -> str:
    algo, sep, hexpart = digest.partition(":")
    if not sep or not algo.isalnum() or not hexpart.isalnum():
        raise CorruptInput(f"bad digest {digest!r}")
    return f"blobs/{algo}/{hexpart}"


def load_image(
    store: BlobStore,
    tag: str | None,
    platform: Platform | None,
    source: SourceInfo,
) -> Image:
    """Resolve a tag (or the only image) and platform in an OCI layout into an Image."""
    if not store.has_file("index.json"):
        raise CorruptInput(f"{store.display}: not an OCI layout (no index.json)")
    index = require_dict(
        parse_json(store.read_file("index.json"), f"{store.display}: index.json"),
        f"{store.display}: index.json",
    )
    top = _descriptors(index, f"{store.display}: index.json")
    names = {n for n in map(_name_of, top) if n}
    if tag is None and len(names) > 1:
        # Several images (not one image's platforms): picking one silently would
        # audit something the user did not mean.
        raise InputError(
            f"{store.display}: holds {len(names)} images; pick one with :TAG "
            f"(tags: {', '.join(sorted(names))})"
        )
    if tag is not None:
        top = [d for d in top if _matches_tag(d, tag)]
        if not top:
            raise InputError(f"{store.display}: no image tagged {tag!r} (tags: {_tags(index)})")
    manifest_desc = _pick(store, top, platform, depth=0)
    reference = _name_of(manifest_desc) or (_name_of(top[0]) if len(top) == 1 else "") or ""
    manifest_digest = _digest_of(manifest_desc, store.display)
    manifest = require_dict(store.read_verified(manifest_digest, "manifest"), "manifest")
    return image_from_manifest(store, manifest, manifest_digest, reference, platform, source)


def pick_from_index(
    store: BlobStore, index: dict[str, Any], platform: Platform | None, what: str
) -> str:
    """The digest of the manifest for `platform` in an index document that is not
    itself a blob of the store (the top `manifest.json` of a `dir:` image)."""
    return _digest_of(_pick(store, _descriptors(index, what), platform, depth=0), what)


def image_from_manifest(
    store: BlobStore,
    manifest: dict[str, Any],
    manifest_digest: str,
    reference: str,
    platform: Platform | None,
    source: SourceInfo,
) -> Image:
    what = f"{store.display}: manifest {manifest_digest}"
    config_desc = manifest.get("config")
    if not isinstance(config_desc, dict):
        raise CorruptInput(f"{what}: no config descriptor")
    config_digest = _digest_of(config_desc, what)
    config = require_dict(store.read_verified(config_digest, "config"), f"{what}: config")
    layer_descs = manifest.get("layers")
    if not isinstance(layer_descs, list):
        raise CorruptInput(f"{what}: no layers list")
    diff_ids = validated_diff_ids(config, len(layer_descs), platform, store.display)
    layers = []
    for i, (desc, diff_id) in enumerate(zip(layer_descs, diff_ids)):
        if not isinstance(desc, dict):
            raise CorruptInput(f"{what}: layer {i} is not a descriptor")
        digest = _digest_of(desc, what)
        size = desc.get("size")
        media_type = str(desc.get("mediaType", ""))
        if media_type in FOREIGN_TYPES and not _has_blob(store, digest):
            urls = desc.get("urls")
            where = f" (urls: {', '.join(map(str, urls))})" if isinstance(urls, list) else ""
            raise CorruptInput(
                f"{what}: layer {i} ({digest}) is a foreign layer that is not in the "
                f"image{where}; imgaudit reads only what the image holds"
            )
        layers.append(
            Layer(
                index=i,
                diff_id=diff_id,
                digest=digest,
                media_type=media_type,
                size=size if isinstance(size, int) else None,
                locator=store.locate(digest),
            )
        )
    annotations = manifest.get("annotations")
    source = SourceInfo(source.transport, source.reference, source.path, manifest_digest)
    return Image(
        reference=reference,
        config=config,
        config_digest=config_digest,
        layers=tuple(layers),
        source=source,
        annotations=dict(annotations) if isinstance(annotations, dict) else {},
    )


def _has_blob(store: BlobStore, digest: str) -> bool:
    try:
        store.locate(digest)
    except CorruptInput:
        return False
    return True


def _descriptors(index: dict[str, Any], what: str) -> list[dict[str, Any]]:
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise CorruptInput(f"{what}: no manifests listed")
    if not all(isinstance(m, dict) for m in manifests):
        raise CorruptInput(f"{what}: manifests must be descriptors")
    return manifests


def _digest_of(desc: dict[str, Any], what: str) -> str:
    digest = desc.get("digest")
    if not isinstance(digest, str) or ":" not in digest:
        raise CorruptInput(f"{what}: descriptor without a valid digest")
    blob_path(digest)
    return digest


def _pick(
    store: BlobStore,
    descs: list[dict[str, Any]],
    platform: Platform | None,
    depth: int,
    seen: set[str] | None = None,
) -> dict[str, Any]:
    """Walk (nested) indexes down to one image manifest descriptor for `platform`.

    Each nested index is walked once (`seen`): an index listing the same child index
    a dozen times, seven levels deep, would otherwise cost 12**7 walks.
    """
    if depth > MAX_INDEX_DEPTH:
        raise CorruptInput(f"{store.display}: indexes nested deeper than {MAX_INDEX_DEPTH}")
    seen = set() if seen is None else seen
    candidates: list[dict[str, Any]] = []
    for desc in descs:
        media = desc.get("mediaType")
        if media is not None and not isinstance(media, str):
            raise CorruptInput(f"{store.display}: a descriptor's mediaType is not a string")
        if media in INDEX_TYPES:
            digest = _digest_of(desc, store.display)
            if digest in seen:
                continue
            seen.add(digest)
            nested = require_dict(store.read_verified(digest, "index"), "index")
            try:
                found = _pick(store, _descriptors(nested, store.display), platform, depth + 1, seen)
            except PlatformNotFound:
                continue  # this nested index has no such platform; maybe another has
            merged = dict(found)
            if _name_of(desc) and not _name_of(found):
                merged.setdefault("annotations", {})
                inner = found.get("annotations")
                merged["annotations"] = {
                    **(inner if isinstance(inner, dict) else {}),
                    **desc["annotations"],
                }
            candidates.append(merged)
        elif media in MANIFEST_TYPES or media is None:
            if _is_attestation(desc):
                continue
            candidates.append(desc)
    if not candidates:
        raise PlatformNotFound(
            f"{store.display}: platform {platform or Platform.host()} not in the image index"
        )
    if len(candidates) == 1:
        return candidates[0]
    # No --platform: the host's platform, else linux/amd64 (what most images are built
    # for); with --platform, exactly that one.
    wanted = platform or Platform.host()
    for choice in [wanted] if platform else list(dict.fromkeys([wanted, DEFAULT_PLATFORM])):
        for desc in candidates:
            plat = desc.get("platform")
            if isinstance(plat, dict) and choice.matches(
                plat.get("os"), plat.get("architecture"), plat.get("variant")
            ):
                return desc
    if platform is None:
        for desc in candidates:
            if not isinstance(desc.get("platform"), dict):
                return desc
    available = sorted(
        "/".join(
            str(p)
            for p in (
                d["platform"].get("os"),
                d["platform"].get("architecture"),
                d["platform"].get("variant"),
            )
            if p
        )
        for d in candidates
        if isinstance(d.get("platform"), dict)
    )
    raise PlatformNotFound(
        f"{store.display}: platform {wanted} not in the image index (has: {', '.join(available)})"
    )


def _is_attestation(desc: dict[str, Any]) -> bool:
    ann = desc.get("annotations") or {}
    plat = desc.get("platform") or {}
    return (isinstance(ann, dict) and "vnd.docker.reference.type" in ann) or (
        isinstance(plat, dict) and plat.get("os") == "unknown"
    )


def _name_of(desc: dict[str, Any]) -> str | None:
    ann = desc.get("annotations")
    if not isinstance(ann, dict):
        return None
    name = ann.get(CONTAINERD_NAME) or ann.get(REF_NAME)
    return str(name) if name else None


def _tags(index: dict[str, Any]) -> str:
    names = []
    for desc in index.get("manifests") or []:
        if isinstance(desc, dict):
            ann = desc.get("annotations") or {}
            for key in (REF_NAME, CONTAINERD_NAME):
                if isinstance(ann, dict) and ann.get(key):
                    names.append(str(ann[key]))
    return ", ".join(sorted(set(names))) or "none"


def _matches_tag(desc: dict[str, Any], tag: str) -> bool:
    ann = desc.get("annotations")
    if not isinstance(ann, dict):
        return False
    names = [str(ann[k]) for k in (REF_NAME, CONTAINERD_NAME) if ann.get(k)]
    return any(n == tag or n.endswith(":" + tag) or n.endswith("/" + tag) for n in names) or any(
        _strip_registry(n) == _strip_registry(tag) for n in names
    )


def _strip_registry(name: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def iter_tags(store: BlobStore) -> Iterator[str]:
    index = parse_json(store.read_file("index.json"), "index.json")
    for desc in index.get("manifests") or []:
        name = _name_of(desc) if isinstance(desc, dict) else None
        if name:
            yield name
