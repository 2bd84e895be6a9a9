"""The scan history store on a real PostgreSQL server (private cluster, stopped by PID).

The same concurrent-writer test as on SQLite: N processes, each opening the store,
recording and closing, all starting together on an empty database (schema creation
races too); every record must land intact.
"""

from __future__ import annotations

import json

import pytest

from auditor.cli import main
from auditor.errors import InputError
from auditor.history_store import open_store
from tests.diff_images import write_pair
from tests.history_writers import assert_all_landed, report, write_concurrently


def test_concurrent_writers_lose_nothing(postgres):
    assert write_concurrently(postgres.url) == []
    assert_all_landed(postgres.url)
    with open_store(postgres.url) as store:
        last = store.last("ci/app-1")
        assert last is not None and last[1] == report(int(last[0].tag[1]), int(last[0].tag[3:]))


def test_wrong_password_is_one_clear_error(postgres):
    bad = postgres.url.replace(postgres.password, "wrong")
    with (
        pytest.raises(InputError, match="cannot connect to the history database"),
        open_store(bad) as store,
    ):
        store.count()


def test_scan_records_and_compares_through_postgres(postgres, tmp_path, capsys):
    """`scan --db postgresql://...` records; the next scan's SZ005 baseline comes back."""
    old, new = write_pair(tmp_path)
    url = postgres.url
    argv = ["scan", "-q", "-f", "json", "--db", url, "--repository", "pg/shop", old]
    assert main(argv) == 1  # the images run as root: SEC001 trips the default gate
    capsys.readouterr()
    argv = ["scan", "-q", "-f", "json", "--db", url, "--repository", "pg/shop", new]
    assert main(argv) == 1  # the images run as root: SEC001 trips the default gate
    report = json.loads(capsys.readouterr().out)
    finding = next(f for f in report["findings"] if f["check_id"] == "SZ005")
    assert finding["evidence"]["delta"] == 196_850
    assert finding["evidence"]["baseline"].startswith("the last recorded scan of pg/shop (")
    assert main(["history", "pg/shop", "--db", url, "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["size"] for s in doc["scans"]][1] - doc["scans"][0]["size"] == 196_850
