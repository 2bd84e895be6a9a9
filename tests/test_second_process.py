"""Checks that walk the tree on their own run in a second process when there are two
cores: the report must be exactly what one process produces, and a second process that
dies must cost only time."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from auditor import second_process
from auditor.checks import ALL_CHECKS
from auditor.loading import LoadOptions, load_image
from auditor.pipeline import Settings, audit
from tests import factory
from tests.factory import File, Layer


def image_ref(tmp_path: Path) -> str:
    spec = factory.ImageSpec(
        layers=[
            Layer([File("etc/os-release", b"ID=debian\nVERSION_ID=12\n")], "ADD rootfs /"),
            Layer(
                [
                    File("app/.env", b"API_TOKEN=s3cr3t-value\n"),
                    File("root/.cache/pip/x", b"y" * 5000),
                    File("app/main.py", b"print(1)\n"),
                ],
                "COPY . /app",
            ),
        ]
    )
    return f"oci:{factory.write_oci_dir(factory.build(spec), tmp_path / 'layout')}"


def report(ref: str, jobs: int) -> dict[str, Any]:
    return audit(load_image(ref, LoadOptions(jobs=jobs, use_cache=False)), Settings()).to_json()


def test_offloaded_checks_report_what_one_process_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert any(c.offload for c in ALL_CHECKS)
    ref = image_ref(tmp_path)
    alone = report(ref, jobs=1)
    forks: list[int] = []
    start = second_process.start
    monkeypatch.setattr(second_process, "start", lambda work: forks.append(1) or start(work))
    beside = report(ref, jobs=2)
    assert forks == [1]
    assert beside == alone
    assert {f["check_id"] for f in beside["findings"]} >= {"SEC008", "SZ003"}


def test_a_second_process_that_dies_costs_only_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = image_ref(tmp_path)
    alone = report(ref, jobs=1)
    monkeypatch.setattr(second_process, "_child", lambda send, work: os._exit(3))
    assert report(ref, jobs=2) == alone


def test_no_second_process_for_a_tree_too_big_to_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above SECOND_PROCESS_MAX_PATHS the child would copy the whole model (reference
    counts): the checks run here instead, with the same report."""
    from auditor import runner

    ref = image_ref(tmp_path)
    alone = report(ref, jobs=1)
    forks: list[int] = []
    start = second_process.start
    monkeypatch.setattr(second_process, "start", lambda work: forks.append(1) or start(work))
    monkeypatch.setattr(runner, "SECOND_PROCESS_MAX_PATHS", 3)  # the image has more paths
    assert report(ref, jobs=2) == alone
    assert forks == []
