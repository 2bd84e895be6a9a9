"""`imgaudit fleet` without services: references from files, the summary and its
renderings, the fleet store, and a whole run on the default local Dask cluster over
docker-archive files (one of them broken)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import pytest

from auditor.cli import main
from auditor.errors import InputError
from auditor.findings import Dimension, Finding, Severity
from auditor.fleet import catalog, summary, view
from auditor.fleet.engine import Stats
from auditor.fleet.outcome import Outcome, outcome_of
from auditor.fleet.runs import FleetStore
from auditor.report.model import Report
from auditor.scoring import Scores
from tests.factory import File, ImageSpec, Layer, build, host_file, write_docker_archive


def test_parse_age():
    assert catalog.parse_age("30d") == timedelta(days=30)
    assert catalog.parse_age("12h") == timedelta(hours=12)
    assert catalog.parse_age("2w") == timedelta(weeks=2)
    for bad in ("30", "d", "-1d", "1y", "1.5d"):
        with pytest.raises(InputError, match="bad age"):
            catalog.parse_age(bad)


def test_reference_file_skips_comments_and_blanks(tmp_path):
    path = tmp_path / "refs.txt"
    path.write_text("# the fleet\nreg:5000/a:1\n\n  reg:5000/b:2  # pinned\n")
    assert catalog.read_reference_file(path) == ["reg:5000/a:1", "reg:5000/b:2"]
    with pytest.raises(InputError, match="cannot read"):
        catalog.read_reference_file(tmp_path / "missing.txt")


def test_missing_dask_is_one_clear_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import raises ImportError
    assert main(["fleet", "example.org/a:1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "imgaudit: error: imgaudit fleet needs Dask distributed: "
        "pip install 'imgaudit[fleet]' (or pip install distributed)"
    )


def _finding(check: str, severity: str, message: str) -> Finding:
    return Finding(check, check.lower(), Severity.parse(severity), message, remedy="")


def _report(size: int, grade: str | None, findings: list[Finding]) -> Report:
    scores = Scores(80.0, grade, dict.fromkeys(Dimension, 80)) if grade else None
    return Report(
        source={"transport": "docker", "reference": "docker://reg/app:1"},
        image={"digest": "sha256:" + "a" * 64, "size": size, "layers": [{}]},
        waste={"wasted_bytes": 0},
        findings=tuple(findings),
        scores=scores,
    )


def test_summary_groups_findings_and_compares_with_the_previous_run():
    outcomes = [
        outcome_of(
            "r/a:1",
            None,
            _report(
                1000,
                "B",
                [_finding("SZ001", "info", "x"), _finding("SEC001", "error", "<b>root</b> | x")],
            ),
        ),
        outcome_of("r/b:1", None, _report(5000, None, [_finding("SEC001", "error", "root")])),
        outcome_of("r/c:1", None, _report(3000, "B", [])),
        Outcome("r/d:1", error="r/d:1: not found in the registry (manifests)"),
    ]
    previous = [
        {"reference": "r/a:1", "size": 900, "error": None},
        {"reference": "r/c:1", "size": 3000, "error": None},
        {"reference": "r/d:1", "size": 0, "error": "gone"},
    ]
    doc = summary.build(outcomes, Stats(images=4, failed=1), 7, previous, 6)
    assert doc["grades"] == {"B": 2, "-": 1}
    worst = doc["worst_findings"]
    assert [(w["check_id"], w["count"]) for w in worst] == [("SEC001", 2), ("SZ001", 1)]
    assert [b["reference"] for b in doc["biggest"]] == ["r/b:1", "r/c:1", "r/a:1"]
    assert doc["growth"] == [
        {"reference": "r/a:1", "size": 1000, "previous_size": 900, "delta": 100, "percent": 11.11}
    ]
    assert doc["errors"] == [
        {"reference": "r/d:1", "error": "r/d:1: not found in the registry (manifests)"}
    ]

    md = view.render_markdown(doc)
    assert "\\<b\\>" not in md and "<b>" not in md and "&lt;b&gt;root&lt;/b&gt; \\| x" in md
    html = view.render_html(doc)
    assert "<b>root" not in html and "&lt;b&gt;root&lt;/b&gt;" in html
    table = view.render_table(doc)
    assert "SEC001" in table and "+100 B (+11.1%)" in table
    assert json.loads(view.render_json(doc)) == doc


def test_a_retried_result_is_recorded_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    report = _report(1000, None, [])
    outcome = outcome_of("reg/app:1", None, report)
    with FleetStore(url) as store:
        run = store.start_run()
        first = store.record_result(run, outcome, report.to_json())
        again = store.record_result(run, outcome, report.to_json())  # a worker died here
        assert first == again and store.count() == 1
        assert store.results(run) == [
            {
                "reference": "reg/app:1",
                "repository": "reg/app",
                "tag": "1",
                "digest": "sha256:" + "a" * 64,
                "size": 1000,
                "scan_id": first,
                "error": None,
            }
        ]
        assert store.previous_run(run + 1) is None  # not finished yet
        store.finish_run(run, {"ok": True})
        assert store.previous_run(run + 1) == run
        assert store.run_summary(run) == {"ok": True}


def test_an_attempt_killed_midway_leaves_nothing(tmp_path, monkeypatch):
    """The fleet row and the scan are one transaction: a worker dying between the two
    must not leave a scan that its retry then records a second time."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    report = _report(1000, None, [])
    outcome = outcome_of("reg/app:1", None, report)
    with FleetStore(url) as store:
        run = store.start_run()
        original = FleetStore._insert_scan

        def dies_after_the_scan_row(self, cur, *args):
            original(self, cur, *args)
            raise KeyboardInterrupt  # the worker is killed here

        monkeypatch.setattr(FleetStore, "_insert_scan", dies_after_the_scan_row)
        with pytest.raises(KeyboardInterrupt):
            store.record_result(run, outcome, report.to_json())
        assert store.count() == 0 and store.results(run) == []
        monkeypatch.setattr(FleetStore, "_insert_scan", original)
        retried = store.record_result(run, outcome, report.to_json())
        assert store.count() == 1
        assert [r["scan_id"] for r in store.results(run)] == [retried]


def test_local_cluster_run_over_archives(tmp_path):
    pytest.importorskip("distributed")
    base = Layer(
        [host_file("/bin/ls", "usr/bin/ls"), File("etc/os-release", b"ID=debian\n")], "base"
    )
    paths, digests = [], []
    for i in range(3):
        spec = ImageSpec(
            layers=[base, Layer([File(f"app/{i}.txt", b"x" * 100 * (i + 1))], f"app {i}")],
            config={"User": "1000"},
        )
        path = tmp_path / f"app{i}.tar"
        built = build(spec)
        write_docker_archive(built, path)
        paths.append(str(path))
        digests.append(built.config_digest)
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not an image")
    db = tmp_path / "h.db"
    out = tmp_path / "fleet.json"
    argv = ["fleet", *paths, str(bad), "--db", f"sqlite:///{db}", "-q"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "-f", "json", "-o", str(out)]
    assert main(argv) == 1
    doc = json.loads(out.read_text())
    assert doc["stats"]["images"] == 4 and doc["stats"]["workers"] == 2
    assert [e["reference"] for e in doc["errors"]] == [str(bad)]
    assert "not a readable tar archive" in doc["errors"][0]["error"]
    # archives are plain files: split by layer, the shared base read once
    assert doc["stats"]["layer_refs"] == 6 and doc["stats"]["distinct_layers"] == 4
    assert doc["stats"]["layers_read"] == 4 and doc["stats"]["layer_reads_saved"] == 2
    with FleetStore(f"sqlite:///{db}") as store:
        assert store.count() == 3
        rows = {r["reference"]: r for r in store.results(doc["run_id"])}
        assert rows[str(bad)]["error"] and rows[str(bad)]["scan_id"] is None
        for path, digest in zip(paths, digests):
            report = store.report(rows[path]["scan_id"])
            assert report is not None and report["image"]["digest"] == digest
            # keyed like `scan --record` keys it: by the archive's own tag
            assert (rows[path]["repository"], rows[path]["tag"]) == (
                "example.org/test/image",
                "1.0",
            )
            assert rows[path]["digest"] == digest

    # a second run over the same images: every report from the result cache, no layer
    # task at all, and the same reports recorded again
    out2 = tmp_path / "fleet2.json"
    argv2 = ["fleet", *paths, "--db", f"sqlite:///{db}", "-q"]
    argv2 += ["--cache-dir", str(tmp_path / "cache"), "-f", "json", "-o", str(out2)]
    assert main(argv2) == 0
    again = json.loads(out2.read_text())
    assert again["stats"]["results_cached"] == 3
    assert again["stats"]["layers_read"] == 0 and again["stats"]["distinct_layers"] == 0
    with FleetStore(f"sqlite:///{db}") as store:
        rows2 = {r["reference"]: r for r in store.results(again["run_id"])}
        for path in paths:
            first = store.report(rows[path]["scan_id"])
            second = store.report(rows2[path]["scan_id"])
            assert second == first


def test_worst_findings_count_every_failing_check_not_only_the_top_five():
    many = [_finding(f"SEC00{k}", "error", f"e{k}") for k in range(1, 7)]
    a = outcome_of("r/a:1", None, _report(1, "C", [*many, _finding("SZ009", "info", "i")]))
    b = outcome_of("r/b:1", None, _report(1, "C", [_finding("SZ009", "info", "i")]))
    assert len(a.worst) == 5  # per image: the five worst findings
    doc = summary.build([a, b], Stats(images=2))
    counts = {w["check_id"]: w["count"] for w in doc["worst_findings"]}
    assert counts["SZ009"] == 2 and counts["SEC006"] == 1
    assert doc["worst_findings"][-1]["check_id"] == "SZ009"  # info after the errors


def test_dask_weighs_a_layer_index_by_its_content():
    """Placement by data locality needs real weights: Dask's default for an unknown
    object is its shallow size, the same for a base layer and a one-file layer."""
    pytest.importorskip("dask")
    from dask.sizeof import sizeof

    from auditor.fleet.outcome import LayerResult
    from auditor.layerindex import Entry, LayerIndex

    def index(n: int) -> LayerResult:
        entries = [Entry(f"usr/lib/f{i}", "f", 0o644, 0, 0, 10, 0, "") for i in range(n)]
        return LayerResult("sha256:" + "1" * 64, LayerIndex("sha256:" + "1" * 64, entries), True)

    small, big = sizeof(index(1)), sizeof(index(5000))
    assert big > 100 * small and big >= 5000 * 100
