"""`imgaudit scan` end to end: the JSON contract, the table, transport equivalence."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.cli import main
from tests import factory
from tests.factory import File, Layer, Symlink, Whiteout
from tests.images import TRANSPORTS, write

REPO = Path(__file__).resolve().parent.parent

SPEC = factory.ImageSpec(
    layers=[
        Layer(
            [
                File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
                File(
                    "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n"
                ),
                File("usr/lib/libbig.so", b"\x01" * 5000),
                File("tmp/cache.bin", b"c" * 3000),
                # the command's program (a stand-in: these tests are about transports and
                # the report, and a command on no PATH directory is a PY007 error)
                File("usr/bin/python3", b"stand-in\n", mode=0o755),
                Symlink("lib", "usr/lib"),
            ],
            "/bin/sh -c #(nop) ADD file:abc in / ",
            compression="gzip",
        ),
        Layer(
            [File("app/main.py", b"print('hi')\n"), Whiteout("tmp/cache.bin")],
            "COPY app /app # buildkit",
        ),
        Layer(
            [File("usr/lib/libbig.so", b"\x02" * 100)], "RUN /bin/sh -c make", compression="zstd"
        ),
    ],
    name="example.org/shop/api:2.1",
    config={
        "User": "app",
        "Env": ["PATH=/usr/bin", "PYTHONUNBUFFERED=1"],
        "Entrypoint": ["python3"],
        "Cmd": ["/app/main.py"],
        "Labels": {"z": "1", "a": "2"},
    },
    empty_steps=["ENV PYTHONUNBUFFERED=1"],
)


def scan_json(ref: str, *extra: str, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    assert (
        main(["scan", ref, "--format", "json", "--jobs", "1", "--disable", "SEC001", *extra]) == 0
    )
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = factory.build(SPEC)
    report = scan_json(write(built, tmp_path, "oci-archive"), capsys=capsys)
    assert report["schema_version"] == 1
    assert report["source"] == {
        "transport": "oci-archive",
        "reference": f"oci-archive:{tmp_path / 'image.oci.tar'}",
        "path": str(tmp_path / "image.oci.tar"),
        "manifest_digest": built.manifest_digest,
    }
    image = report["image"]
    assert image["reference"] == "example.org/shop/api:2.1"
    assert image["digest"] == built.config_digest
    assert (image["os"], image["architecture"], image["created"]) == (
        "linux",
        "amd64",
        "2026-11-01T00:00:00Z",
    )
    assert (image["user"], image["entrypoint"], image["cmd"]) == (
        "app",
        ["python3"],
        ["/app/main.py"],
    )
    assert image["env"] == ["PATH=/usr/bin", "PYTHONUNBUFFERED=1"]
    assert image["labels"] == {"a": "2", "z": "1"}
    sizes = [26, 60, 5000, 3000, 9]
    assert [ly["size"] for ly in image["layers"]] == [sum(sizes), 12, 100]
    assert image["size"] == sum(sizes) + 12 + 100
    assert image["compressed_size"] == sum(len(b) for b in built.blobs)
    assert [ly["compressed_size"] for ly in image["layers"]] == [len(b) for b in built.blobs]
    assert [ly["index"] for ly in image["layers"]] == [0, 1, 2]
    assert [ly["digest"] for ly in image["layers"]] == [factory.sha256(b) for b in built.blobs]
    assert [ly["diff_id"] for ly in image["layers"]] == [factory.sha256(d) for d in built.diffs]
    assert [ly["created_by"] for ly in image["layers"]] == [
        "ADD file:abc in /",
        "COPY app /app",
        "RUN make",
    ]
    assert [ly["empty"] for ly in image["layers"]] == [False, False, False]
    waste = report["waste"]
    assert waste["wasted_bytes"] == 5000 + 3000
    assert waste["efficiency"] == round(1 - 8000 / (sum(sizes) + 12 + 100), 6)
    assert waste["files"] == [
        {"path": "/usr/lib/libbig.so", "wasted_bytes": 5000, "layers": [0]},
        {"path": "/tmp/cache.bin", "wasted_bytes": 3000, "layers": [0]},
    ]


def test_empty_layers_are_marked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = factory.ImageSpec(layers=[Layer([File("a", b"1")], "COPY a /"), Layer([], "RUN true")])
    report = scan_json(write(factory.build(spec), tmp_path, "oci"), capsys=capsys)
    assert [ly["empty"] for ly in report["image"]["layers"]] == [False, True]
    assert [ly["created_by"] for ly in report["image"]["layers"]] == ["COPY a /", "RUN true"]


def test_the_same_image_through_every_transport_gives_the_same_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docker save stores layers uncompressed, so every layout carries the same blobs."""
    built = factory.build(factory.uncompressed(SPEC))
    texts = set()
    for transport in TRANSPORTS:
        ref = write(built, tmp_path, transport)
        assert main(["scan", ref, "--format", "json", "--no-cache", "--disable", "SEC001"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report.pop("source")["transport"] == transport.split("-legacy")[0].split("-oci")[0]
        texts.add(json.dumps(report, sort_keys=True))
    assert len(texts) == 1


def test_compressed_blobs_give_the_same_report_in_every_oci_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = factory.build(SPEC)  # gzip and zstd layers
    reports = []
    for transport in TRANSPORTS[1:]:
        report = scan_json(write(built, tmp_path, transport), capsys=capsys)
        report.pop("source")
        reports.append(report)
    assert reports[0] == reports[1] == reports[2]


def test_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = factory.build(SPEC)
    assert main(["scan", write(built, tmp_path, "docker-archive-oci"), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "example.org/shop/api:2.1" in out
    assert built.config_digest[:19] in out  # shortened: sha256: + 12 hex
    assert "linux/amd64" in out
    assert "app" in out.splitlines()[3]
    assert "8.0 kB" in out  # wasted
    assert "RUN make" in out and "COPY app /app" in out and "ADD file:abc in /" in out
    assert "/usr/lib" in out and "Largest directories" in out
    assert "/tmp/cache.bin" in out


def test_parallel_layer_indexing_matches_serial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = write(factory.build(SPEC), tmp_path, "oci")
    serial = scan_json(ref, "--no-cache", "--jobs", "1", capsys=capsys)
    parallel = scan_json(ref, "--no-cache", "--jobs", "3", capsys=capsys)
    assert serial == parallel


def test_module_entry_point(tmp_path: Path) -> None:
    ref = write(factory.build(SPEC), tmp_path, "docker-archive-legacy")
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", ref, "--format", "json", "--disable", "SEC001"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["image"]["user"] == "app"


def test_names_that_are_not_utf8(tmp_path: Path) -> None:
    """A tar name with Latin-1 bytes: valid UTF-8 JSON, and no crash on a strict stdout."""
    import tarfile

    name = "app/caf\udce9.txt"  # b"caf\xe9.txt" as tarfile decodes it
    layers = []
    for data in (b"hello", b"hi"):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        layers.append(Layer([factory.Raw(info, data)], tar_format=tarfile.GNU_FORMAT))
    ref = write(factory.build(factory.ImageSpec(layers=layers)), tmp_path, "oci")
    env = {"PYTHONIOENCODING": "utf-8:strict", "PATH": "/usr/bin:/bin"}
    for fmt in ("json", "table"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "auditor",
                "scan",
                ref,
                "--format",
                fmt,
                "--no-cache",
                "--disable",
                "SEC001",
            ],
            cwd=REPO,
            env={**env, "IMGAUDIT_CACHE_DIR": str(tmp_path / "cache")},
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        if fmt == "json":
            report = json.loads(proc.stdout.decode("utf-8"))
            assert report["waste"]["files"] == [
                {"path": "/" + name, "wasted_bytes": 5, "layers": [0]}
            ]
        else:
            assert b"/app/caf\xe9.txt" in proc.stdout


@pytest.mark.parametrize("compression", ["gzip", "zstd", "estargz"])
@pytest.mark.parametrize("transport", ["docker-archive-oci", "oci-archive", "oci"])
def test_every_compression_gives_the_uncompressed_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], compression: str, transport: str
) -> None:
    def variant(c: str) -> factory.ImageSpec:
        layers = [Layer(ly.items, ly.created_by, c) for ly in SPEC.layers]  # type: ignore[arg-type]
        return factory.ImageSpec(layers=[*layers, Layer([], "RUN true", c)], config=SPEC.config)  # type: ignore[arg-type]

    def strip(report: dict) -> dict:  # type: ignore[type-arg]
        report.pop("source")
        report["image"]["compressed_size"] = None
        for layer in report["image"]["layers"]:
            layer["digest"] = layer["compressed_size"] = None
        return report

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = scan_json(
        write(factory.build(variant("none")), tmp_path / "a", transport), capsys=capsys
    )
    built = factory.build(variant(compression))
    got = scan_json(write(built, tmp_path / "b", transport), capsys=capsys)
    assert [ly["digest"] for ly in got["image"]["layers"]] == [
        factory.sha256(b) for b in built.blobs
    ]
    assert got["image"]["layers"][-1]["empty"] is True
    assert strip(got) == strip(plain)


def test_output_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    spec = factory.ImageSpec(
        layers=[
            Layer([File(f"opt/d{i}/f{j}", b"x" * (i + j)) for i in range(5) for j in range(5)]),
            Layer([Whiteout("opt"), File("opt/new", b"n")]),
        ]
    )
    ref = write(factory.build(spec), tmp_path, "oci")
    outputs = set()
    for seed in ("1", "2", "3"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "auditor",
                "scan",
                ref,
                "--format",
                "json",
                "--no-cache",
                "--disable",
                "SEC001",
            ],
            cwd=REPO,
            env={
                "PYTHONHASHSEED": seed,
                "PATH": "/usr/bin:/bin",
                "IMGAUDIT_CACHE_DIR": str(tmp_path),
            },
            capture_output=True,
            check=True,
        )
        outputs.add(proc.stdout)
    assert len(outputs) == 1


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_archive_with_worker_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], compression: str
) -> None:
    """`docker save | gzip`: the decompressed copy outlives open_image, is shared with
    the forked workers, and is gone afterwards."""
    import tempfile

    built = factory.build(factory.uncompressed(SPEC))
    plain = factory.write_docker_archive(built, tmp_path / "a.tar")
    packed = tmp_path / "a.tar.z"
    packed.write_bytes(factory.compress(plain.read_bytes(), compression))  # type: ignore[arg-type]
    expected = scan_json(str(plain), "--no-cache", capsys=capsys)
    before = {p.name for p in Path(tempfile.gettempdir()).glob("imgaudit-archive-*")}
    got = scan_json(str(packed), "--no-cache", "--jobs", "2", capsys=capsys)
    assert got["source"]["path"] == str(packed)
    for report in (got, expected):
        report.pop("source")
    assert got == expected
    import gc

    gc.collect()
    after = {p.name for p in Path(tempfile.gettempdir()).glob("imgaudit-archive-*")}
    assert after <= before


BASE_LAYER = Layer(
    [
        File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
        File("var/log/dpkg.log", b"l" * 3000),
        File("var/cache/apt/archives/x.deb", b"d" * 70_000),
    ],
    "/bin/sh -c #(nop) ADD file:abc in / ",
)
OWN_LAYER = Layer(
    [
        File("root/.cache/pip/http/a", b"p" * 12_000),
        File("tmp/build.o", b"t" * 2000),
        File("app/main.py", b"print(1)\n"),
    ],
    "RUN pip install .",
)


def _scan_with_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[str, str]:
    """The real checks on an image whose first layer is a base image's (`--base`):
    one error (root), and info findings in the base's layer and in the own one."""
    (tmp_path / "base").mkdir(exist_ok=True)
    (tmp_path / "image").mkdir(exist_ok=True)
    base = write(factory.build(factory.ImageSpec(layers=[BASE_LAYER])), tmp_path / "base", "oci")
    spec = factory.ImageSpec(layers=[BASE_LAYER, OWN_LAYER], name="example.org/shop/api:3")
    image = write(factory.build(spec), tmp_path / "image", "oci")
    assert main(["scan", image, "-j", "1", "--base", base, *extra]) == 1  # SEC001
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_table_lists_worst_first_own_layers_before_the_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out, err = _scan_with_base(tmp_path, capsys, "--verbose")
    rows = [ln for ln in out.splitlines() if ln.startswith(("ERROR ", "WARNING ", "INFO "))]
    assert rows[0].startswith("ERROR    SEC001  secure")
    caches = [r.split(None, 3)[3] for r in rows if r.split()[1] == "SZ003"]
    # own layer first (12 kB pip cache, 2 kB temporary file), then the base's (70 kB, 3 kB)
    assert caches == [
        "pip cache: 1 file(s), 12.0 kB",
        "temporary files: 1 file(s), 2.0 kB",
        "apt archives: 1 file(s), 70.0 kB",
        "logs: 1 file(s), 3.0 kB",
    ]
    assert "layer 0 (base): ADD file:abc in /" in out and "layer 1 (own): RUN pip" in out
    assert "summarised" not in out
    assert not re.search(r"\d{4,} bytes", out + err)  # sizes in human units only
    summary = err.strip().splitlines()[-1]
    assert re.search(
        r"; top: SEC001 error: .* \| SZ003 info, 12\.0 kB: pip cache: .* \| "
        r"SZ003 info, 2\.0 kB: temporary files: ",
        summary,
    ), summary


def test_info_is_summarised_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out, _ = _scan_with_base(tmp_path, capsys)
    rows = [ln for ln in out.splitlines() if ln.startswith(("ERROR ", "WARNING ", "INFO "))]
    sz003 = [r for r in rows if r.split()[1] == "SZ003"]
    assert len(sz003) == 1 and "4 findings, 87.0 kB" in sz003[0]
    assert "info finding(s) summarised by check; --verbose lists each." in out
    report = tmp_path / "r.json"
    _scan_with_base(tmp_path, capsys, "-o", str(report))  # JSON carries everything
    findings = json.loads(report.read_text())["findings"]
    assert len([f for f in findings if f["check_id"] == "SZ003"]) == 4
