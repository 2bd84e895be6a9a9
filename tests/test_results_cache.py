"""The per-image result cache: an unchanged image is reported without reading its layers,
and a stored result is never used where its inputs differ (options, date, code, image)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

import auditor.context
import auditor.fs
import auditor.results
from auditor import layers
from auditor.cli import main
from auditor.fs import FileSystem
from auditor.layerindex import LayerIndex
from auditor.sources.interface import Layer as SourceLayer
from tests import factory
from tests.factory import File, Layer

CREATED = "2026-11-01T00:00:00Z"


def built(app: bytes = b"print(1)\n", created: str = CREATED) -> factory.BuiltImage:
    spec = factory.ImageSpec(
        layers=[
            Layer([File("etc/os-release", b"ID=debian\nVERSION_ID=12\n")], "ADD rootfs /"),
            Layer([File("app/main.py", app)], "COPY . /app"),
        ],
        name="example.org/app:1",
        created=created,
    )
    return factory.build(spec)


class Reads:
    """Counts layer blobs read and filesystems merged during a scan."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.layers = 0
        self.merges = 0
        index_layer, merge = layers.index_layer, FileSystem

        def counting_index(layer: SourceLayer, *args: Any) -> LayerIndex:
            self.layers += 1
            return index_layer(layer, *args)

        def counting_merge(indexes: list[LayerIndex]) -> FileSystem:
            self.merges += 1
            return merge(indexes)

        monkeypatch.setattr(layers, "index_layer", counting_index)
        monkeypatch.setattr(auditor.fs, "FileSystem", counting_merge)  # loading imports it late

    def reset(self) -> None:
        self.layers = self.merges = 0


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    return Reads(monkeypatch)


def on_day(monkeypatch: pytest.MonkeyPatch, day: str) -> None:
    monkeypatch.setattr(auditor.context, "today_utc", lambda: dt.date.fromisoformat(day))


def scan(ref: str, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    code = main(["scan", ref, "--jobs", "1", "--format", "json", "--quiet", *extra])
    assert code in (0, 1)
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def result_of(report: dict[str, Any], check_id: str) -> str:
    return next(r["status"] for r in report["results"] if r["check_id"] == check_id)


def layout(tmp_path: Path, image: factory.BuiltImage, name: str = "layout") -> str:
    return f"oci:{factory.write_oci_dir(image, tmp_path / name)}"


def test_unchanged_image_is_reported_without_reading_a_layer(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    on_day(monkeypatch, "2026-11-28")
    ref = layout(tmp_path, built())
    cold = scan(ref, capsys)
    assert (reads.layers, reads.merges) == (2, 1)
    reads.reset()
    warm = scan(ref, capsys)
    assert (reads.layers, reads.merges) == (0, 0)
    assert warm == cold  # byte for byte the same report


def test_the_same_blobs_under_another_transport_share_their_results(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    on_day(monkeypatch, "2026-11-28")
    image = built()
    oci = scan(layout(tmp_path, image), capsys)
    reads.reset()
    archive = factory.write_oci_archive(image, tmp_path / "app.tar")
    again = scan(f"oci-archive:{archive}", capsys)
    assert (reads.layers, reads.merges) == (0, 0)
    assert {k: v for k, v in again.items() if k != "source"} == {
        k: v for k, v in oci.items() if k != "source"
    }


def test_the_same_image_stored_uncompressed_is_merged_again_and_reports_the_same(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Results are keyed by the blobs read (a gzip blob's diff_id is not verified), so
    an engine export of a registry image is a new entry; its layers come from the
    layer cache only if they were read uncompressed before (tests/test_cache.py)."""
    on_day(monkeypatch, "2026-11-28")
    image = built()
    oci = scan(layout(tmp_path, image), capsys)
    reads.reset()
    archive = tmp_path / "app.tar"
    factory.write_docker_archive(image, archive)
    docker = scan(f"docker-archive:{archive}", capsys)
    assert reads.merges == 1
    assert docker["findings"] == oci["findings"]
    assert docker["facts"] == oci["facts"]

    def content(report: dict[str, Any]) -> list[tuple[str, int, int]]:
        return [(ly["diff_id"], ly["size"], ly["files"]) for ly in report["image"]["layers"]]

    assert content(docker) == content(oci)
    assert [ly["digest"] for ly in docker["image"]["layers"]] != [
        ly["digest"] for ly in oci["image"]["layers"]
    ]


def test_a_config_that_misnames_its_diff_ids_reaches_no_other_image(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """An image whose config is byte for byte another's (diff_ids and all) over other
    blobs: scanned first, neither cache gives its content to the honest image."""
    on_day(monkeypatch, "2026-11-28")
    honest = built(b"print(1)\n")
    liar = factory.with_config(built(b"import os  # not the app\n" * 40), honest.config)
    assert liar.config == honest.config and liar.blobs[1] != honest.blobs[1]
    fresh = scan(layout(tmp_path, honest, "fresh"), capsys, "--no-cache")
    lied = scan(layout(tmp_path, liar, "liar"), capsys)
    assert lied["image"]["layers"][1]["size"] != fresh["image"]["layers"][1]["size"]
    reads.reset()
    again = scan(layout(tmp_path, honest, "honest"), capsys)
    assert reads.layers == 1  # its own app blob; the shared base blob from the cache
    assert {k: v for k, v in again.items() if k != "source"} == {
        k: v for k, v in fresh.items() if k != "source"
    }


def test_a_changed_image_is_read_again(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    on_day(monkeypatch, "2026-11-28")
    scan(layout(tmp_path, built(b"print(1)\n")), capsys)
    reads.reset()
    report = scan(layout(tmp_path, built(b"print(2)\n" * 100), "changed"), capsys)
    assert reads.layers == 1  # the new app layer; the base layer comes from the layer cache
    assert reads.merges == 1
    app = report["image"]["layers"][1]
    assert app["size"] > 500


def test_date_dependent_results_are_computed_again_on_another_day(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """OS005 (image age) passes on the day of the build and fails a year later, although
    the image and the cache are the same."""
    ref = layout(tmp_path, built())
    on_day(monkeypatch, "2026-11-28")
    assert result_of(scan(ref, capsys), "OS005") == "passed"
    reads.reset()
    on_day(monkeypatch, "2027-11-28")
    later = scan(ref, capsys)
    assert result_of(later, "OS005") == "failed"
    assert reads.merges == 0  # judged again from what it gathered: no layer read
    reads.reset()
    assert scan(ref, capsys) == later
    assert reads.merges == 0


def test_other_options_are_other_results(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    on_day(monkeypatch, "2026-11-28")
    ref = layout(tmp_path, built(created="2026-08-01T00:00:00Z"))
    assert result_of(scan(ref, capsys), "OS005") == "failed"  # 119 days > 90
    reads.reset()
    config = tmp_path / "imgaudit.toml"
    config.write_text("[checks.OS005]\nmax-age-days = 365\n")
    assert result_of(scan(ref, capsys, "--config", str(config)), "OS005") == "passed"
    assert reads.merges == 1


def test_a_given_packages_index_is_cached_by_its_content(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """OS006 depends on a fact from outside the image: the same index file is the same
    result (no layer read), another one is computed again."""
    on_day(monkeypatch, "2026-11-28")
    status = b"Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\n\n"
    spec = factory.ImageSpec(
        layers=[
            Layer(
                [
                    File("etc/os-release", b"ID=debian\nVERSION_ID=12\n"),
                    File("var/lib/dpkg/status", status),
                ],
                "ADD rootfs /",
            )
        ],
        name="example.org/app:1",
        created=CREATED,
    )
    ref = layout(tmp_path, factory.build(spec))
    index = tmp_path / "Packages"
    index.write_text("Package: bash\nVersion: 5.2.15-2\n")
    first = scan(ref, capsys, "--packages-index", str(index))
    assert result_of(first, "OS006") == "passed"
    reads.reset()
    assert scan(ref, capsys, "--packages-index", str(index)) == first
    assert reads.merges == 0
    index.write_text("Package: bash\nVersion: 5.2.15-3\n")
    assert result_of(scan(ref, capsys, "--packages-index", str(index)), "OS006") == "failed"
    assert reads.merges == 1


def test_a_new_imgaudit_does_not_trust_old_results(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    on_day(monkeypatch, "2026-11-28")
    ref = layout(tmp_path, built())
    scan(ref, capsys)
    reads.reset()
    monkeypatch.setattr(auditor.results, "code_fingerprint", lambda: "another version")
    scan(ref, capsys)
    assert reads.merges == 1


def test_code_fingerprint_covers_checks_and_data() -> None:
    """It must change when a check's code or a data table changes; check what it reads."""
    root = Path(auditor.results.__file__).parent.parent
    digest_input = [
        p
        for pkg in ("auditor", "checks")  # the repository layout: checks/ is auditor.checks
        for p in (root / pkg).rglob("*")
        if p.suffix in (".py", ".json") and "__pycache__" not in p.parts
    ]
    assert any(p.name == "os005_image_stale.py" for p in digest_input)
    assert any(p.name == "distros.json" for p in digest_input)
    assert len(auditor.results.code_fingerprint()) == 64


def test_code_files_walk_skips_bytecode_and_inner_packages_and_orders_by_component(
    tmp_path: Path,
) -> None:
    """What the fingerprint digests, on a tree of its own: code and data files only,
    no `__pycache__`, an inner package left to its own root, and paths ordered as
    pathlib orders them (component by component: `a/z.py` before `a.py`)."""
    for rel in ("a.py", "a/z.py", "a/b/c.json", "a/__pycache__/z.cpython-311.pyc",
                "a/notes.txt", "inner/x.py", "a-b.py"):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    root = str(tmp_path)
    found = auditor.results._code_files(root, "", {str(tmp_path / "inner")})
    ordered = sorted(found, key=lambda r: r.split("/"))
    assert ordered == ["a/b/c.json", "a/z.py", "a-b.py", "a.py"]
    assert ordered == [p.relative_to(tmp_path).as_posix() for p in sorted(
        p for p in tmp_path.rglob("*")
        if p.suffix in (".py", ".json") and "__pycache__" not in p.parts and "inner" not in p.parts
    )]  # fmt: skip


def test_damaged_result_file_is_a_miss(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch, capsys: Any, _private_cache: Path
) -> None:
    on_day(monkeypatch, "2026-11-28")
    ref = layout(tmp_path, built())
    cold = scan(ref, capsys)
    (stored,) = (_private_cache / "results").rglob("*.json.gz")
    stored.write_bytes(gzip.compress(b'{"sections": [1, 2'))
    reads.reset()
    assert scan(ref, capsys) == cold
    assert reads.merges == 1
    with gzip.open(stored, "rt") as fh:
        assert set(json.load(fh)) == {"sections", "checks"}  # rewritten whole


def test_entries_per_check_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, _private_cache: Path
) -> None:
    on_day(monkeypatch, "2026-11-28")
    ref = layout(tmp_path, built())
    config = tmp_path / "imgaudit.toml"
    for most in range(10, 20):
        config.write_text(f"[checks.BL004]\nmax-layers = {most}\n")
        scan(ref, capsys, "--config", str(config))
    (stored,) = (_private_cache / "results").rglob("*.json.gz")
    with gzip.open(stored, "rt") as fh:
        checks = json.load(fh)["checks"]
    kept = [e for e in checks.values() if e["check"] == "BL004"]
    assert len(kept) == auditor.results.ENTRIES_PER_CHECK


def test_dated_checks_judge_what_they_gathered_on_another_day(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """OS002 (Debian 10, EOL 2024-06-30) and PY003 keep their provenance when judged
    from the cache: the same findings, layers and history steps as a cold scan."""
    spec = factory.ImageSpec(
        layers=[
            Layer([File("etc/os-release", b'ID=debian\nVERSION_ID="10"\n')], "ADD rootfs /"),
            Layer(
                [
                    File("usr/local/bin/python3.8", b"\x7fELF"),
                    File("usr/local/lib/python3.8/os.py", b""),
                ],
                "RUN make install",
            ),
        ],
        name="example.org/old:1",
        created=CREATED,
    )
    ref = layout(tmp_path, factory.build(spec))
    on_day(monkeypatch, "2024-06-01")
    scan(ref, capsys)  # fills the cache on a day OS002 only warns
    reads.reset()
    on_day(monkeypatch, "2026-11-28")
    warm = scan(ref, capsys)
    assert reads.merges == 0
    on_day(monkeypatch, "2026-11-28")
    cold = scan(ref, capsys, "--no-cache")
    assert warm == cold
    os002 = [f for f in warm["findings"] if f["check_id"] == "OS002"]
    assert os002 and os002[0]["layer"] == 0 and os002[0]["created_by"] == "ADD rootfs /"
    assert os002[0]["severity"] == "error"
    py003 = [f for f in warm["findings"] if f["check_id"] == "PY003"]
    assert py003 and py003[0]["layer"] == 1 and py003[0]["created_by"] == "RUN make install"
