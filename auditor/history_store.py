"""The scan history: every recorded scan, keyed by repository, tag, digest and time.

(Not to be confused with `auditor/history.py`, which reads an image's build history.)

Two backends behind one small class, on plain DB-API rather than SQLAlchemy: the
store needs one table, three statements and two placeholder styles, so an ORM or
SQL toolkit would be a large dependency for a few lines of SQL. sqlite3 ships with
Python; `psycopg` (v3) is imported only when a `postgresql://` URL is used.

- SQLite (default, `$XDG_DATA_HOME/imgaudit/history.db`): WAL journal so readers never
  block the writer, `busy_timeout` so writers wait instead of failing, `BEGIN IMMEDIATE`
  so a write transaction takes the lock up front (no upgrade deadlock), and a retry
  loop on top for the rare `database is locked` that escapes the timeout.
- PostgreSQL (`postgresql://user:pass@host:port/db`), for CI runners that do not keep
  a disk: every write is one transaction; schema creation is serialised with an
  advisory lock because concurrent `CREATE TABLE IF NOT EXISTS` can race.

The schema is created on first use and versioned in `imgaudit_meta`; a database
written by a newer imgaudit is refused with a clear error rather than misread.
Time lives only here (`recorded_at`, UTC), never in reports or findings.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from auditor.errors import InputError

SCHEMA_VERSION = 1
ENV_VAR = "IMGAUDIT_DB"
RETRIES = 50
PG_SCHEMA_LOCK = 0x1A6A0D17  # advisory lock key: "imgaudit schema"

_SCHEMA = {
    "sqlite": [
        "CREATE TABLE IF NOT EXISTS imgaudit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE IF NOT EXISTS scans (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            repository TEXT NOT NULL,
            tag TEXT NOT NULL,
            digest TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            size BIGINT NOT NULL,
            compressed_size BIGINT,
            score REAL,
            grade TEXT,
            findings INTEGER NOT NULL,
            report TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS scans_repository ON scans (repository, recorded_at, id)",
    ],
    "postgresql": [
        "CREATE TABLE IF NOT EXISTS imgaudit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE IF NOT EXISTS scans (
            id BIGSERIAL PRIMARY KEY,
            repository TEXT NOT NULL,
            tag TEXT NOT NULL,
            digest TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            size BIGINT NOT NULL,
            compressed_size BIGINT,
            score DOUBLE PRECISION,
            grade TEXT,
            findings INTEGER NOT NULL,
            report TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS scans_repository ON scans (repository, recorded_at, id)",
    ],
}

# version -> dialect -> statements that upgrade a store from version-1 (in the same
# transaction as the version bump, so a crash leaves the old version intact).
MIGRATIONS: dict[int, dict[str, list[str]]] = {}

_COLUMNS = "id, repository, tag, digest, recorded_at, size, compressed_size, score, grade, findings"


@dataclass(frozen=True)
class Record:
    """One recorded scan (the report itself is loaded only when asked for)."""

    id: int
    repository: str
    tag: str
    digest: str
    recorded_at: str  # ISO 8601, UTC
    size: int
    compressed_size: int | None
    score: float | None
    grade: str | None
    findings: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def default_url() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return "sqlite:///" + str(Path(base) / "imgaudit" / "history.db")


def configured_url(cli_url: str | None) -> str | None:
    """The store the user asked for (`--db`, then `IMGAUDIT_DB`), or None."""
    return cli_url or os.environ.get(ENV_VAR) or None


class HistoryStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect, self._target = _parse_url(url)
        self._conn: Any = None

    # ---- connection and schema --------------------------------------------------------

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connect(self) -> Any:
        if self._conn is not None:
            return self._conn
        if self.dialect == "sqlite":
            # deferred: start-up time, see README "Performance" (a scan that neither
            # records nor compares with the history never opens the store)
            import sqlite3

            path = Path(self._target)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            except (OSError, sqlite3.Error) as exc:
                raise InputError(f"cannot open history database {path}: {exc}") from None
            conn.execute("PRAGMA busy_timeout = 30000")
            self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            self._conn = conn
        else:
            try:
                import psycopg
            except ImportError:
                raise InputError(
                    "a postgresql:// history store needs psycopg: pip install 'psycopg[binary]'"
                ) from None
            try:
                self._conn = psycopg.connect(self._target, autocommit=True, connect_timeout=15)
            except psycopg.Error as exc:
                detail = " ".join(str(exc).split())  # libpq's messages span lines
                raise InputError(f"cannot connect to the history database: {detail}") from None
        self._ensure_schema()
        return self._conn

    def _ensure_schema(self) -> None:
        def create(cur: Any) -> None:
            if self.dialect == "postgresql":
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (PG_SCHEMA_LOCK,))
            for statement in _SCHEMA[self.dialect]:
                cur.execute(statement)
            cur.execute(self._sql("SELECT value FROM imgaudit_meta WHERE key = ?"), ("schema",))
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    self._sql("INSERT INTO imgaudit_meta (key, value) VALUES (?, ?)"),
                    ("schema", str(SCHEMA_VERSION)),
                )
            elif int(row[0]) < SCHEMA_VERSION:
                for version in range(int(row[0]) + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[version][self.dialect]:
                        cur.execute(statement)
                cur.execute(
                    self._sql("UPDATE imgaudit_meta SET value = ? WHERE key = ?"),
                    (str(SCHEMA_VERSION), "schema"),
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise InputError(
                    f"the history database has schema version {row[0]}, newer than this "
                    f"imgaudit supports ({SCHEMA_VERSION}): upgrade imgaudit"
                )

        self._write(create)

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.dialect == "postgresql" else statement

    # ---- transactions with retries ------------------------------------------------------

    def _retry(self, action: Any) -> Any:
        import sqlite3  # deferred: see `_connect`

        delay = 0.01
        for attempt in range(RETRIES):
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if attempt == RETRIES - 1:
                    raise InputError(f"history database stays locked: {exc}") from None
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    def _write(self, body: Any) -> Any:
        """Run `body(cursor)` in one write transaction; retried whole on lock contention."""
        conn = self._conn
        if self.dialect == "sqlite":

            def attempt() -> Any:
                cur = conn.cursor()
                try:
                    cur.execute("BEGIN IMMEDIATE")
                    result = body(cur)
                    cur.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                return result

            return self._retry(attempt)
        import psycopg

        for attempt_no in range(RETRIES):
            try:
                with conn.transaction(), conn.cursor() as cur:
                    return body(cur)
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
                if attempt_no == RETRIES - 1:
                    raise
                time.sleep(0.01 * (1 + random.random()))
        raise AssertionError("unreachable")

    # ---- the API ------------------------------------------------------------------------

    def record(
        self,
        report: dict[str, Any],
        repository: str,
        tag: str = "",
        recorded_at: datetime | None = None,
    ) -> int:
        """Store one scan's report; returns its id."""
        self._connect()
        return int(
            self._write(lambda cur: self._insert_scan(cur, report, repository, tag, recorded_at))
        )

    def _insert_scan(
        self,
        cur: Any,
        report: dict[str, Any],
        repository: str,
        tag: str,
        recorded_at: datetime | None = None,
    ) -> int:
        """The scan's row, inside the caller's transaction; returns its id."""
        image = report.get("image") or {}
        scores = report.get("scores") or {}
        when = (recorded_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        row = (
            repository,
            tag,
            str(image.get("digest") or ""),
            when.isoformat(timespec="microseconds"),
            int(image.get("size") or 0),
            image.get("compressed_size"),
            scores.get("overall"),
            scores.get("grade"),
            len(report.get("findings") or []),
            json.dumps(report, sort_keys=True),
        )
        insert = self._sql(
            "INSERT INTO scans (repository, tag, digest, recorded_at, size, compressed_size, "
            "score, grade, findings, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )

        if self.dialect == "postgresql":
            cur.execute(insert + " RETURNING id", row)
            return int(cur.fetchone()[0])
        cur.execute(insert, row)
        return int(cur.lastrowid)

    def records(self, repository: str, limit: int | None = None) -> list[Record]:
        """The repository's scans, oldest first (the last `limit` when given)."""
        sql = (
            f"SELECT {_COLUMNS} FROM scans WHERE repository = ? ORDER BY recorded_at DESC, id DESC"
        )
        params: tuple[Any, ...] = (repository,)
        if limit:
            sql += " LIMIT ?"
            params += (limit,)
        rows = self._query(sql, params)
        return [Record(*row) for row in reversed(rows)]

    def last(self, repository: str) -> tuple[Record, dict[str, Any]] | None:
        """The latest scan of `repository` with its report (the default baseline)."""
        rows = self._query(
            f"SELECT {_COLUMNS}, report FROM scans WHERE repository = ? "
            "ORDER BY recorded_at DESC, id DESC LIMIT 1",
            (repository,),
        )
        if not rows:
            return None
        *cols, report = rows[0]
        return Record(*cols), json.loads(report)

    def report(self, record_id: int) -> dict[str, Any] | None:
        rows = self._query("SELECT report FROM scans WHERE id = ?", (record_id,))
        return json.loads(rows[0][0]) if rows else None

    def count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM scans", ())[0][0])

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        conn = self._connect()
        if self.dialect == "sqlite":
            return list(self._retry(lambda: conn.execute(sql, params).fetchall()))
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(self._sql(sql), params)
            return [tuple(r) for r in cur.fetchall()]


def _parse_url(url: str) -> tuple[str, str]:
    """(dialect, target): a file path for SQLite, a libpq URL for PostgreSQL.

    `sqlite:///PATH` follows the SQLAlchemy spelling (`sqlite:////abs/file.db` is
    absolute, `sqlite:///rel.db` relative); a bare path also means SQLite.
    """
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    scheme = scheme.split("+", 1)[0]
    if scheme in ("postgresql", "postgres"):
        return "postgresql", re.sub(r"^[a-z]+(\+[a-z0-9]+)?://", "postgresql://", url)
    if scheme == "sqlite":
        path = url.split("://", 1)[1]
        if not path.startswith("/") or path == "/":
            raise InputError(f"bad SQLite URL {url!r}: use sqlite:///relative or sqlite:////abs")
        return "sqlite", path[1:]
    if scheme:
        raise InputError(f"unsupported history database {scheme}:// (sqlite, postgresql)")
    return "sqlite", url


def exists(url: str) -> bool:
    """False only for a SQLite file that is not there yet (servers are assumed to be)."""
    dialect, target = _parse_url(url)
    return dialect != "sqlite" or Path(target).exists()


@contextmanager
def open_store(url: str) -> Iterator[HistoryStore]:
    store = HistoryStore(url)
    try:
        yield store
    finally:
        store.close()
