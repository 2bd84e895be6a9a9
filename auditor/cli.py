"""The `imgaudit` command line.

Exit codes: 0 fine, 1 findings at or above the failure threshold, 2 usage or input
errors (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence

from auditor import __version__, process_end
from auditor.commands import cache, checks, diff, explain, fleet, history, scan
from auditor.errors import InputError

COMMANDS = (scan, diff, history, checks, explain, fleet, cache)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgaudit",
        description="Audit finished container images for Python applications.",
    )
    parser.add_argument("--version", action="version", version=f"imgaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.configure_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # File names from images need not be UTF-8 (they arrive as surrogate escapes):
    # print their original bytes rather than crash on a strict UTF-8 stdout.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="surrogateescape")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "execute", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.execute(args))
    except InputError as exc:
        print(f"imgaudit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("imgaudit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def run() -> None:
    """The `imgaudit` command: `main`, holding each scanned image to the end, then the
    process ends without freeing it (auditor/process_end.py says why)."""
    process_end.start_holding()
    process_end.end(main())


if __name__ == "__main__":
    run()
