"""The scan history store on SQLite: schema, ordering, baselines, concurrent writers.
(PostgreSQL: tests/integration/test_history_store_postgres.py, same assertions.)"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from auditor import history_store
from auditor.errors import InputError
from auditor.history_store import HistoryStore, open_store
from auditor.references import split_reference
from tests.history_writers import assert_all_landed, report, write_concurrently

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_concurrent_writers_lose_nothing(tmp_path):
    url = f"sqlite:///{tmp_path}/history.db"
    assert write_concurrently(url) == []
    assert_all_landed(url)
    conn = sqlite3.connect(tmp_path / "history.db")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("SELECT value FROM imgaudit_meta WHERE key='schema'").fetchone() == (
        str(history_store.SCHEMA_VERSION),
    )


def test_records_ordered_by_time_and_last_is_the_baseline(tmp_path):
    with open_store(str(tmp_path / "h.db")) as store:  # a bare path means SQLite
        for i, when in enumerate([T0 + timedelta(days=2), T0, T0 + timedelta(days=1)]):
            store.record(report(1, i), "shop/app", f"v{i}", recorded_at=when)
        store.record(report(2, 0), "other/app", "x", recorded_at=T0 + timedelta(days=9))
        assert [r.tag for r in store.records("shop/app")] == ["v1", "v2", "v0"]
        assert [r.tag for r in store.records("shop/app", limit=2)] == ["v2", "v0"]
        last = store.last("shop/app")
        assert last is not None and last[0].tag == "v0" and last[1] == report(1, 0)
        assert last[0].recorded_at == "2026-01-03T00:00:00.000000+00:00"
        assert store.last("nobody/here") is None


def test_newer_schema_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path}/h.db"
    with open_store(url) as store:
        store.count()
    conn = sqlite3.connect(tmp_path / "h.db")
    conn.execute("UPDATE imgaudit_meta SET value = '99' WHERE key = 'schema'")
    conn.commit()
    with pytest.raises(InputError, match="schema version 99, newer"), open_store(url) as store:
        store.count()


@pytest.mark.parametrize(
    ("url", "dialect", "target"),
    [
        ("sqlite:////var/x.db", "sqlite", "/var/x.db"),
        ("sqlite:///rel/x.db", "sqlite", "rel/x.db"),
        ("/abs/x.db", "sqlite", "/abs/x.db"),
        ("postgresql://u:p@h:5432/d", "postgresql", "postgresql://u:p@h:5432/d"),
        ("postgres://u@h/d", "postgresql", "postgresql://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql", "postgresql://u@h/d"),
    ],
)
def test_urls(url, dialect, target):
    store = HistoryStore(url)
    assert (store.dialect, store._target) == (dialect, target)


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite://"])
def test_bad_urls(url):
    with pytest.raises(InputError):
        HistoryStore(url)


def test_default_store_is_in_the_xdg_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert history_store.default_url() == f"sqlite:///{tmp_path}/imgaudit/history.db"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("example.org/shop/app:1", ("example.org/shop/app", "1")),
        ("localhost:5000/app", ("localhost:5000/app", "")),
        ("localhost:5000/app:2@sha256:abc", ("localhost:5000/app", "2")),
        ("docker://quay.io/x/y:latest", ("quay.io/x/y", "latest")),
        ("docker-archive:/tmp/app.tar", ("/tmp/app.tar", "")),
        ("oci:layout:v2", ("layout", "v2")),
    ],
)
def test_split_reference(reference, expected):
    assert split_reference(reference) == expected


def test_older_schema_is_migrated_in_one_transaction(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/h.db"
    with open_store(url) as store:
        store.record(report(1, 1), "shop/app", "v1")
    monkeypatch.setattr(history_store, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(
        history_store,
        "MIGRATIONS",
        {2: {"sqlite": ["ALTER TABLE scans ADD COLUMN platform TEXT"], "postgresql": []}},
    )
    with open_store(url) as store:
        assert [r.tag for r in store.records("shop/app")] == ["v1"]
    conn = sqlite3.connect(tmp_path / "h.db")
    assert conn.execute("SELECT value FROM imgaudit_meta").fetchone() == ("2",)
    assert "platform" in [row[1] for row in conn.execute("PRAGMA table_info(scans)")]
