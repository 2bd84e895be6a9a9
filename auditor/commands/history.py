"""`imgaudit history REPOSITORY`: size and score of recorded scans over time.

Reads the history store (`--db URL`, `IMGAUDIT_DB`, or the default SQLite file) that
`imgaudit scan --record` writes, shows the trend and the builds where the size jumped
by more than the threshold (the same default as SZ005: more than 10% or 50 MB).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from auditor import history_store
from auditor.report.formats import DOCUMENT_FORMATS
from auditor.report.output import write_document
from auditor.sizes import REGRESSION_BYTES, REGRESSION_PERCENT


def configure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="size and score over time", description=__doc__)
    p.add_argument("repository", help="repository as recorded, e.g. myorg/app")
    p.add_argument("--format", "-f", choices=DOCUMENT_FORMATS, default="table")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE, not stdout")
    p.add_argument("--db", metavar="URL", help="history store (default $IMGAUDIT_DB or SQLite)")
    p.add_argument("--limit", type=int, default=50, help="the last N scans (default 50)")
    p.add_argument("--jump-percent", type=float, default=REGRESSION_PERCENT)
    p.add_argument("--jump-bytes", type=int, default=REGRESSION_BYTES)
    p.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from auditor.report import historyview  # deferred: start-up time, see README "Performance"

    url = history_store.configured_url(args.db) or history_store.default_url()
    records: list[history_store.Record] = []
    if history_store.exists(url):  # reading the history must not create a database
        with history_store.open_store(url) as store:
            records = store.records(args.repository, args.limit)
    jumps = historyview.size_jumps(records, args.jump_percent, args.jump_bytes)
    doc = historyview.history_document(args.repository, records, jumps)
    if args.format == "markdown":
        svg_files: dict[str, str] = {}
        if args.output and records:
            out = Path(args.output)
            charts = {"size": historyview.size_svg(doc), "score": historyview.score_svg(doc)}
            for name, svg in charts.items():
                if svg is None:
                    continue
                target = out.with_name(f"{out.stem}-{name}.svg")
                write_document(svg, str(target))
                svg_files[name] = target.name
        text = historyview.render_markdown(doc, svg_files)
    else:
        text = historyview.FORMATS[args.format](doc)
    write_document(text, args.output)
    return 0
