"""The functions a fleet run executes on Dask workers.

Three steps, so that work splits by layer and not only by image:

1. `resolve(reference)`: manifest + config only (cheap), an `Image` whose layer
   locators any worker can open (registry blobs, archive files on a shared path).
2. `index_one(layer)`: one task per distinct layer blob in the whole fleet. It reads the
   layer cache first (auditor/cache.py, shared by workers on one filesystem) and reads
   the blob only on a miss. The index stays in the worker's memory as the task result.
3. `audit_image(reference, image, *layer_results)`: merges the indexes and calls the
   pipeline (auditor/pipeline.py `audit`, with the run's settings: the same findings
   `imgaudit scan` gives under the same config), records the report in the history
   store and returns a small `Outcome` (auditor/fleet/outcome.py). Dask places it on
   the worker that already holds most of its layer bytes (see the `sizeof`
   registration below), so shared base layers are not shipped around.

Images from a transport that keeps process-local temporary files (`docker-daemon:`,
compressed archives) cannot be split across processes; `audit_whole` scans those in
one task. imgaudit's own input errors are caught and returned as an `Outcome` with
`error` set: a bad image fails alone, and Dask's retries stay for lost workers.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from auditor.cache import LayerCache
from auditor.capture import DEFAULT_POLICY
from auditor.errors import InputError
from auditor.fleet.outcome import LayerResult, Outcome, Resolved, outcome_of, where
from auditor.layers import index_layer
from auditor.loading import LayersNeeded, LoadedImage, open_loaded
from auditor.pipeline import Settings, audit, results_path
from auditor.references import split_reference
from auditor.sources import open_image
from auditor.sources.interface import FileSlice, Image, Layer
from auditor.sources.registry import RegistryBlob


@dataclass(frozen=True)
class TaskOptions:
    """What every task needs to know, sent once with each task (small, pickleable).
    `settings.loading` has an absolute cache directory (workers share it) and jobs=1:
    the cluster is the parallelism, no process pool inside a task."""

    settings: Settings
    store_url: str | None = None
    run_id: int | None = None


# ---- step 1 --------------------------------------------------------------------------


def portable(image: Image) -> bool:
    """True when every layer can be opened by another process, later: registry blobs,
    or slices of a file that is not one of imgaudit's own temporary files."""
    tmp = os.path.realpath(tempfile.gettempdir()) + os.sep
    for layer in image.layers:
        loc = layer.locator
        if isinstance(loc, RegistryBlob):
            continue
        if isinstance(loc, FileSlice):
            path = os.path.realpath(loc.path)
            if path.startswith(tmp) and os.path.basename(os.path.dirname(path)).startswith(
                "imgaudit-"
            ):
                return False
            continue
        return False
    return True


def resolve(reference: str, options: TaskOptions) -> Resolved:
    """Open the image; when the result cache holds its whole report (an image seen
    before, unchanged), finish it here: no layer task is needed."""
    loading = options.settings.loading
    try:
        image = open_image(reference, loading.source)
    except InputError as exc:
        return Resolved(reference, error=str(exc))
    loaded = LoadedImage(image, loading, layers_allowed=False)
    path = results_path(loaded)
    if path is not None and path.is_file():  # else trying would only repeat audit's steps
        try:
            return Resolved(reference, image=image, outcome=_report(reference, loaded, options))
        except LayersNeeded:
            pass
    if not portable(image):
        return Resolved(reference)  # image None, no error: scan it whole
    return Resolved(reference, image=image)


# ---- step 2 --------------------------------------------------------------------------


def index_one(layer: Layer, options: TaskOptions, generation: int = 0) -> LayerResult:
    """`generation`: how many times this run indexed the layer before (its index was
    released in between); it tells two reads of one layer apart in the statistics."""
    loading = options.settings.loading
    root = loading.cache_root
    cache = LayerCache(root, DEFAULT_POLICY) if root is not None else None
    if cache is not None:
        found = cache.get(layer)
        if found is not None:
            return LayerResult(layer.digest, found, read=False, generation=generation)
    try:
        index = index_layer(layer, DEFAULT_POLICY, loading.max_ratio, loading.max_entries)
    except InputError as exc:
        return LayerResult(layer.digest, None, read=True, error=str(exc), generation=generation)
    if cache is not None:
        cache.put(index)
    return LayerResult(layer.digest, index, read=True, generation=generation)


# ---- step 3 --------------------------------------------------------------------------


def audit_image(
    reference: str, image: Image, options: TaskOptions, *layers: LayerResult
) -> Outcome:
    by_digest = {r.digest: r for r in layers}
    for layer in image.layers:
        result = by_digest[layer.digest]
        if result.error:
            outcome = failed(reference, options, result.error)
            outcome.layers_read = [r.key for r in layers if r.read]
            return outcome
    indexes = [by_digest[ly.digest].index for ly in image.layers]
    loaded = LoadedImage(image, options.settings.loading, indexes)  # type: ignore[arg-type]
    outcome = _report(reference, loaded, options)
    outcome.layers_read = [r.key for r in layers if r.read]
    outcome.layers_cached = [r.key for r in layers if not r.read]
    return outcome


def audit_whole(reference: str, options: TaskOptions) -> Outcome:
    """resolve + index + audit in one task, for images bound to one process."""
    try:
        loaded = open_loaded(reference, options.settings.loading)  # layers read if needed
    except InputError as exc:
        return failed(reference, options, str(exc))
    return _report(reference, loaded, options)


def _report(reference: str, loaded: LoadedImage, options: TaskOptions) -> Outcome:
    try:
        report = audit(loaded, options.settings)
    except InputError as exc:
        return failed(reference, options, str(exc))
    outcome = outcome_of(reference, loaded.image.reference, report)
    if options.store_url and options.run_id is not None:
        from auditor.fleet.runs import FleetStore

        with FleetStore(options.store_url) as store:
            outcome.scan_id = store.record_result(options.run_id, outcome, report.to_json())
    return outcome


def failed(reference: str, options: TaskOptions, error: str) -> Outcome:
    outcome = Outcome(reference, error=error, **where())
    outcome.repository, outcome.tag = split_reference(reference)
    if options.store_url and options.run_id is not None:
        from auditor.fleet.runs import FleetStore

        with FleetStore(options.store_url) as store:
            store.record_result(options.run_id, outcome, None)
    return outcome


def _register_sizeof() -> None:
    """Tell Dask what a layer index weighs, so an image task goes where its biggest
    layers already are (Dask's default for unknown objects is a few dozen bytes, which
    would make every placement look free). An estimate of the real memory footprint,
    not the layer's tar size, so the workers' memory accounting stays honest."""
    try:
        from dask.sizeof import sizeof
    except ImportError:
        return

    @sizeof.register(LayerResult)
    def _layer_result(result: LayerResult) -> int:
        index = result.index
        if index is None:
            return 200
        return (
            200
            + 120 * len(index.entries)
            + sum(len(v) for v in index.contents.values())
            + 600 * len(index.elf)
        )


_register_sizeof()
