"""`imgaudit checks`: list every check imgaudit runs (ID, name, severity, dimension, title)."""

from __future__ import annotations

import argparse
import json
import sys

from auditor.pipeline import installed_checks


def configure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("checks", help="list every check", description=__doc__)
    p.add_argument("--format", "-f", choices=["table", "json"], default="table")
    p.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    rows = [
        {
            "id": c.info.id,
            "name": c.info.name,
            "severity": str(c.info.severity),
            "dimension": c.info.dimension.value,
            "title": c.info.title,
            "options": c.options,
        }
        for c in installed_checks()
    ]
    if args.format == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        from tabulate import tabulate  # deferred: start-up time, see README "Performance"

        table = [(r["id"], r["name"], r["severity"], r["dimension"], r["title"]) for r in rows]
        headers = ["ID", "Name", "Severity", "Dimension", "Title"]
        sys.stdout.write(tabulate(table, headers=headers, tablefmt="simple") + "\n")
    return 0
