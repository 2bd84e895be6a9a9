"""Write the seed corpora of the fuzz targets (fuzz/): small valid inputs of each
kind, so the fuzzer starts from real structure. Run from the repository root:

    python3 testdata/fuzz/make_seeds.py
"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests import factory
from tests.factory import Dir, File, Hardlink, Layer, Opaque, Special, Symlink, Whiteout

HERE = Path(__file__).parent
ITEMS: list[factory.Item] = [
    Dir("etc"),
    File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
    File("usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA", b"Name: x\nVersion: 1.0\n"),
    File("usr/lib/python3/dist-packages/x-1.0.dist-info/RECORD", b"x/__init__.py,,3\n"),
    File("opt/venv/pyvenv.cfg", b"home = /usr/bin\nversion = 3.11.2\n"),
    Symlink("usr/bin/python", "python3"),
    Symlink("loop/a", "b"),
    Symlink("loop/b", "a"),
    Hardlink("usr/bin/tool2", "etc/os-release"),
    Special("dev/fifo"),
    Whiteout("var/old"),
    Opaque("opt"),
    File("a" * 120 + "/long", b"long name"),
]


def layers() -> dict[str, bytes]:
    out = {}
    for compression in ("none", "gzip", "zstd", "estargz"):
        layer = Layer(ITEMS, compression=compression)  # type: ignore[arg-type]
        out[f"items-{compression}"] = factory.compress(factory.layer_tar(layer), compression)  # type: ignore[arg-type]
    gnu = Layer(ITEMS, compression="none", tar_format=tarfile.GNU_FORMAT)
    out["items-gnu"] = factory.layer_tar(gnu)
    out["empty"] = b"\0" * 1024
    return out


def elf() -> dict[str, bytes]:
    true = Path("/bin/true").resolve().read_bytes()
    return {"true": true, "true-head": true[:2048]}


def manifest() -> dict[str, bytes]:
    built = factory.build(factory.ImageSpec(layers=[Layer([File("etc/os-release", b"ID=x\n")])]))
    config = json.loads(built.config)
    man = json.loads(built.manifest)
    man["config"]["digest"] = "@2"
    man["layers"][0]["digest"] = "@3"
    index = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": man["mediaType"], "digest": "@1", "size": 1}],
    }
    nested = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": "@1",
                "size": 1,
            }
        ],
    }
    inner = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": man["mediaType"],
                "digest": "@2",
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            }
        ],
    }
    man3 = dict(
        man, config=dict(man["config"], digest="@3"), layers=[dict(man["layers"][0], digest="@4")]
    )

    def join(*docs: object) -> bytes:
        return b"\0".join(d if isinstance(d, bytes) else json.dumps(d).encode() for d in docs)

    return {
        "single": join(index, man, config, built.blobs[0]),
        "nested": join(nested, inner, man3, config, built.blobs[0]),
    }


def main() -> None:
    for name, seeds in (("layers", layers()), ("elf", elf()), ("manifest", manifest())):
        directory = HERE / name
        directory.mkdir(exist_ok=True)
        for seed, data in seeds.items():
            (directory / seed).write_bytes(data)


if __name__ == "__main__":
    main()
