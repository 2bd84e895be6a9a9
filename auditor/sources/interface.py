"""What every transport produces: an `Image` with its config and ordered layer blobs.

Transports (one module each) differ only in where bytes come from; everything after
this point is transport-blind. A `BlobLocator` is pickleable so that layers can be
indexed in worker processes.
"""

from __future__ import annotations

import abc
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from auditor.errors import CorruptInput, InputError
from auditor.sources.platform import Platform


class BlobLocator(abc.ABC):
    """Where the bytes of one blob live. Must be pickleable (sent to worker processes)."""

    @abc.abstractmethod
    def open(self) -> BinaryIO:
        """Open the blob for one sequential read."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the blob is, for error messages."""


@dataclass(frozen=True)
class FileSlice(BlobLocator):
    """A byte range of a local file: a blob file, or a member stored inside a tar archive.

    Tar members are stored contiguously, so a member of an uncompressed archive is read
    in place, without a second pass through the archive.
    """

    path: str
    offset: int = 0
    size: int | None = None
    label: str = ""

    def open(self) -> BinaryIO:
        handle = open(self.path, "rb")  # noqa: SIM115 - returned to the caller
        if self.offset or self.size is not None:
            return _BoundedReader(handle, self.offset, self.size)  # type: ignore[return-value]
        return handle

    def describe(self) -> str:
        return self.label or self.path


class _BoundedReader:
    """A read-only window onto a file: `read` never returns bytes past the slice."""

    def __init__(self, handle: BinaryIO, offset: int, size: int | None) -> None:
        self._handle = handle
        handle.seek(offset)
        self._remaining = size if size is not None else -1

    def read(self, n: int = -1) -> bytes:
        if self._remaining < 0:
            return self._handle.read(n)
        if n < 0 or n > self._remaining:
            n = self._remaining
        data = self._handle.read(n)
        self._remaining -= len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> _BoundedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Layer:
    """One layer of an image, in image order."""

    index: int
    diff_id: str  # sha256 of the uncompressed tar, from the config's rootfs.diff_ids
    digest: str  # digest of the blob as stored by this source (compressed or not)
    media_type: str
    size: int | None  # size of the stored blob, when the source says so
    locator: BlobLocator


@dataclass(frozen=True)
class SourceInfo:
    """How the image was found: the only part of a report allowed to differ by transport."""

    transport: str
    reference: str
    path: str | None = None
    manifest_digest: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"transport": self.transport, "reference": self.reference}
        if self.path is not None:
            out["path"] = self.path
        if self.manifest_digest is not None:
            out["manifest_digest"] = self.manifest_digest
        return out


@dataclass(frozen=True)
class Image:
    """A resolved image: config, layers and where it came from."""

    reference: str  # the image's name (repo:tag or repo@digest) when known, else ""
    config: dict[str, Any]
    config_digest: str  # the image ID: identical for every transport of the same image
    layers: tuple[Layer, ...]
    source: SourceInfo
    annotations: dict[str, str] = field(default_factory=dict)
    # Objects the layer locators depend on (a decompressed archive's temporary
    # directory): they live as long as the Image, and are cleaned up after it.
    keepalive: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    @property
    def os(self) -> str:
        return str(self.config.get("os", ""))

    @property
    def architecture(self) -> str:
        arch = str(self.config.get("architecture", ""))
        variant = self.config.get("variant")
        return f"{arch}/{variant}" if variant else arch


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify_digest(data: bytes, expected: str, what: str) -> None:
    """Raise CorruptInput when `data` does not hash to `expected` (sha256/sha512 digests)."""
    algo, _, hexpart = expected.partition(":")
    if algo not in ("sha256", "sha512") or not hexpart:
        raise CorruptInput(f"{what}: unsupported digest {expected!r}")
    actual = hashlib.new(algo, data).hexdigest()
    if actual != hexpart.lower():
        raise CorruptInput(f"{what}: digest mismatch (expected {expected}, got {algo}:{actual})")


def parse_json(data: bytes, what: str) -> Any:
    """Parse JSON from an image, naming the document on failure."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptInput(f"{what}: invalid JSON ({exc})") from None


def require_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CorruptInput(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


MAX_LAYERS = 1000  # real images have tens; thousands only come from hostile input


def validated_diff_ids(
    config: dict[str, Any], layer_count: int, platform: Platform | None, what: str
) -> list[str]:
    """A config checked against the manifest that lists `layer_count` layers and the
    platform the user asked for: the same rules for every transport. Returns the diff_ids."""
    if layer_count > MAX_LAYERS:
        raise CorruptInput(f"{what}: {layer_count} layers, over the limit of {MAX_LAYERS}")
    diff_ids = diff_ids_of(config, what)
    check_config(config, what)
    if len(diff_ids) != layer_count:
        raise CorruptInput(
            f"{what}: the manifest lists {layer_count} layers but the config has "
            f"{len(diff_ids)} diff_ids"
        )
    if platform is not None and not platform.matches(
        config.get("os"), config.get("architecture"), config.get("variant")
    ):
        raise InputError(
            f"{what}: image is {config.get('os')}/{config.get('architecture')}, not {platform}"
        )
    return diff_ids


def diff_ids_of(config: dict[str, Any], what: str) -> list[str]:
    """The config's rootfs.diff_ids, validated."""
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise CorruptInput(f"{what}: config has no rootfs.diff_ids")
    ids = rootfs["diff_ids"]
    for d in ids:
        if not isinstance(d, str) or ":" not in d:
            raise CorruptInput(f"{what}: bad diff_id {d!r} in config")
    return list(ids)


# The runtime config fields imgaudit reads, with the JSON types the engine accepts
# (Docker's Go structs: a wrong type makes `docker load` refuse the image).
_STR_FIELDS = ("User", "WorkingDir", "StopSignal")
_LIST_FIELDS = ("Env", "Cmd", "Entrypoint", "Shell", "OnBuild")  # lists of strings
_MAP_FIELDS = ("Labels", "ExposedPorts", "Volumes")


def check_config(config: dict[str, Any], what: str) -> None:
    """Reject a config whose runtime part has the wrong JSON types, in one line.

    Reports and checks read these fields without defensive code; an engine would not
    run such an image either. Top-level fields are checked where read (os, created,
    history are free text and handled leniently). `Cmd`/`Entrypoint` as one string
    is what Docker's strslice accepts, so it becomes a one-item list.
    """
    cfg = config.get("config")
    if cfg is None:
        return
    if not isinstance(cfg, dict):
        raise CorruptInput(f"{what}: config.config: expected a JSON object")
    for key in ("Cmd", "Entrypoint"):
        if isinstance(cfg.get(key), str):
            cfg[key] = [cfg[key]]
    for key in _STR_FIELDS:
        if cfg.get(key) is not None and not isinstance(cfg[key], str):
            raise CorruptInput(f"{what}: config.config.{key}: expected a string")
    for key in _LIST_FIELDS:
        value = cfg.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise CorruptInput(f"{what}: config.config.{key}: expected a list of strings")
    for key in _MAP_FIELDS:
        value = cfg.get(key)
        if value is not None and not isinstance(value, dict):
            raise CorruptInput(f"{what}: config.config.{key}: expected a JSON object")
    labels = cfg.get("Labels") or {}
    if not all(isinstance(v, str) for v in labels.values()):
        raise CorruptInput(f"{what}: config.config.Labels: values must be strings")
