"""Concurrent writers for the history-store tests (SQLite and PostgreSQL).

Each writer process behaves like one CI job running `imgaudit scan --record`: it opens
the store (creating the schema if it is the first), records one scan, closes it, and
does that `count` times. All writers start together behind a barrier, on a store that
does not exist yet, so schema creation races too.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from auditor.history_store import open_store

WRITERS = 8
PER_WRITER = 10


def report(writer: int, i: int) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "image": {"digest": f"sha256:{writer:04d}{i:060d}", "size": 1000 * writer + i},
        "scores": {"overall": 50 + i, "grade": "C"},
        "findings": [{"check_id": "SZ005"}] * (i % 3),
    }


def _writer(url: str, writer: int, count: int, barrier: Any, errors: Any) -> None:
    try:
        barrier.wait(timeout=60)
        for i in range(count):
            with open_store(url) as store:
                store.record(report(writer, i), f"ci/app-{writer % 2}", f"w{writer}-{i}")
    except BaseException as exc:  # reported to the parent, which fails the test
        errors.put(f"writer {writer}: {type(exc).__name__}: {exc}")
        raise


def write_concurrently(url: str, writers: int = WRITERS, count: int = PER_WRITER) -> list[str]:
    """Run the writers; returns the errors they hit (empty when all went well)."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(writers)
    errors = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(url, w, count, barrier, errors)) for w in range(writers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    out = []
    while not errors.empty():
        out.append(errors.get())
    out += [f"writer exited {p.exitcode}" for p in procs if p.exitcode != 0]
    return out


def assert_all_landed(url: str, writers: int = WRITERS, count: int = PER_WRITER) -> None:
    with open_store(url) as store:
        assert store.count() == writers * count
        for repo in ("ci/app-0", "ci/app-1"):
            records = store.records(repo)
            expected = {
                (f"w{w}-{i}", 1000 * w + i, 50 + i, i % 3)
                for w in range(writers)
                if w % 2 == int(repo[-1])
                for i in range(count)
            }
            got = {(r.tag, r.size, r.score, r.findings) for r in records}
            assert got == expected
            # every stored report is intact JSON with its own digest
            for r in records:
                w, i = (int(x) for x in r.tag[1:].split("-"))
                assert store.report(r.id) == report(w, i)
