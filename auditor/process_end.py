"""Ending the `imgaudit` process without tearing down what a scan built.

Why: a scan's filesystem model of a million-path image is millions of small objects.
Freed one by one when the scan returns (or at interpreter shutdown) they cost ~0.3 s
of a ~8 s scan, for a process that is about to end anyway. The command-line entry
point (`auditor.cli.run`) therefore holds each scanned image until the end and leaves
with `os._exit` once its output is flushed and the exit handlers have run (they remove
the temporary directories of daemon exports and archives). `main()` itself, which the
tests and library users call in-process, frees everything as usual: nothing is held
unless `run` asked for it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import NoReturn

_held: list[object] | None = None  # None: not the command-line process, hold nothing


def hold_until_exit(thing: object) -> None:
    """Keep `thing` alive until the process ends (only in the command-line process)."""
    if _held is not None:
        _held.append(thing)


def start_holding() -> None:
    global _held
    _held = []


def end(code: int) -> NoReturn:
    """Flush the output, run the exit handlers, and end the process with `code`,
    skipping the interpreter's teardown."""
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe or stream: nothing more can be said on it
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)
