"""The functions a fleet run executes on Dask workers, and the small values they return.

Three steps, so that work splits by layer and not only by image:

1. `resolve(reference)`: manifest + config only (cheap), an `Image` whose layer
   locators any worker can open (registry blobs, archive files on a shared path).
2. `index_one(layer)`: one task per distinct diff_id in the whole fleet. It reads the
   layer cache first (keyed by diff_id, shared by workers on one filesystem) and reads
   the blob only on a miss. The index stays in the worker's memory as the task result.
3. `audit(reference, image, *layer_results)`: merges the indexes, derives facts, runs
   the checks, records the report in the history store and returns a small `Outcome`.
   Dask places it on the worker that already holds most of its layer bytes (see the
   `sizeof` registration below), so shared base layers are not shipped around.

Images from a transport that keeps process-local temporary files (`docker-daemon:`,
compressed archives) cannot be split across processes; `audit_whole` scans those in
one task. imgaudit's own input errors are caught and returned as an `Outcome` with
`error` set: a bad image fails alone, and Dask's retries stay for lost workers.
"""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.cache import LayerCache, default_cache_dir
from auditor.capture import DEFAULT_POLICY
from auditor.errors import InputError
from auditor.layerindex import LayerIndex
from auditor.layers import DEFAULT_MAX_RATIO, index_layer
from auditor.loading import LayersNeeded, LoadedImage, LoadOptions, open_loaded
from auditor.references import split_reference
from auditor.sources import SourceOptions, open_image
from auditor.sources.interface import FileSlice, Image, Layer
from auditor.sources.registry import RegistryBlob

WORST = 5  # findings kept per image in the outcome (the full report is in the store)
_SEVERITY = {"error": 3, "warning": 2, "info": 1}


@dataclass(frozen=True)
class TaskOptions:
    """What every task needs to know, sent once with each task (small, pickleable)."""

    source: SourceOptions = field(default_factory=SourceOptions)
    cache_dir: str | None = None
    use_cache: bool = True
    max_ratio: int | None = None
    store_url: str | None = None
    run_id: int | None = None

    def scan_options(self) -> LoadOptions:
        extra: dict[str, Any] = {"max_ratio": self.max_ratio} if self.max_ratio else {}
        return LoadOptions(
            source=self.source,
            cache_dir=Path(self.cache_dir) if self.cache_dir else None,
            use_cache=self.use_cache,
            jobs=1,  # the cluster is the parallelism; no process pool inside a task
            **extra,
        )


@dataclass
class Resolved:
    reference: str
    image: Image | None = None
    error: str | None = None
    outcome: Outcome | None = None  # the whole report came from the result cache


@dataclass
class LayerResult:
    """One layer's index, and whether producing it read the blob (False: cache hit)."""

    diff_id: str
    index: LayerIndex | None
    read: bool
    error: str | None = None
    generation: int = 0

    @property
    def key(self) -> str:
        return f"{self.diff_id}#{self.generation}"


@dataclass
class Outcome:
    """What the client keeps of one image: enough for the fleet summary."""

    reference: str
    repository: str = ""
    tag: str = ""
    digest: str = ""
    size: int = 0
    compressed_size: int | None = None
    grade: str | None = None
    score: float | None = None
    findings: int = 0
    severities: dict[str, int] = field(default_factory=dict)
    worst: list[dict[str, Any]] = field(default_factory=list)
    # every failing check once: its worst finding (check_id, name, severity, message)
    checks: list[dict[str, Any]] = field(default_factory=list)
    layers: int = 0
    # layer tasks ("diff_id#generation") this image used that read the blob / hit the cache
    layers_read: list[str] = field(default_factory=list)
    layers_cached: list[str] = field(default_factory=list)
    scan_id: int | None = None
    error: str | None = None
    host: str = ""
    pid: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _where() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


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
    try:
        image = open_image(reference, options.source)
    except InputError as exc:
        return Resolved(reference, error=str(exc))
    loaded = LoadedImage(image, options.scan_options(), layers_allowed=False)
    if _has_results(loaded):  # else the attempt would only repeat the audit's first steps
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
    cache = None
    if options.use_cache:
        root = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
        cache = LayerCache(root, DEFAULT_POLICY)
        found = cache.get(layer.diff_id)
        if found is not None:
            return LayerResult(layer.diff_id, found, read=False, generation=generation)
    try:
        index = index_layer(layer, DEFAULT_POLICY, options.max_ratio or DEFAULT_MAX_RATIO)
    except InputError as exc:
        return LayerResult(layer.diff_id, None, read=True, error=str(exc), generation=generation)
    if cache is not None:
        cache.put(index)
    return LayerResult(layer.diff_id, index, read=True, generation=generation)


# ---- step 3 --------------------------------------------------------------------------


def audit(reference: str, image: Image, options: TaskOptions, *layers: LayerResult) -> Outcome:
    by_id = {r.diff_id: r for r in layers}
    for layer in image.layers:
        result = by_id[layer.diff_id]
        if result.error:
            outcome = failed(reference, options, result.error)
            outcome.layers_read = [r.key for r in layers if r.read]
            return outcome
    indexes = [by_id[ly.diff_id].index for ly in image.layers]
    loaded = LoadedImage(image, options.scan_options(), indexes)  # type: ignore[arg-type]
    outcome = _report(reference, loaded, options)
    outcome.layers_read = [r.key for r in layers if r.read]
    outcome.layers_cached = [r.key for r in layers if not r.read]
    return outcome


def audit_whole(reference: str, options: TaskOptions) -> Outcome:
    """resolve + index + audit in one task, for images bound to one process."""
    try:
        loaded = open_loaded(reference, options.scan_options())  # layers read if needed
    except InputError as exc:
        return failed(reference, options, str(exc))
    return _report(reference, loaded, options)


def _has_results(loaded: LoadedImage) -> bool:
    from auditor.commands.scan import results_path  # imports every check: only on workers

    path = results_path(loaded)
    return path is not None and path.is_file()


def _report(reference: str, loaded: LoadedImage, options: TaskOptions) -> Outcome:
    from auditor.commands.scan import report_for  # imports every check: only on workers

    try:
        report = report_for(loaded)
    except InputError as exc:
        return failed(reference, options, str(exc))
    outcome = outcome_of(reference, loaded.image.reference, report)
    if options.store_url and options.run_id is not None:
        from auditor.fleet.runs import FleetStore

        with FleetStore(options.store_url) as store:
            outcome.scan_id = store.record_result(options.run_id, outcome, report)
    return outcome


def failed(reference: str, options: TaskOptions, error: str) -> Outcome:
    outcome = Outcome(reference, error=error, **_where())
    outcome.repository, outcome.tag = repository_of(reference)
    if options.store_url and options.run_id is not None:
        from auditor.fleet.runs import FleetStore

        with FleetStore(options.store_url) as store:
            store.record_result(options.run_id, outcome, None)
    return outcome


def repository_of(reference: str) -> tuple[str, str]:
    """(repository, tag) as the history store keys scans (same as `scan --record`)."""
    return split_reference(reference)


def worst_keys(finding: dict[str, Any]) -> dict[str, Any]:
    return {k: finding.get(k) for k in ("check_id", "name", "severity", "message", "path")}


def outcome_of(reference: str, resolved_as: str | None, report: dict[str, Any]) -> Outcome:
    image = report.get("image") or {}
    scores = report.get("scores") or {}
    findings = list(report.get("findings") or [])
    severities: dict[str, int] = {}
    for f in findings:
        sev = str(f.get("severity", "info"))
        severities[sev] = severities.get(sev, 0) + 1
    findings.sort(key=lambda f: (-_SEVERITY.get(str(f.get("severity")), 0), f.get("check_id", "")))
    worst = [worst_keys(f) for f in findings[:WORST]]
    checks: dict[str, dict[str, Any]] = {}
    for f in findings:  # sorted worst first: the first finding of a check is its worst
        checks.setdefault(str(f.get("check_id")), worst_keys(f))
    repository, tag = repository_of(resolved_as or reference)
    return Outcome(
        reference=reference,
        repository=repository,
        tag=tag,
        digest=str(image.get("digest") or ""),
        size=int(image.get("size") or 0),
        compressed_size=image.get("compressed_size"),
        grade=scores.get("grade"),
        score=scores.get("overall"),
        findings=len(findings),
        severities=severities,
        worst=worst,
        checks=list(checks.values()),
        layers=len(image.get("layers") or []),
        **_where(),
    )


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
