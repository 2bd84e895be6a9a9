"""Run one piece of work in a forked second process while this one does the rest.

Why: after the layers are merged, facts and checks run on one core while the other
idles, and that serial part is a third of a cold scan of a big image. Checks that walk
the whole tree on their own (pyc headers, secrets, caches) can run beside the others:
the fork shares the merged filesystem copy-on-write, and only their small results
come back (plain JSON-ready data through a pipe).

Work both processes need (a fact every check of both asks for) can be split between
them instead of done twice: with `partnered=True` each side gets a `Partner`, deals
the pieces of that work by weight (`Partner.mine`), does its own, and swaps the
results (`Partner.swap`).

A child that dies or cannot start costs only time: `result()` says so and the caller
runs the work itself; a partner that is gone swaps nothing, and the other side does the
whole fact. Nothing here is used where forking is not allowed or pointless (one core,
`--jobs 1`, daemonic processes such as Dask workers).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any


class Partner:
    """One side of a duplex pipe between the two processes (side 0: the parent)."""

    def __init__(self, connection: Any, side: int) -> None:
        self._connection = connection
        self.side = side

    def mine(self, weights: Sequence[int]) -> list[bool]:
        """Which of the pieces (by their weights, in an order both sides share) this side
        does: the heaviest first, each to the side with less so far, so the two halves
        take about the same time. Both sides compute the same deal."""
        order = sorted(range(len(weights)), key=lambda i: (-weights[i], i))
        load = [0, 0]
        ours = [False] * len(weights)
        for i in order:
            side = 0 if load[0] <= load[1] else 1
            load[side] += weights[i]
            ours[i] = side == self.side
        return ours

    def swap(self, value: Any) -> Any | None:
        """Send `value`, receive the other side's (None if it is gone), then close: one
        swap per partnership. A thread sends while this one receives, since both sides
        send first and either value may be larger than the pipe holds."""
        connection = self._connection
        if connection is None:
            return None

        def send() -> None:
            with contextlib.suppress(OSError, ValueError):  # the other side is gone
                connection.send(value)

        sender = threading.Thread(target=send, name="imgaudit-swap", daemon=True)
        sender.start()
        try:
            theirs = connection.recv()
        except (EOFError, OSError):
            theirs = None
        sender.join()
        self.close()
        return theirs

    def close(self) -> None:
        """End the partnership: the other side's `swap` then receives None."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Pending:
    def __init__(self, process: Any, receive: Any, partner: Partner | None = None) -> None:
        self._process = process
        self._receive = receive
        self.partner = partner  # this side of the partnership (`start(partnered=True)`)

    def result(self) -> Any | None:
        """The work's return value; None when the child died before sending it."""
        if self.partner is not None:
            self.partner.close()  # a child still waiting to swap would wait forever
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


def start(work: Callable[..., Any], partnered: bool = False) -> Pending | None:
    """Fork a child that runs `work()` and sends back its (picklable) value; with
    `partnered`, `work(partner)`, and the returned `Pending.partner` is this side's."""
    ctx = multiprocessing.get_context("fork")
    try:
        receive, send = ctx.Pipe(duplex=False)
        ours, theirs = ctx.Pipe(duplex=True) if partnered else (None, None)
        process = ctx.Process(target=_child, args=(send, work, theirs, ours), daemon=True)
        process.start()
    except OSError:
        return None
    send.close()
    if theirs is not None:
        theirs.close()  # the child's end: only the child may hold it, or its death is unseen
    return Pending(process, receive, Partner(ours, 0) if ours is not None else None)


def _child(send: Any, work: Callable[..., Any], theirs: Any = None, ours: Any = None) -> None:
    if ours is not None:
        ours.close()
    try:
        send.send(work(Partner(theirs, 1)) if theirs is not None else work())
    finally:
        send.close()
