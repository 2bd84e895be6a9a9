"""`imgaudit explain ID`: print a check's documentation (its module docstring)."""

from __future__ import annotations

import argparse
import sys

from auditor.errors import InputError
from auditor.pipeline import find_check, installed_checks


def configure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="explain a check", description=__doc__)
    p.add_argument("check", metavar="ID", help="check ID or name, e.g. SEC001 or runs-as-root")
    p.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    check = find_check(args.check)
    if check is None:
        known = ", ".join(c.info.id for c in installed_checks())
        raise InputError(f"unknown check {args.check!r} (known: {known})")
    info = check.info
    header = (
        f"{info.id} {info.name} ({info.severity}, {info.dimension.value})\n"
        f"{info.title}\nCriterion: {info.criterion}\n"
    )
    options = ""
    if check.options:
        options = "\nOptions: " + ", ".join(f"{k} = {v}" for k, v in check.options.items())
        options += " (plus `allow`: path globs)\n"
    sys.stdout.write(header + "\n" + check.doc + "\n" + options)
    return 0
