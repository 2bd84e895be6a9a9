"""A small image factory: real tar layers and real image layouts from a short spec.

Unit tests describe an image in a few lines (files, dirs, links, whiteouts, owners,
modes, config) and get a real docker-archive (Docker <= 24 legacy layout or Docker >= 25
OCI layout inside), OCI archive or OCI layout directory: the same bytes an engine would
write. Real ELF binaries come from the test host (`host_file`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sysconfig
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import zstandard

MTIME = 1_700_000_000
# "estargz": many concatenated gzip members (as estargz / `pigz --independent` write).
Compression = Literal["none", "gzip", "zstd", "estargz"]

LAYER_MEDIA = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "estargz": "application/vnd.oci.image.layer.v1.tar+gzip",
}


@dataclass(frozen=True)
class File:
    path: str
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = MTIME


@dataclass(frozen=True)
class Dir:
    path: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    mtime: int = MTIME


@dataclass(frozen=True)
class Symlink:
    path: str
    target: str
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Hardlink:
    path: str
    target: str


@dataclass(frozen=True)
class Whiteout:
    """Deletes `path` (and everything below it) from lower layers."""

    path: str


@dataclass(frozen=True)
class Opaque:
    """Hides everything lower layers put in directory `path`."""

    path: str


@dataclass(frozen=True)
class Special:
    path: str
    kind: Literal["fifo", "char", "block"] = "fifo"


@dataclass(frozen=True)
class Raw:
    """A tar entry written exactly as given (for hostile-input tests)."""

    info: tarfile.TarInfo
    data: bytes = b""


Item = File | Dir | Symlink | Hardlink | Whiteout | Opaque | Special | Raw


@dataclass
class Layer:
    items: list[Item]
    created_by: str = "COPY . /"
    compression: Compression = "gzip"
    auto_parents: bool = True
    tar_format: int = tarfile.PAX_FORMAT  # GNU_FORMAT: long names as GNU ././@LongLink
    # history entries with no layer that follow this layer's (ENV, CMD, ... of the
    # Dockerfile that made it), as a builder records them: `docker history` order
    after: list[str] = field(default_factory=list)


@dataclass
class ImageSpec:
    layers: list[Layer]
    name: str = "example.org/test/image:1.0"
    config: dict[str, Any] = field(default_factory=dict)  # the config's "config" part
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None
    created: str = "2026-11-01T00:00:00Z"
    empty_steps: list[str] = field(default_factory=list)  # history entries with no layer


def host_file(path: str | os.PathLike[str], image_path: str, mode: int | None = None) -> File:
    """A real file from the test host (an ELF binary, a library) placed in the image."""
    real = os.path.realpath(path)
    data = Path(real).read_bytes()
    return File(
        image_path.lstrip("/"), data, mode if mode is not None else (os.stat(real).st_mode & 0o7777)
    )


def host_libraries(elves: list[Path]) -> list[Item]:
    """The host's copies of what the host ELF files `elves` need from the system (libc,
    libssl, the loader, ...), placed where a Debian image has them (merged /usr, the
    loader also at /lib64), found with the host's own ldd: run on host files only, never
    on anything from an image. The images then load as they would on Debian."""
    multiarch = str(sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu")
    found: dict[str, Path] = {}
    for elf in elves:
        out = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, check=False)
        for line in out.stdout.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
                name, path = parts[0], Path(parts[2])
            elif parts and parts[0].startswith("/"):
                name, path = Path(parts[0]).name, Path(parts[0])
            else:
                continue
            if "libpython" in name:  # the interpreter's own: the image has its copy
                continue
            found.setdefault(name, path)
    items: list[Item] = [
        Symlink("lib", "usr/lib"),
        File("etc/ld.so.conf", b"include /etc/ld.so.conf.d/*.conf\n"),  # as Debian ships it
    ]
    for name, path in sorted(found.items()):
        if name.startswith("ld-linux"):
            items.append(host_file(path, f"lib64/{name}"))
        items.append(host_file(path, f"usr/lib/{multiarch}/{name}"))
    return items


def compiled_library(needed: Sequence[str], runpath: str | None = None) -> Path:
    """A real shared object built here by the host's gcc and linker: DT_NEEDED lists
    `needed` (sonames linked with `-l:NAME`, so the host must have them), DT_RUNPATH is
    `runpath` when given. For ELF tests that need an object with known links (say, a
    Python extension as a source build leaves it: libsqlite3 plus a RUNPATH into the
    build prefix) on any host, whatever its Python is. Written once per content under
    the temp dir (atomically: xdist workers may race) and reused."""
    source = b"int imgaudit_test_object(void) { return 42; }\n"
    args = ["-shared", "-fPIC", "-Wl,--no-as-needed", *[f"-l:{name}" for name in needed]]
    if runpath is not None:
        args += ["-Wl,--enable-new-dtags", f"-Wl,-rpath,{runpath}"]
    key = hashlib.sha256(source + "\0".join(args).encode()).hexdigest()[:16]
    out_dir = Path(tempfile.gettempdir()) / f"imgaudit-test-objects-{os.getuid()}"
    out = out_dir / f"lib{key}.so"
    if out.exists():
        return out
    gcc = shutil.which("gcc")
    if gcc is None:
        raise FileNotFoundError("gcc not found: test objects are compiled (apt-get install gcc)")
    out_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        (Path(tmp) / "object.c").write_bytes(source)
        subprocess.run(
            [gcc, *args[:2], "-o", "object.so", "object.c", *args[2:]],
            cwd=tmp, check=True, capture_output=True,
        )  # fmt: skip
        os.replace(Path(tmp) / "object.so", out)
    return out


# ---- layers ------------------------------------------------------------------------


def _tarinfo(
    name: str, kind: bytes, mode: int, uid: int = 0, gid: int = 0, mtime: int = MTIME
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid, info.gid = uid, gid
    info.uname = info.gname = ""
    info.mtime = mtime
    return info


def layer_tar(layer: Layer) -> bytes:
    """The uncompressed tar bytes of a layer (PAX format by default: long names are PAX
    headers; `tar_format=tarfile.GNU_FORMAT` writes GNU long-name entries instead)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=layer.tar_format) as tar:
        written: set[str] = set()

        def parents(path: str) -> None:
            if not layer.auto_parents:
                return
            parts = path.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in written:
                    written.add(d)
                    tar.addfile(_tarinfo(d + "/", tarfile.DIRTYPE, 0o755))

        for item in layer.items:
            if isinstance(item, Raw):
                tar.addfile(item.info, io.BytesIO(item.data) if item.data else None)
                continue
            path = item.path.strip("/")
            parents(path)
            if isinstance(item, File):
                info = _tarinfo(path, tarfile.REGTYPE, item.mode, item.uid, item.gid, item.mtime)
                info.size = len(item.data)
                tar.addfile(info, io.BytesIO(item.data))
            elif isinstance(item, Dir):
                written.add(path)
                tar.addfile(
                    _tarinfo(path + "/", tarfile.DIRTYPE, item.mode, item.uid, item.gid, item.mtime)
                )
            elif isinstance(item, Symlink):
                info = _tarinfo(path, tarfile.SYMTYPE, 0o777, item.uid, item.gid)
                info.linkname = item.target
                tar.addfile(info)
            elif isinstance(item, Hardlink):
                info = _tarinfo(path, tarfile.LNKTYPE, 0o644)
                info.linkname = item.target.strip("/")
                tar.addfile(info)
            elif isinstance(item, Whiteout):
                d, _, base = path.rpartition("/")
                wh = f"{d}/.wh.{base}" if d else f".wh.{base}"
                tar.addfile(_tarinfo(wh, tarfile.REGTYPE, 0o644))
            elif isinstance(item, Opaque):
                tar.addfile(_tarinfo(f"{path}/.wh..wh..opq", tarfile.REGTYPE, 0o644))
            elif isinstance(item, Special):
                kind = {
                    "fifo": tarfile.FIFOTYPE,
                    "char": tarfile.CHRTYPE,
                    "block": tarfile.BLKTYPE,
                }[item.kind]
                tar.addfile(_tarinfo(path, kind, 0o644))
    return buf.getvalue()


def read_stack(layers: Sequence[Sequence[Item]], tmp: Path) -> list[Any]:
    """Each layer's items as an uncompressed tar in `tmp`, indexed by the reader
    (auditor.layers.index_layer): the LayerIndex list FileSystem merges."""
    from auditor.layers import index_layer
    from auditor.sources.interface import FileSlice
    from auditor.sources.interface import Layer as SourceLayer

    out = []
    for n, items in enumerate(layers):
        diff = layer_tar(Layer(list(items), compression="none"))
        blob = tmp / f"{n}.tar"
        blob.write_bytes(diff)
        sha = sha256(diff)
        out.append(index_layer(SourceLayer(n, sha, sha, "", len(diff), FileSlice(str(blob)))))
    return out


def compress(data: bytes, compression: Compression) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if compression == "zstd":
        # with a content checksum, as the zstd CLI and containerd's encoder write by default
        return zstandard.ZstdCompressor(level=3, write_checksum=True).compress(data)
    if compression == "estargz":
        step = 4096
        return b"".join(
            gzip.compress(data[i : i + step], compresslevel=6, mtime=0)
            for i in range(0, max(len(data), 1), step)
        )
    return data


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class BuiltImage:
    """The blobs of an image, ready to be written in any layout."""

    spec: ImageSpec
    diffs: list[bytes]  # uncompressed layer tars
    blobs: list[bytes]  # stored layer blobs (compressed per layer spec)
    config: bytes
    manifest: bytes

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)


def build(spec: ImageSpec) -> BuiltImage:
    diffs = [layer_tar(layer) for layer in spec.layers]
    blobs = [compress(d, layer.compression) for d, layer in zip(diffs, spec.layers)]
    history = [
        {"created": spec.created, "created_by": step, "empty_layer": True}
        for step in spec.empty_steps
    ]
    for layer in spec.layers:
        history.append({"created": spec.created, "created_by": layer.created_by})
        history += [
            {"created": spec.created, "created_by": step, "empty_layer": True}
            for step in layer.after
        ]
    config: dict[str, Any] = {
        "architecture": spec.architecture,
        "os": spec.os,
        "created": spec.created,
        "config": spec.config,
        "rootfs": {"type": "layers", "diff_ids": [sha256(d) for d in diffs]},
        "history": history,
    }
    if spec.variant:
        config["variant"] = spec.variant
    config_bytes = json.dumps(config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": LAYER_MEDIA[layer.compression], "digest": sha256(b), "size": len(b)}
            for b, layer in zip(blobs, spec.layers)
        ],
    }
    return BuiltImage(
        spec, diffs, blobs, config_bytes, json.dumps(manifest, sort_keys=True).encode()
    )


# ---- layouts -------------------------------------------------------------------------


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = _tarinfo(name, tarfile.REGTYPE, 0o644)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _oci_files(
    images: list[BuiltImage],
    index_extra: list[dict[str, Any]] | None = None,
    nested: str | None = None,
) -> dict[str, bytes]:
    """Blobs and index.json. `nested`: put every image in one image index blob (a
    multi-arch image) that index.json names `nested`."""
    files: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}
    manifests = []
    for img in images:
        for blob in [*img.blobs, img.config, img.manifest]:
            files["blobs/sha256/" + sha256(blob).split(":")[1]] = blob
        name = img.spec.name
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": img.manifest_digest,
                "size": len(img.manifest),
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name,
                },
                "platform": {
                    "os": img.spec.os,
                    "architecture": img.spec.architecture,
                    **({"variant": img.spec.variant} if img.spec.variant else {}),
                },
            }
        )
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests + (index_extra or []),
    }
    if nested is not None:
        for m in manifests:
            m.pop("annotations")
        inner = json.dumps(index, sort_keys=True).encode()
        files["blobs/sha256/" + sha256(inner).split(":")[1]] = inner
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "digest": sha256(inner),
                    "size": len(inner),
                    "annotations": {
                        "io.containerd.image.name": nested,
                        "org.opencontainers.image.ref.name": nested,
                    },
                }
            ],
        }
    files["index.json"] = json.dumps(index, sort_keys=True).encode()
    return files


def write_oci_dir(
    images: BuiltImage | list[BuiltImage],
    path: str | os.PathLike[str],
    nested: str | None = None,
) -> Path:
    root = Path(path)
    imgs = images if isinstance(images, list) else [images]
    for name, data in _oci_files(imgs, nested=nested).items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def write_oci_archive(
    images: BuiltImage | list[BuiltImage],
    path: str | os.PathLike[str],
    nested: str | None = None,
) -> Path:
    files = _oci_files(images if isinstance(images, list) else [images], nested=nested)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            _add_bytes(tar, name, data)
    return Path(path)


def write_docker_archive(
    images: BuiltImage | list[BuiltImage],
    path: str | os.PathLike[str],
    layout: Literal["legacy", "oci"] = "legacy",
) -> Path:
    """`docker save` output. `legacy`: Docker <= 24 (`<id>/layer.tar`, uncompressed, as the
    engine writes it); `oci`: Docker >= 25 (OCI layout plus manifest.json into blobs/)."""
    imgs = images if isinstance(images, list) else [images]
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        entries = []
        if layout == "oci":
            for name, data in _oci_files(imgs).items():
                _add_bytes(tar, name, data)
            for img in imgs:
                entries.append(
                    {
                        "Config": "blobs/sha256/" + img.config_digest.split(":")[1],
                        "RepoTags": [img.spec.name] if img.spec.name else None,
                        "Layers": ["blobs/sha256/" + sha256(b).split(":")[1] for b in img.blobs],
                    }
                )
        else:
            written: set[str] = set()
            for img in imgs:
                cfg_name = img.config_digest.split(":")[1] + ".json"
                _add_bytes(tar, cfg_name, img.config)
                layer_paths = []
                for diff in img.diffs:
                    layer_id = hashlib.sha256(b"id" + diff).hexdigest()
                    lp = f"{layer_id}/layer.tar"
                    if lp not in written:
                        written.add(lp)
                        _add_bytes(tar, f"{layer_id}/VERSION", b"1.0")
                        _add_bytes(tar, lp, diff)
                    layer_paths.append(lp)
                entries.append(
                    {
                        "Config": cfg_name,
                        "RepoTags": [img.spec.name] if img.spec.name else None,
                        "Layers": layer_paths,
                    }
                )
        _add_bytes(tar, "manifest.json", json.dumps(entries).encode())
    return Path(path)


def uncompressed(spec: ImageSpec) -> ImageSpec:
    """The same image with every layer stored uncompressed (as docker save stores them)."""
    return ImageSpec(
        layers=[
            Layer(ly.items, ly.created_by, "none", ly.auto_parents, ly.tar_format, ly.after)
            for ly in spec.layers
        ],
        name=spec.name,
        config=spec.config,
        os=spec.os,
        architecture=spec.architecture,
        variant=spec.variant,
        created=spec.created,
        empty_steps=spec.empty_steps,
    )


def with_config(built: BuiltImage, config: bytes | dict[str, Any]) -> BuiltImage:
    """The same layers under another config document (a lying or damaged config, for
    bad-input tests); the manifest is rewritten to point at it."""
    config_bytes = config if isinstance(config, bytes) else json.dumps(config).encode()
    manifest = json.loads(built.manifest)
    manifest["config"]["digest"] = sha256(config_bytes)
    manifest["config"]["size"] = len(config_bytes)
    return BuiltImage(
        built.spec,
        built.diffs,
        built.blobs,
        config_bytes,
        json.dumps(manifest, sort_keys=True).encode(),
    )
