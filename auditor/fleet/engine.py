"""Run a fleet on Dask: resolve every image, index every distinct layer once, audit
every image where its layers are.

Why Dask (distributed) and not a scheduler of our own or Ray: the work is a small
task graph of pure Python functions over pickleable values, and Dask's scheduler
already does what the fleet needs: tasks keyed by name (a layer's key is its blob digest,
so two images sharing a base submit the same task once), data locality (a task goes
to the worker holding most of its inputs' bytes), retries when a worker dies, and
the same client code for an in-process `LocalCluster` and a remote
`tcp://scheduler:8786`. Ray would add an object store and a daemon for no gain here.

Pipelined: as soon as one image is resolved its layer and audit tasks are submitted,
so indexing starts while other manifests are still being fetched.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from auditor.errors import InputError
from auditor.fleet import tasks
from auditor.fleet.outcome import Outcome, Resolved
from auditor.fleet.tasks import TaskOptions

RETRIES = 3  # per task, for workers lost mid-task (imgaudit errors are not retried)
MISSING = (
    "imgaudit fleet needs Dask distributed: pip install 'imgaudit[fleet]' "
    "(or pip install distributed)"
)


def require_dask() -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError(MISSING) from None
    return distributed


@dataclass
class Stats:
    images: int = 0
    failed: int = 0
    layer_refs: int = 0  # layers over all images (what a scan per image would touch)
    distinct_layers: int = 0
    layers_read: int = 0  # blobs actually read and indexed
    cache_hits: int = 0  # distinct layers found in the cache
    whole_images: int = 0  # images scanned in one task (non-portable transports)
    results_cached: int = 0  # images reported from the result cache: no layer task
    seconds: float = 0.0
    workers: int = 0
    transfers: int | None = None  # results (mostly layer indexes) moved between workers
    transferred_bytes: int | None = None

    @property
    def layer_reads_saved(self) -> int:
        return self.layer_refs - self.layers_read

    @property
    def images_per_minute(self) -> float:
        return 60.0 * self.images / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["seconds"] = round(self.seconds, 2)
        out["layer_reads_saved"] = self.layer_reads_saved
        out["images_per_minute"] = round(self.images_per_minute, 1)
        return out


@dataclass
class FleetResult:
    outcomes: list[Outcome] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)


@contextlib.contextmanager
def connect(scheduler: str | None, workers: int = 2, threads: int = 1) -> Iterator[Any]:
    """A Dask client: to `scheduler` when given, else to a private LocalCluster of
    worker processes (processes, not threads: indexing and checks are CPU-bound
    Python, and the GIL would serialise threads)."""
    distributed = require_dask()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    import warnings

    import dask

    # a quiet laptop run: no dashboard; the scheduler's HTTP endpoint still wants port
    # 8787 and warns when another cluster has it, which is no concern of the user's
    with (
        dask.config.set({"logging.distributed": "error"}),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
            silence_logs=50,
        )
    with cluster, distributed.Client(cluster) as client:
        yield client


def run(
    client: Any,
    references: list[str],
    options: TaskOptions,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> FleetResult:
    """Scan `references` on the cluster behind `client`; every reference gets an
    Outcome (a report or an error), in the order given."""
    distributed = require_dask()
    started = time.monotonic()
    result = FleetResult()
    stats = result.stats
    stats.workers = len(client.scheduler_info().get("workers", {}))
    transfers_before = _transfer_totals(client)
    # key prefix per run: two fleet runs on one shared cluster must not share results
    run_key = f"imgaudit-{options.run_id or 0}-{int(time.time() * 1000)}"

    references = list(dict.fromkeys(references))
    resolving = {
        client.submit(
            tasks.resolve, ref, options, key=f"{run_key}-resolve-{i}", retries=RETRIES, pure=False
        ): ref
        for i, ref in enumerate(references)
    }
    # A layer's index lives in worker memory only while an image that needs it is
    # still being audited: `users` counts those images; at zero the future is released.
    # An image resolved later that shares the layer submits it again and gets a cache
    # hit, so memory stays bounded by the layers in flight, not the whole fleet's.
    layer_futures: dict[str, Any] = {}
    users: dict[str, int] = {}
    generation: dict[str, int] = {}
    audits: dict[Any, tuple[str, list[str]]] = {}
    by_ref: dict[str, Outcome] = {}
    seen: set[str] = set()
    read: set[str] = set()
    cached: set[str] = set()

    def done(ref: str, outcome: Outcome) -> None:
        by_ref[ref] = outcome
        read.update(outcome.layers_read)
        cached.update(outcome.layers_cached)
        if on_outcome is not None:
            on_outcome(outcome)

    def layer_future(layer: Any) -> Any:
        if layer.digest not in layer_futures:
            n = generation[layer.digest] = generation.get(layer.digest, -1) + 1
            layer_futures[layer.digest] = client.submit(
                tasks.index_one,
                layer,
                options,
                n,
                key=f"{run_key}-layer-{layer.digest.replace(':', '-')}-{n}",
                retries=RETRIES,
                pure=False,
                priority=10,  # layers before audits: they unblock many images
            )
            seen.add(layer.digest)
        return layer_futures[layer.digest]

    pending = distributed.as_completed(list(resolving))
    for fut in pending:
        if fut in audits:
            ref, digests = audits.pop(fut)
            outcome = _result(fut, ref)
            fut.release()
            assert isinstance(outcome, Outcome)
            if outcome.error and outcome.error.startswith("scan failed:"):
                outcome = tasks.failed(ref, options, outcome.error)  # recorded by no worker
            done(ref, outcome)
            for digest in digests:
                users[digest] -= 1
                if users[digest] == 0:
                    layer_futures.pop(digest).release()
            continue
        ref = resolving.pop(fut)
        resolved = _result(fut, ref)
        fut.release()
        if isinstance(resolved, Outcome):  # the resolve task itself kept crashing
            done(ref, tasks.failed(ref, options, resolved.error or "unknown error"))
            continue
        if resolved.error:
            done(ref, tasks.failed(ref, options, resolved.error))
            continue
        if resolved.outcome is not None:
            stats.results_cached += 1
            stats.layer_refs += len(resolved.image.layers) if resolved.image else 0
            done(ref, resolved.outcome)
            continue
        if resolved.image is None:
            stats.whole_images += 1
            whole = client.submit(tasks.audit_whole, ref, options, retries=RETRIES, pure=False)
            audits[whole] = (ref, [])
            pending.add(whole)
            continue
        image = resolved.image
        stats.layer_refs += len(image.layers)
        digests = list(dict.fromkeys(layer.digest for layer in image.layers))
        first = {layer.digest: layer for layer in reversed(image.layers)}
        deps = [layer_future(first[d]) for d in digests]
        for digest in digests:
            users[digest] = users.get(digest, 0) + 1
        audit = client.submit(
            tasks.audit_image, ref, image, options, *deps, retries=RETRIES, pure=False
        )
        audits[audit] = (ref, digests)
        pending.add(audit)
    for fut in layer_futures.values():  # none left; defensive
        fut.release()

    transfers_after = _transfer_totals(client)
    if transfers_before is not None and transfers_after is not None:
        stats.transfers = max(0, transfers_after[0] - transfers_before[0])
        stats.transferred_bytes = max(0, transfers_after[1] - transfers_before[1])
    stats.distinct_layers = len(seen)
    stats.layers_read = len(read)
    stats.cache_hits = len(cached - read)
    result.outcomes = [by_ref[ref] for ref in dict.fromkeys(references)]
    stats.images = len(result.outcomes)
    stats.failed = sum(1 for o in result.outcomes if o.error)
    stats.seconds = time.monotonic() - started
    return result


def _result(fut: Any, ref: str) -> Resolved | Outcome:
    """The task's value; a task that failed every retry (a crash, not an imgaudit
    error) becomes that image's error instead of ending the run."""
    try:
        value = fut.result()
    except Exception as exc:  # any task crash is this image's error only
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return Outcome(ref, error=f"scan failed: {type(exc).__name__}: {detail}"[:500])
    return value


def _worker_transfers(dask_worker: Any) -> tuple[int, int]:
    return (
        int(dask_worker.transfer_outgoing_count_total),
        int(dask_worker.transfer_outgoing_bytes_total),
    )


def _transfer_totals(client: Any) -> tuple[int, int] | None:
    """(count, bytes) of data sent between workers so far, over all workers: how much
    locality-aware placement left to move. None when the workers do not say (a
    restarted worker starts from zero again, so this is a lower bound after a crash)."""
    try:
        per_worker = client.run(_worker_transfers)
    except Exception:  # statistics only: never fail a fleet run over them
        return None
    return (
        sum(c for c, _ in per_worker.values()),
        sum(b for _, b in per_worker.values()),
    )
