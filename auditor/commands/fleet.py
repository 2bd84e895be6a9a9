"""`imgaudit fleet`: audit many images on a Dask cluster and summarise the fleet.

Images come from the command line, from `--from-file` (one reference a line), or from
a registry's catalog (`--registry HOST`, optionally `--repository-glob` and
`--tags-since`). Every report is recorded in the history store (`--db`, `IMGAUDIT_DB`,
else the default SQLite file), so `imgaudit history` sees fleet scans. The summary
(grades, worst findings, biggest images, size growth since the last fleet run,
failures) goes to stdout or `-o FILE` as table, json, markdown or html.

Every image is reported as `imgaudit scan` reports it, under the same config
(`--config`, `[tool.imgaudit]`) and flags.

Without `--scheduler` a private local cluster of worker processes runs the scan;
with `--scheduler tcp://HOST:PORT` the same tasks go to that Dask cluster (its
workers need imgaudit installed, the registry reachable, and, to share the layer
cache, `--cache-dir` on a filesystem they share).

Exit status: 0 when every image was scanned, 1 when some image failed (each failure
is in the summary and the store), 2 for usage errors.
"""

from __future__ import annotations

import argparse

from auditor.commands import options
from auditor.report.formats import DOCUMENT_FORMATS


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
    p.add_argument("--format", "-f", choices=DOCUMENT_FORMATS, default="table")
    p.add_argument("--output", "-o", metavar="FILE", help="write the summary to FILE")
    # --cache-dir: with --scheduler, a directory every worker shares
    options.add_image_arguments(p, jobs=False)
    options.add_check_arguments(p)
    p.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    # deferred: start-up time, see README "Performance" (Dask and the registry client
    # are imported by `fleet` only, not by every imgaudit command)
    from auditor.fleet import command

    return command.execute(args)
