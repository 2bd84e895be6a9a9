"""`imgaudit diff OLD NEW`: what changed between two images or two JSON reports.

OLD and NEW are each an image reference (any transport `scan` reads) or a JSON report
file (`imgaudit scan -f json`). An image is reported as `scan` reports it, under the
same config and flags. With two images every file is compared, including what should
not differ between two builds of the same source (reproducibility); with a report on
either side the comparison uses what reports carry.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor import baseline
from auditor.commands import options
from auditor.loading import load_image
from auditor.pipeline import Settings, audit
from auditor.report import output
from auditor.report.formats import DOCUMENT_FORMATS

if TYPE_CHECKING:  # deferred: start-up time, see README "Performance"
    from auditor.fs import FileSystem


def configure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="compare two images or two JSON reports", description=__doc__)
    p.add_argument("old", help="the earlier image reference or JSON report")
    p.add_argument("new", help="the later image reference or JSON report")
    p.add_argument("--format", "-f", choices=DOCUMENT_FORMATS, default="table")
    p.add_argument("--output", "-o", metavar="FILE", help="write the diff to FILE, not stdout")
    options.add_image_arguments(p)
    options.add_check_arguments(p)
    p.set_defaults(execute=execute)


def side(argument: str, settings: Settings) -> tuple[dict[str, Any], FileSystem | None]:
    """One side of the diff: a report file as it is, or an image's report and its files."""
    if baseline.looks_like_report(argument):
        return baseline.read_report(Path(argument)), None
    loaded = load_image(argument, settings.loading)
    return audit(loaded, settings).to_json(), loaded.fs


def execute(args: argparse.Namespace) -> int:
    # deferred: start-up time, see README "Performance" (only `diff` needs these)
    from auditor import diff as diffing
    from auditor.report.diffview import FORMATS

    settings = options.settings(args)
    old, old_fs = side(args.old, settings)
    new, new_fs = side(args.new, settings)
    result = diffing.diff(old, new, old_fs, new_fs)
    output.write_document(FORMATS[args.format](result), args.output)
    return 0
