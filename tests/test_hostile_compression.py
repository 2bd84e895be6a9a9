"""Compressed layers built to hurt: truncation, trailing garbage, many members, a zstd
frame that asks for a 2 GiB window, decompression bombs. Each ends in bounded time and
memory, as one CorruptInput line (exit 2) or as a correct index."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard

from auditor import layers
from auditor.errors import CorruptInput
from auditor.layers import index_layer
from tests import factory
from tests.factory import File, Layer
from tests.support.bounded import counted_layer
from tests.test_hostile_tar import one_line
from tests.test_layers import source_layer

FMT = ("--format", "json")
SCAN = (sys.executable, "-m", "auditor", "scan", "--no-cache")
TAR = factory.layer_tar(Layer([File("etc/os-release", b"ID=debian\n" * 100)]))


@pytest.fixture(params=["stream", "decompressobj"])
def gzip_decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both gzip decoders of the layer reader: ISA-L's stream decoder (which keeps the
    input it has not used), and decompressobj (zlib-ng's or zlib's, where ISA-L has
    no wheel)."""
    if request.param == "decompressobj":
        monkeypatch.setattr(layers, "_GZIP_STREAM", None)
    elif layers._GZIP_STREAM is None:
        pytest.skip("ISA-L is not installed")
    return str(request.param)


def index(tmp_path: Path, blob: bytes, diff: bytes = TAR, **kw: int) -> object:
    return index_layer(source_layer(tmp_path, blob, diff), **kw)  # type: ignore[arg-type]


def zstd_frame(data: bytes, **params: int) -> bytes:
    c = zstandard.ZstdCompressor(compression_params=zstandard.ZstdCompressionParameters(**params))
    buf = io.BytesIO()
    with c.stream_writer(buf, closefd=False) as w:
        w.write(data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (gzip.compress(TAR)[:-9], "truncated gzip stream"),
        (gzip.compress(TAR)[:20], "truncated gzip stream"),
        (zstandard.compress(TAR)[:-5], "truncated zstd stream"),
        (zstandard.compress(TAR)[:8], "zstd"),
        (gzip.compress(TAR) + b"GARBAGE!" * 10, "trailing garbage after the gzip stream"),
        (zstandard.compress(TAR) + b"GARBAGE!" * 10, "corrupt zstd data"),
        # a second gzip member that is cut short
        (gzip.compress(TAR[:4096]) + gzip.compress(TAR[4096:])[:-12], "truncated gzip stream"),
        # a frame claiming a 2 GiB window (write_content_size off: the decoder cannot
        # shrink it): refused up front, not allocated
        (zstd_frame(TAR, window_log=31, write_content_size=False), "too much memory"),
    ],
)
@pytest.mark.timeout(120)  # only a hang; the work is bounded below
@pytest.mark.usefixtures("gzip_decoder")
def test_broken_compression_is_one_error(tmp_path: Path, blob: bytes, message: str) -> None:
    layer, count = counted_layer(tmp_path, blob, TAR)
    with pytest.raises(CorruptInput, match="layer 0") as exc:
        index_layer(layer)
    assert message in str(exc.value)
    # bounded work: no byte read twice, no spinning on an exhausted stream
    assert count.bytes <= len(blob) and count.empty <= 2, count


@pytest.mark.usefixtures("gzip_decoder")
def test_concatenated_members_and_zero_padding_are_fine(tmp_path: Path) -> None:
    half = len(TAR) // 2

    def content(blob: bytes) -> dict[str, object]:
        """The index less the stored blob's digest (the blobs differ on purpose)."""
        return {**index(tmp_path, blob).to_json(), "digest": None}  # type: ignore[attr-defined]

    want = content(TAR)
    gz = gzip.compress(TAR[:half]) + gzip.compress(TAR[half:]) + b"\0" * 600
    assert content(gz) == want
    zs = zstandard.compress(TAR[:half]) + zstandard.compress(TAR[half:])
    assert content(zs) == want
    # a zstd skippable frame between the data frames
    skippable = b"\x50\x2a\x4d\x18" + (8).to_bytes(4, "little") + b"metadata"
    zs = zstandard.compress(TAR[:half]) + skippable + zstandard.compress(TAR[half:])
    assert content(zs) == want


@pytest.mark.usefixtures("gzip_decoder")
def test_gzip_members_across_small_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Input pieces and output steps far smaller than a member: a member's end, and the
    next member's start, fall inside input the decoder still holds."""
    files = [File(f"srv/f{i}.txt", bytes([65 + i % 26]) * (300 + i * 53)) for i in range(60)]
    big = factory.layer_tar(Layer(files))
    cut = len(big) // 3
    blob = b"".join(gzip.compress(part) for part in (big[:cut], big[cut : 2 * cut], big[2 * cut :]))
    want = {**index(tmp_path, big, big).to_json(), "digest": None}  # type: ignore[attr-defined]
    monkeypatch.setattr(layers, "CHUNK", 1000)
    monkeypatch.setattr(layers, "PIECE", 700)
    got = {**index(tmp_path, blob, big).to_json(), "digest": None}  # type: ignore[attr-defined]
    assert got == want


def _bomb(tmp_path: Path, compression: str, mib: int) -> tuple[Path, str, str]:
    """A layer holding one file of `mib` MiB of zeros, compressed as a stream (never in
    memory whole); returns the blob path, its digest and the diff_id."""
    head = tarfile.TarInfo("zeros")
    head.size = mib << 20
    parts = [head.tobuf(tarfile.PAX_FORMAT)] + [b"\0" * (1 << 20)] * mib + [b"\0" * 1024]
    diff = hashlib.sha256()
    path = tmp_path / f"bomb.{compression}"
    with path.open("wb") as out:
        if compression == "gzip":
            gz: io.BufferedIOBase = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9)  # type: ignore[assignment]
        else:
            gz = zstandard.ZstdCompressor(level=19).stream_writer(out, closefd=False)  # type: ignore[assignment]
        with gz:
            for part in parts:
                diff.update(part)
                gz.write(part)
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return path, digest, "sha256:" + diff.hexdigest()


MEASURE = """
import sys, time
def hwm():  # peak RSS in KiB of this process image (ru_maxrss survives exec from a big parent)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
sys.path.insert(0, {repo!r})
from auditor.errors import CorruptInput
from auditor.layers import index_layer
from auditor.sources.interface import FileSlice, Layer
layer = Layer(index=0, diff_id={diff!r}, digest={digest!r}, media_type="", size=0,
              locator=FileSlice({path!r}))
start = time.process_time()
try:
    result = "ok %d" % index_layer(layer, max_ratio={ratio}).entries[0].size
except CorruptInput as exc:
    result = "error " + str(exc)
print(result)
print(hwm() // 1024, time.process_time() - start)  # CPU seconds: not the machine's load
"""


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_decompression_bomb_stops_early_in_flat_memory(tmp_path: Path, compression: str) -> None:
    path, digest, diff = _bomb(tmp_path, compression, 300)
    stored = path.stat().st_size
    assert (300 << 20) / stored > 1000  # a real bomb: over the default ratio

    def measure(ratio: int) -> tuple[str, int, float]:
        code = MEASURE.format(
            repo=str(Path(__file__).parent.parent),
            diff=diff,
            digest=digest,
            path=str(path),
            ratio=ratio,
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        ).stdout.splitlines()
        rss, seconds = out[1].split()
        return out[0], int(rss), float(seconds)

    # deflate cannot pass ~1032:1, so the default 1000 barely bites on gzip (a gzip
    # "bomb" is just a big layer, read in flat memory); zstd reaches 30000:1.
    ratio = 500 if compression == "gzip" else 1000
    result, rss, seconds = measure(ratio)
    assert result.startswith("error layer 0"), result
    assert f"decompresses to over {ratio}x" in result and "raise --max-ratio" in result
    assert rss < 150 and seconds < 60, (rss, seconds)  # CPU s, generous: only a runaway fails
    # Allowed by a higher limit: read to the end, still in flat memory.
    result, rss, _ = measure(10**7)
    assert result == f"ok {300 << 20}"
    assert rss < 150, rss


def test_max_ratio_on_the_command_line(tmp_path: Path) -> None:
    spec = factory.ImageSpec(layers=[Layer([File("zeros", bytes(80 << 20))], compression="zstd")])
    layout = factory.write_oci_dir(factory.build(spec), tmp_path / "l")
    err = one_line(f"oci:{layout}")
    assert "layer 0" in err and "decompresses to over 1000x its size" in err
    assert "raise --max-ratio to read it" in err
    err = one_line(f"oci:{layout}", "--max-ratio", "50")
    assert "over 50x" in err
    proc = subprocess.run(
        [*SCAN, "--max-ratio", "100000", *FMT, f"oci:{layout}"],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads(proc.stdout)["image"]["layers"][0]["size"] == 80 << 20
