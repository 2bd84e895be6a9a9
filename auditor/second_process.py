"""Run one piece of work in a forked second process while this one does the rest.

Why: after the layers are merged, facts and checks run on one core while the other
idles, and that serial part is a third of a cold scan of a big image. Checks that walk
the whole tree on their own (pyc headers, secrets, caches) can run beside the others:
the fork shares the merged filesystem copy-on-write, and only their small results
come back (plain JSON-ready data through a pipe).

A child that dies or cannot start costs only time: `result()` says so and the caller
runs the work itself. Nothing here is used where forking is not allowed or pointless
(one core, `--jobs 1`, daemonic processes such as Dask workers).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from typing import Any


class Pending:
    def __init__(self, process: Any, receive: Any) -> None:
        self._process = process
        self._receive = receive

    def result(self) -> Any | None:
        """The work's return value; None when the child died before sending it."""
        try:
            value = self._receive.recv()
        except (EOFError, OSError):
            value = None
        finally:
            self._receive.close()
            self._process.join()
        return value


def usable(jobs: int) -> bool:
    """Whether a second process can help: two cores (or `--jobs` >= 2) and fork allowed."""
    cores = jobs or os.cpu_count() or 1
    if cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    return not multiprocessing.current_process().daemon


def start(work: Callable[[], Any]) -> Pending | None:
    """Fork a child that runs `work()` and sends back its (picklable) value."""
    ctx = multiprocessing.get_context("fork")
    try:
        receive, send = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_child, args=(send, work), daemon=True)
        process.start()
    except OSError:
        return None
    send.close()
    return Pending(process, receive)


def _child(send: Any, work: Callable[[], Any]) -> None:
    try:
        send.send(work())
    finally:
        send.close()
