"""`imgaudit fleet` against a real registry and a real Dask cluster.

The cluster is a `dask scheduler` and a `dask worker --nworkers 2` started here as
separate processes on 127.0.0.1 and stopped by PID; the images are factory images
(real host libraries as shared bases, 1-3 app layers each) pushed to the test
registry. PostgreSQL runs as a private cluster (tests/support/postgres.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.fleet import catalog, engine
from auditor.fleet.runs import FleetStore
from auditor.fleet.tasks import TaskOptions
from auditor.loading import LoadOptions
from auditor.pipeline import Settings, audit
from tests.factory import File, ImageSpec, Layer, build
from tests.support.fleetimages import FleetImage, base_layers, push_built, push_fleet
from tests.support.require import unavailable
from tests.support.services import Registry, stop_pid, tail

REPO_ROOT = Path(__file__).resolve().parents[2]
FLEET_SIZE = 30
BROKEN = "fleet/team0/broken"


@dataclasses.dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen[bytes]
    workers: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Cluster]:
    """`dask scheduler` + `dask worker --nworkers 2 --nthreads 1`, separate processes."""
    try:
        import distributed
    except ImportError:
        unavailable("Dask distributed not installed (pip install 'imgaudit[fleet]')")
    if importlib.util.find_spec("dask.__main__") is None:
        unavailable("this Dask has no command line (python -m dask)")
    # The interpreter running the tests runs the cluster too: its environment is the
    # one imgaudit is installed in (a `dask` found on PATH may belong to another
    # Python, without imgaudit's package mapping: `auditor.checks` lives in checks/).
    dask_cli = [sys.executable, "-m", "dask"]
    workdir = Path(tempfile.mkdtemp(prefix="imgaudit-dask-"))
    log = workdir / "cluster.log"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}  # workers import this checkout
    # Port 0: the scheduler binds a free port itself and writes its address to the
    # scheduler file, which the workers read: no port picked here that another
    # process could take first.
    scheduler_file = workdir / "scheduler.json"
    with log.open("ab") as out:
        scheduler = subprocess.Popen(
            [*dask_cli, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )  # fmt: skip
        address = _scheduler_address(scheduler_file, scheduler, log)
        workers = subprocess.Popen(
            [
                *dask_cli,
                "worker",
                "--scheduler-file",
                str(scheduler_file),
                "--nworkers",
                "2",
                "--nthreads",
                "1",
                "--no-dashboard",
                "--local-directory",
                str(workdir),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    cluster = Cluster(address, scheduler, workers, log)
    try:
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
    except Exception as exc:
        _stop(cluster)
        pytest.fail(f"Dask cluster did not come up: {exc}\n{tail(log)}")
    try:
        yield cluster
    finally:
        _stop(cluster)
        shutil.rmtree(workdir, ignore_errors=True)


def _scheduler_address(path: Path, scheduler: subprocess.Popen[bytes], log: Path) -> str:
    """The address the scheduler wrote to its scheduler file, once it has."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if scheduler.poll() is not None:
            pytest.fail(f"dask scheduler exited {scheduler.returncode}:\n{tail(log)}")
        try:
            address = json.loads(path.read_text())["address"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
            continue
        return str(address)
    stop_pid(scheduler.pid, proc=scheduler)
    pytest.fail(f"dask scheduler wrote no address in 120 s:\n{tail(log)}")


def _stop(cluster: Cluster) -> None:
    stop_pid(cluster.workers.pid, proc=cluster.workers)
    stop_pid(cluster.scheduler.pid, proc=cluster.scheduler)


def broken_image() -> Any:
    """An image whose config names the wrong diff_id for its uncompressed top layer
    (the blob is its own tar): its layer task fails verification (the blob is fine,
    the claim about it is not)."""
    top = Layer([File("app/x", b"x")], compression="none")
    built = build(ImageSpec(layers=[*base_layers(0), top]))
    config = json.loads(built.config)
    config["rootfs"]["diff_ids"][-1] = "sha256:" + "0" * 64
    config_bytes = json.dumps(config).encode()
    manifest = json.loads(built.manifest)
    manifest["config"]["digest"] = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    manifest["config"]["size"] = len(config_bytes)
    return dataclasses.replace(built, config=config_bytes, manifest=json.dumps(manifest).encode())


@pytest.fixture(scope="module")
def fleet(registry: Registry) -> list[FleetImage]:
    images = push_fleet(registry, FLEET_SIZE, bases=3)
    push_built(registry, BROKEN, "1.0", broken_image())
    return images


def _summary(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_catalog_and_tags_follow_pagination(registry, fleet, monkeypatch):
    monkeypatch.setattr(catalog, "PAGE", 4)  # 31 repositories: 8 pages
    repos = catalog.repositories(registry.host)
    assert {img.repository for img in fleet} | {BROKEN} <= set(repos)
    assert len(repos) == len(set(repos))
    refs, left_out = catalog.registry_references(registry.host, "fleet/team1/*")
    expected = sorted(img.reference for img in fleet if img.repository.startswith("fleet/team1/"))
    assert sorted(refs) == expected and left_out == []


def test_tags_since_reads_config_created(registry):
    now = datetime(2026, 11, 28, tzinfo=timezone.utc)
    old = build(ImageSpec(layers=[Layer([File("a", b"old")])], created="2025-01-01T00:00:00Z"))
    new = build(
        ImageSpec(layers=[Layer([File("a", b"new")])], created="2026-11-20T10:00:00.123456789Z")
    )
    push_built(registry, "since/app", "old", old)
    push_built(registry, "since/app", "new", new)
    refs, left_out = catalog.registry_references(
        registry.host, "since/*", timedelta(days=30), now=now
    )
    assert refs == [f"{registry.host}/since/app:new"]
    assert left_out == [(f"{registry.host}/since/app:old", "older")]


def test_fleet_on_a_real_cluster(dask_cluster, registry, fleet, tmp_path):
    db = tmp_path / "history.db"
    out = tmp_path / "fleet.json"
    argv = ["fleet", "--registry", registry.host, "--repository-glob", "fleet/*"]
    argv += ["--scheduler", dask_cluster.address, "--db", f"sqlite:///{db}"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "-f", "json", "-o", str(out), "-q"]
    assert main(argv) == 1  # one image failed; the others are all there

    doc = _summary(out)
    stats = doc["stats"]
    assert stats["images"] == FLEET_SIZE + 1 and stats["failed"] == 1
    assert [e["reference"] for e in doc["errors"]] == [f"docker://{registry.host}/{BROKEN}:1.0"]
    assert "diff_id mismatch" in doc["errors"][0]["error"]

    # layer accounting: every distinct layer read once, from a cold cache
    specs = {img.reference: img.built for img in fleet}
    layer_uses = sum(len(b.diffs) for b in specs.values()) + 3
    distinct = {hashlib.sha256(d).hexdigest() for b in specs.values() for d in b.diffs}
    assert stats["layer_refs"] == layer_uses
    assert stats["distinct_layers"] == len(distinct) + 1  # + the broken top layer
    assert stats["layers_read"] == stats["distinct_layers"]
    assert stats["layer_reads_saved"] == layer_uses - stats["distinct_layers"]

    with FleetStore(f"sqlite:///{db}") as store:
        assert store.count() == FLEET_SIZE
        rows = store.results(doc["run_id"])
        assert len(rows) == FLEET_SIZE + 1
        broken = [r for r in rows if r["error"]]
        assert [r["reference"] for r in broken] == [f"docker://{registry.host}/{BROKEN}:1.0"]
        for img in fleet:
            record, report = store.last(f"{registry.host}/{img.repository}")
            assert record.tag == "1.0"
            assert report["image"]["digest"] == img.built.config_digest

        # the fleet's report is the report a single scan gives
        sample = fleet[7]
        _, stored = store.last(f"{registry.host}/{sample.repository}")
    loading = LoadOptions(use_cache=False)
    direct = audit(f"docker://{sample.reference}", Settings(loading=loading)).to_json()
    assert stored["findings"] == direct["findings"]
    assert stored["image"] == direct["image"]
    assert {i["reference"] for i in doc["biggest"]} <= {f"docker://{r}" for r in specs}


def test_second_run_shows_growth_and_reuses_the_cache(registry, fleet, tmp_path):
    """Default engine (a LocalCluster); the second run reads only the changed layer."""
    db = f"sqlite:///{tmp_path / 'history.db'}"
    cache = str(tmp_path / "cache")
    refs = tmp_path / "refs.txt"
    grown = dataclasses.replace(fleet[1], repository="grow/app")  # a copy we may change
    push_built(registry, grown.repository, grown.tag, grown.built)
    reference = f"{registry.host}/grow/app:{grown.tag}"
    chosen = [fleet[0].reference, reference, fleet[2].reference, fleet[3].reference]
    refs.write_text("# four images\n" + "".join(f"{ref}\n" for ref in chosen))
    base = ["fleet", "--from-file", str(refs), "--db", db, "--cache-dir", cache, "-q"]
    assert main([*base, "-f", "json", "-o", str(tmp_path / "one.json")]) == 0
    first = _summary(tmp_path / "one.json")
    assert first["previous_run_id"] is None and first["growth"] == []

    extra = Layer([File("app/big.bin", os.urandom(200_000))], "COPY big.bin /app")
    spec = dataclasses.replace(grown.built.spec, layers=[*grown.built.spec.layers, extra])
    push_built(registry, grown.repository, grown.tag, build(spec))

    assert main([*base, "-f", "json", "-o", str(tmp_path / "two.json")]) == 0
    second = _summary(tmp_path / "two.json")
    assert second["previous_run_id"] == first["run_id"]
    assert second["stats"]["layers_read"] == 1  # only the new layer; the rest was cached
    growth = second["growth"]
    assert [g["reference"] for g in growth] == [reference]
    before = next(i for i in first["images"] if i["reference"] == reference)["size"]
    assert growth[0]["previous_size"] == before
    assert growth[0]["delta"] == 200_000

    assert main([*base, "-f", "markdown", "-o", str(tmp_path / "s.md")]) == 0
    md = (tmp_path / "s.md").read_text()
    assert "### Size growth since the last fleet run" in md and "grow/app" in md


def test_a_worker_killed_mid_scan_loses_no_result(dask_cluster, registry, fleet, tmp_path):
    import distributed

    db = f"sqlite:///{tmp_path / 'history.db'}"
    with FleetStore(db) as store:
        run_id = store.start_run()
    options = TaskOptions(Settings(loading=LoadOptions(use_cache=False, jobs=1)), db, run_id)
    refs = [img.reference for img in fleet]
    killed: dict[str, Any] = {}

    with distributed.Client(dask_cluster.address) as client:
        before = client.run(os.getpid)

        def kill_a_busy_worker(_outcome: Any) -> None:
            if killed:
                return
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if not busy:
                return
            address = max(busy, key=lambda w: len(busy[w]))
            killed.update(address=address, pid=before[address], had=len(busy[address]))
            os.kill(before[address], signal.SIGKILL)

        result = engine.run(client, refs, options, kill_a_busy_worker)
        client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed worker
        after = client.run(os.getpid)

    assert killed, "no worker was busy when the first image finished"
    assert killed["pid"] not in after.values()
    assert [o.reference for o in result.outcomes] == refs
    assert [o.error for o in result.outcomes] == [None] * len(refs)
    with FleetStore(db) as store:
        rows = store.results(run_id)
        assert sorted(r["reference"] for r in rows) == sorted(refs)
        assert all(r["scan_id"] and not r["error"] for r in rows)
        assert store.count() == len(refs)  # a retried image is recorded once


def test_parallel_workers_write_to_postgresql(dask_cluster, registry, fleet, postgres, tmp_path):
    out = tmp_path / "fleet.json"
    argv = ["fleet", *[img.reference for img in fleet], "--scheduler", dask_cluster.address]
    argv += ["--db", postgres.url, "--cache-dir", str(tmp_path / "cache"), "-q"]
    assert main([*argv, "-f", "json", "-o", str(out)]) == 0
    doc = _summary(out)
    assert len({o["reference"] for o in doc["images"] if o["scan_id"]}) == FLEET_SIZE
    with FleetStore(postgres.url) as store:
        rows = store.results(doc["run_id"])
        assert len(rows) == FLEET_SIZE
        assert len({r["scan_id"] for r in rows}) == FLEET_SIZE
        for img in fleet:
            _, report = store.last(f"{registry.host}/{img.repository}")
            assert report["image"]["digest"] == img.built.config_digest
