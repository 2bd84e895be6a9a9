"""`imgaudit fleet` once its arguments are parsed: references, the cluster, the run.

The parser is in auditor/commands/fleet.py; this module is imported only when the
command runs, because it brings in Dask and the registry client (see README
"Performance": start-up time of every other command).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from auditor import history_store
from auditor.commands import options
from auditor.errors import InputError
from auditor.fleet import catalog, engine, summary, view
from auditor.fleet.outcome import Outcome
from auditor.fleet.runs import FleetStore
from auditor.fleet.tasks import TaskOptions
from auditor.report import output
from auditor.sources.platform import Platform


def references(args: argparse.Namespace, platform: Platform | None) -> list[str]:
    refs = list(args.references)
    if args.from_file:
        refs += catalog.read_reference_file(Path(args.from_file))
    if (args.repository_glob or args.tags_since) and not args.registry:
        raise InputError("--repository-glob and --tags-since go with --registry")
    if args.registry:
        since = catalog.parse_age(args.tags_since) if args.tags_since else None
        listed, left_out = catalog.registry_references(
            args.registry,
            args.repository_glob,
            since,
            platform,
            tuple(args.insecure_registry),
        )
        if left_out and not args.quiet:
            print(f"--tags-since: {len(left_out)} tags left out", file=sys.stderr)
        # listed in the registry, so read from the registry (never a local engine's copy)
        refs += [f"docker://{ref}" for ref in listed]
    if not refs and not args.registry:
        raise InputError("nothing to scan: give IMAGE references, --from-file or --registry")
    return list(dict.fromkeys(refs))


def execute(args: argparse.Namespace) -> int:
    engine.require_dask()  # one clear line before any work when Dask is missing
    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    settings = options.settings(args)
    loading = settings.loading
    refs = references(args, loading.source.platform)
    url = history_store.configured_url(args.db) or history_store.default_url()
    # the workers: one layer per task (the cluster is the parallelism), no progress
    # lines, and the cache where every worker finds it
    root = loading.cache_root
    loading = dataclasses.replace(
        loading,
        source=dataclasses.replace(loading.source, quiet=True),
        cache_dir=root.absolute() if root is not None else None,
        jobs=1,
    )
    settings = dataclasses.replace(settings, loading=loading)
    if args.output:
        output.check_writable(Path(args.output))  # a bad -o fails now, not after the run
    # the cluster first: an unreachable scheduler leaves no half-started run in the store
    with engine.connect(args.scheduler, args.workers) as client, FleetStore(url) as store:
        run_id = store.start_run()
        previous_id = store.previous_run(run_id)
        previous = store.results(previous_id) if previous_id is not None else []
        task_options = TaskOptions(settings, store_url=url, run_id=run_id)
        result = engine.run(client, refs, task_options, _Progress(len(refs), args.quiet))
        doc = summary.build(result.outcomes, result.stats, run_id, previous, previous_id)
        store.finish_run(run_id, doc)
    output.write_document(view.FORMATS[args.format](doc), args.output)
    return 1 if result.stats.failed else 0


class _Progress:
    """One line per finished image on stderr (a fleet run takes a while)."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total = total
        self.done = 0
        self.quiet = quiet

    def __call__(self, outcome: Outcome) -> None:
        self.done += 1
        if self.quiet:
            return
        state = f"error: {outcome.error}" if outcome.error else f"grade {outcome.grade or '-'}"
        print(f"[{self.done}/{self.total}] {outcome.reference}: {state}", file=sys.stderr)
