"""Fleet runs in the history store: which images a run scanned, with what outcome.

The scan reports themselves go into the store's `scans` table exactly as
`scan --record` writes them, so `imgaudit history` and SZ005 baselines see fleet scans
too. Two tables of their own carry what a single scan has no place for: the run
(`fleet_runs`: when, and its summary) and one row per image of the run
(`fleet_results`: the scan's id, or the error that stopped it). "Size growth since
the last fleet run" compares a run's rows with those of the previous finished run.

A worker that dies after recording but before Dask hears back gets its image retried
elsewhere; `(run_id, reference)` is unique and checked in the same transaction as the
insert, so the retry finds the row and does not record the scan twice.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from auditor.fleet.outcome import Outcome
from auditor.history_store import HistoryStore

_TABLES = {
    "sqlite": [
        """CREATE TABLE IF NOT EXISTS fleet_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            summary TEXT)""",
        """CREATE TABLE IF NOT EXISTS fleet_results (
            run_id INTEGER NOT NULL,
            reference TEXT NOT NULL,
            repository TEXT NOT NULL,
            tag TEXT NOT NULL,
            digest TEXT NOT NULL,
            size BIGINT NOT NULL,
            scan_id INTEGER,
            error TEXT,
            PRIMARY KEY (run_id, reference))""",
    ],
    "postgresql": [
        """CREATE TABLE IF NOT EXISTS fleet_runs (
            id BIGSERIAL PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            summary TEXT)""",
        """CREATE TABLE IF NOT EXISTS fleet_results (
            run_id BIGINT NOT NULL,
            reference TEXT NOT NULL,
            repository TEXT NOT NULL,
            tag TEXT NOT NULL,
            digest TEXT NOT NULL,
            size BIGINT NOT NULL,
            scan_id BIGINT,
            error TEXT,
            PRIMARY KEY (run_id, reference))""",
    ],
}
PG_FLEET_LOCK = 0x1A6A0F1E  # advisory lock key for the fleet tables' creation


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class FleetStore(HistoryStore):
    """The history store plus the fleet tables (created on first use, idempotently)."""

    _fleet_ready = False

    def __enter__(self) -> FleetStore:
        return self

    def _connect(self) -> Any:
        conn = super()._connect()
        if not self._fleet_ready:
            self._fleet_ready = True

            def create(cur: Any) -> None:
                if self.dialect == "postgresql":
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (PG_FLEET_LOCK,))
                for statement in _TABLES[self.dialect]:
                    cur.execute(statement)

            self._write(create)
        return conn

    def start_run(self) -> int:
        self._connect()
        insert = self._sql("INSERT INTO fleet_runs (started_at) VALUES (?)")

        def write(cur: Any) -> int:
            if self.dialect == "postgresql":
                cur.execute(insert + " RETURNING id", (_now(),))
                return int(cur.fetchone()[0])
            cur.execute(insert, (_now(),))
            return int(cur.lastrowid)

        return int(self._write(write))

    def finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        self._connect()
        update = self._sql("UPDATE fleet_runs SET finished_at = ?, summary = ? WHERE id = ?")
        self._write(lambda cur: cur.execute(update, (_now(), json.dumps(summary), run_id)))

    def record_result(
        self, run_id: int, outcome: Outcome, report: dict[str, Any] | None
    ) -> int | None:
        """Record the image's scan (when there is a report) and its fleet row, once.

        One transaction: the fleet row first (its key is `(run_id, reference)`), then
        the scan. A second attempt for the same image (a retried task, while or after
        the first one ran) finds the row, or waits on it, and records nothing; an
        attempt killed midway leaves nothing behind."""
        self._connect()
        insert = self._sql(
            "INSERT INTO fleet_results (run_id, reference, repository, tag, digest, size, "
            "scan_id, error) VALUES (?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT DO NOTHING"
        )
        select = self._sql("SELECT scan_id FROM fleet_results WHERE run_id = ? AND reference = ?")
        update = self._sql(
            "UPDATE fleet_results SET scan_id = ? WHERE run_id = ? AND reference = ?"
        )
        o = outcome
        row = (run_id, o.reference, o.repository, o.tag, o.digest, o.size, o.error)

        def write(cur: Any) -> int | None:
            cur.execute(insert, row)
            if cur.rowcount == 0:  # recorded by an earlier attempt
                cur.execute(select, (run_id, o.reference))
                found = cur.fetchone()
                return found[0] if found else None
            if report is None:
                return None
            scan_id = self._insert_scan(cur, report, o.repository, o.tag)
            cur.execute(update, (scan_id, run_id, o.reference))
            return scan_id

        result = self._write(write)
        return int(result) if result is not None else None

    def results(self, run_id: int) -> list[dict[str, Any]]:
        rows = self._query(
            self._sql(
                "SELECT reference, repository, tag, digest, size, scan_id, error "
                "FROM fleet_results WHERE run_id = ? ORDER BY reference"
            ),
            (run_id,),
        )
        keys = ("reference", "repository", "tag", "digest", "size", "scan_id", "error")
        return [dict(zip(keys, row)) for row in rows]

    def previous_run(self, before: int) -> int | None:
        """The latest finished run before `before` (the baseline for size growth)."""
        rows = self._query(
            self._sql(
                "SELECT id FROM fleet_runs WHERE id < ? AND finished_at IS NOT NULL "
                "ORDER BY id DESC LIMIT 1"
            ),
            (before,),
        )
        return int(rows[0][0]) if rows else None

    def run_summary(self, run_id: int) -> dict[str, Any] | None:
        rows = self._query(self._sql("SELECT summary FROM fleet_runs WHERE id = ?"), (run_id,))
        return json.loads(rows[0][0]) if rows and rows[0][0] else None
