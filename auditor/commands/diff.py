"""`imgaudit diff OLD NEW`: what changed between two images or two JSON reports.

OLD and NEW are each an image reference (any transport `scan` reads) or a JSON report
file (`imgaudit scan -f json`). With two images every file is compared, including
what should not differ between two builds of the same source (reproducibility);
with a report on either side the comparison uses what reports carry.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from auditor import baseline
from auditor.commands.scan import report_for
from auditor.fs import FileSystem
from auditor.loading import LoadOptions, load_image
from auditor.report.formats import DOCUMENT_FORMATS
from auditor.sources import SourceOptions
from auditor.sources.platform import Platform


def configure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="compare two images or two JSON reports", description=__doc__)
    p.add_argument("old", help="the earlier image reference or JSON report")
    p.add_argument("new", help="the later image reference or JSON report")
    p.add_argument("--format", "-f", choices=DOCUMENT_FORMATS, default="table")
    p.add_argument("--output", "-o", metavar="FILE", help="write the diff to FILE, not stdout")
    p.add_argument("--platform", help="os/arch[/variant] to pick from a multi-arch index")
    p.add_argument("--no-cache", action="store_true", help="read every layer, ignore the cache")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(execute=execute)


def _side(argument: str, options: LoadOptions) -> tuple[dict[str, Any], FileSystem | None]:
    if baseline.looks_like_report(argument):
        return baseline.read_report(Path(argument)), None
    loaded = load_image(argument, options)
    return report_for(loaded), loaded.fs


def execute(args: argparse.Namespace) -> int:
    # deferred: start-up time, see README "Performance" (only `diff` needs these)
    from auditor import diff as diffing
    from auditor.report.diffview import FORMATS

    options = LoadOptions(
        source=SourceOptions(
            platform=Platform.parse(args.platform) if args.platform else None, quiet=args.quiet
        ),
        cache_dir=Path(os.environ["IMGAUDIT_CACHE_DIR"])
        if os.environ.get("IMGAUDIT_CACHE_DIR")
        else None,
        use_cache=not args.no_cache,
    )
    old, old_fs = _side(args.old, options)
    new, new_fs = _side(args.new, options)
    result = diffing.diff(old, new, old_fs, new_fs)
    write_output(FORMATS[args.format](result), args.output)
    return 0


def write_output(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        from auditor.errors import InputError

        raise InputError(f"cannot write {output}: {exc}") from None
