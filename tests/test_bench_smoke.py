"""The benchmark script on a tiny factory image: keeps bench/run.py working in CI.

No timing is asserted (CI machines are shared and noisy); what is asserted is that
every measurement ran and that the facts the benchmark relies on hold: the warm run
after a one-layer change reads exactly one layer, and the unpacked root that scanelf
walks applies whiteouts like an engine does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import run as bench_run


def test_smoke_benchmark_measures_every_row(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    assert bench_run.main(["--smoke", str(tmp_path / "work"), "--results", str(results)]) == 0
    text = results.read_text()
    assert "## Machine" in text and "## Results" in text and "## Targets" in text
    rows = {
        line.split("|")[1].strip(): line
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| measurement")
    }
    for name in (
        "floor [OCI archive, gzip layers]: gzip every layer",
        "floor [OCI archive, gzip layers]: Python zlib (stdlib) read loop",
        "floor [docker-archive, uncompressed layers]: cat every layer",
        "imgaudit cold [OCI archive]",
        "imgaudit warm [OCI archive]",
        "imgaudit cold [docker-archive]",
        "imgaudit warm [docker-archive]",
        "imgaudit warm, one layer added [docker-archive]",
        "imgaudit ELF parse (auditor.elf) [unpacked root]",
        "imgaudit ELF resolution [warm index]",
    ):
        assert name in rows, name
        assert " s |" in rows[name], rows[name]  # a time was measured
    assert "layers read: 1" in rows["imgaudit warm, one layer added [docker-archive]"]
    parallel = [w for w in rows if "parallel in-process inflate, zlib," in w]
    assert len(parallel) == 1 and " s |" in rows[parallel[0]]  # the stdlib's zlib: always there
    assert "parallel in-process inflate floor" in text  # the target line
    verifying = [w for w in rows if "inflate + blob sha256," in w]
    assert len(verifying) == 1 and " s |" in rows[verifying[0]]  # with the fastest inflater
    assert "the verifying floor" in text
    if shutil.which("docker-registry") and shutil.which("skopeo"):
        for name in ("skopeo copy docker:// -> dir: [registry, gzip layers]",
                     "imgaudit cold [registry, gzip layers]",
                     "imgaudit warm [registry, gzip layers]"):  # fmt: skip
            assert " s |" in rows[name], rows[name]
        assert "registry cold scan <= 1.3x" in text
    assert "1 ELF files" in rows["imgaudit ELF parse (auditor.elf) [unpacked root]"]
    if shutil.which("scanelf") is None:  # everything above was checked without it
        pytest.skip("scanelf not installed (apt-get install pax-utils)")
    assert "1 ELF files" in rows["scanelf -R -n [unpacked root]"]


def test_unpacked_root_applies_whiteouts(tmp_path: Path) -> None:
    inputs = bench_run.smoke_inputs(tmp_path)
    root = bench_run.unpack_rootfs(f"docker-archive:{inputs.docker_archive}", inputs.rootfs)
    assert (root / "app" / "main.py").read_bytes() == b"print('hi')\n"
    assert (root / "usr" / "bin" / "python3.11").read_bytes()[:4] == b"\x7fELF"
    assert not (root / "etc" / "old.conf").exists()  # whited out by the second layer
    assert not list(root.rglob(".wh.*"))
    assert (root / "etc" / "os-release").exists()


def test_verifying_floor_computes_the_blob_digest(tmp_path: Path) -> None:
    """The verifying floor does the work it claims: every gzip member inflated (zero
    padding after the last one allowed, as layer writers do) and the blob digest right."""
    import gzip
    import hashlib
    import os

    from bench import inflate_floor

    content = [os.urandom(300_000) + b"\0" * 2_000_000, b"second member " * 50_000]
    stored = gzip.compress(content[0]) + gzip.compress(content[1]) + b"\0" * 512
    blob = tmp_path / "blob"
    blob.write_bytes(b"junk before" + stored + b"junk after")
    whole = b"".join(content)
    sliced = (str(blob), len(b"junk before"), len(stored))
    for module in ("zlib", "zlib_ng", "isal"):
        try:
            out = inflate_floor.floor([sliced], module, 2, verify=True)
        except ImportError:
            continue
        assert out["bytes"] == len(whole), module
        assert out["digests"] == [["sha256:" + hashlib.sha256(stored).hexdigest()]], module
        assert "digests" not in inflate_floor.floor([sliced], module, 1)
