"""`imgaudit fleet`: audit many images on a Dask cluster and summarise the fleet.

Images come from the command line, from `--from-file` (one reference a line), or from
a registry's catalog (`--registry HOST`, optionally `--repository-glob` and
`--tags-since`). Every report is recorded in the history store (`--db`, `IMGAUDIT_DB`,
else the default SQLite file), so `imgaudit history` sees fleet scans. The summary
(grades, worst findings, biggest images, size growth since the last fleet run,
failures) goes to stdout or `-o FILE` as table, json, markdown or html.

Without `--scheduler` a private local cluster of worker processes runs the scan;
with `--scheduler tcp://HOST:PORT` the same tasks go to that Dask cluster (its
workers need imgaudit installed, the registry reachable, and, to share the layer
cache, `--cache-dir` on a filesystem they share).

Exit status: 0 when every image was scanned, 1 when some image failed (each failure
is in the summary and the store), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from auditor import history_store
from auditor.cache import default_cache_dir
from auditor.commands.diff import write_output
from auditor.errors import InputError
from auditor.fleet import catalog, engine, summary, view
from auditor.fleet.runs import FleetStore
from auditor.fleet.tasks import Outcome, TaskOptions
from auditor.report import output
from auditor.sources import SourceOptions
from auditor.sources.platform import Platform


def configure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fleet", help="audit many images on a Dask cluster", description=__doc__)
    p.add_argument("references", nargs="*", metavar="IMAGE", help="image references to scan")
    p.add_argument("--from-file", metavar="FILE", help="read references from FILE, one a line")
    p.add_argument("--registry", metavar="HOST", help="scan every tag of every repository")
    p.add_argument("--repository-glob", metavar="GLOB", help="with --registry: e.g. 'myorg/*'")
    p.add_argument(
        "--tags-since", metavar="AGE", help="with --registry: images created within AGE (30d)"
    )
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="a running Dask scheduler")
    p.add_argument("--workers", type=int, default=2, help="local cluster worker processes (2)")
    p.add_argument("--db", metavar="URL", help="history store (default $IMGAUDIT_DB or SQLite)")
    p.add_argument("--cache-dir", metavar="DIR", help="layer cache shared by the workers")
    p.add_argument("--no-cache", action="store_true", help="read every layer, ignore the cache")
    p.add_argument("--platform", help="os/arch[/variant] to pick from a multi-arch index")
    p.add_argument("--pull", choices=("always", "missing", "never"), default="missing")
    p.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="allow plain HTTP to this registry (repeatable; loopback is always allowed)",
    )
    p.add_argument("--max-ratio", type=int, default=None, help="decompression ratio limit")
    p.add_argument("--format", "-f", choices=sorted(view.FORMATS), default="table")
    p.add_argument("--output", "-o", metavar="FILE", help="write the summary to FILE")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(execute=execute)


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
    platform = Platform.parse(args.platform) if args.platform else None
    refs = references(args, platform)
    url = history_store.configured_url(args.db) or history_store.default_url()
    cache_dir = args.cache_dir or os.environ.get("IMGAUDIT_CACHE_DIR") or str(default_cache_dir())
    if args.output:
        output.check_writable(Path(args.output))  # a bad -o fails now, not after the run
    # the cluster first: an unreachable scheduler leaves no half-started run in the store
    with engine.connect(args.scheduler, args.workers) as client, FleetStore(url) as store:
        run_id = store.start_run()
        previous_id = store.previous_run(run_id)
        previous = store.results(previous_id) if previous_id is not None else []
        options = TaskOptions(
            source=SourceOptions(
                platform=platform,
                pull=args.pull,
                insecure_registries=tuple(args.insecure_registry),
                quiet=True,
            ),
            cache_dir=str(Path(cache_dir).absolute()),
            use_cache=not args.no_cache,
            max_ratio=args.max_ratio,
            store_url=url,
            run_id=run_id,
        )
        result = engine.run(client, refs, options, _Progress(len(refs), args.quiet))
        doc = summary.build(result.outcomes, result.stats, run_id, previous, previous_id)
        store.finish_run(run_id, doc)
    write_output(view.FORMATS[args.format](doc), args.output)
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
