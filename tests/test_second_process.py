"""Checks that walk the tree on their own run in a second process when there are two
cores: the report must be exactly what one process produces, and a second process that
dies must cost only time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditor import second_process
from auditor.checks import ALL_CHECKS
from auditor.facts import Facts
from auditor.facts.distributions import Inventory
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
    monkeypatch.setattr(second_process, "start", lambda *a, **k: forks.append(1) or start(*a, **k))
    beside = report(ref, jobs=2)
    assert forks == [1]
    assert beside == alone
    assert {f["check_id"] for f in beside["findings"]} >= {"SEC008", "SZ003"}


def test_a_second_process_that_dies_costs_only_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = image_ref(tmp_path)
    alone = report(ref, jobs=1)
    monkeypatch.setattr(second_process, "_child", lambda *args: os._exit(3))
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
    monkeypatch.setattr(second_process, "start", lambda *a, **k: forks.append(1) or start(*a, **k))
    monkeypatch.setattr(runner, "SECOND_PROCESS_MAX_PATHS", 3)  # the image has more paths
    assert report(ref, jobs=2) == alone
    assert forks == []


def test_a_partner_deal_gives_each_side_the_others_complement() -> None:
    """Both sides compute the same deal: the heaviest first, each to the lighter side."""
    weights = [7, 1, 1, 3, 2, 2, 9, 4]
    left = second_process.Partner(None, 0).mine(weights)
    right = second_process.Partner(None, 1).mine(weights)
    assert [a != b for a, b in zip(left, right)] == [True] * len(weights)
    loads = sum(w for w, a in zip(weights, left) if a), sum(w for w, b in zip(weights, right) if b)
    assert abs(loads[0] - loads[1]) <= max(weights) and min(loads) > 0


def many_distributions(tmp_path: Path) -> Facts:
    """Ten dist-infos in a `pip install --target` tree (listed with no environment), each
    with a RECORD of its own length, so the deal gives each side some."""
    items: list[Any] = []
    for n in range(10):
        meta = f"pkg{n}-1.{n}.dist-info"
        code = [f"pkg{n}/m{k}.py" for k in range(n + 1)]
        items += [File(f"app/deps/{p}", b"x = 1\n") for p in code]
        record = "".join(f"{p},sha256=x,6\n" for p in code) + f"{meta}/RECORD,,\n"
        metadata = f"Metadata-Version: 2.1\nName: pkg{n}\nVersion: 1.{n}\n"
        items += [
            File(f"app/deps/{meta}/METADATA", metadata.encode()),
            File(f"app/deps/{meta}/RECORD", record.encode()),
        ]
    spec = factory.ImageSpec(layers=[Layer(items, "COPY deps /app/deps")])
    ref = f"oci:{factory.write_oci_dir(factory.build(spec), tmp_path / 'layout')}"
    return Facts(load_image(ref, LoadOptions(jobs=1, use_cache=False)))


@dataclass
class Paired:
    alone: Inventory  # what one process reads on its own
    parent: Inventory  # the parent's, with the partner
    parent_reads: int  # metadata read in the parent
    child_value: Any  # what the child's work returned (None: it died)
    child_reads: int


def paired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: Any) -> Paired:
    """The parent shares the inventory with a partner forked to run `child(facts,
    partner)`; each process counts the metadata it reads."""
    from auditor.facts import distributions

    alone = many_distributions(tmp_path / "alone").inventory
    facts = many_distributions(tmp_path / "pair")
    reads: list[str] = []  # each process appends to its own copy
    read = distributions._read
    monkeypatch.setattr(distributions, "_read", lambda *a: reads.append(a[2]) or read(*a))

    def work(partner: second_process.Partner) -> tuple[Any, int]:
        return child(facts, partner), len(reads)

    pending = second_process.start(work, partnered=True)
    assert pending is not None and pending.partner is not None
    facts.share_inventory(pending.partner)
    child_value, child_reads = pending.result() or (None, 0)
    return Paired(alone, facts.inventory, len(reads), child_value, child_reads)


def test_the_inventory_is_read_half_in_each_process_and_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both processes of a scan's checks need the inventory: each reads its share of
    the metadata and they swap; each ends with what one process reads alone."""

    def shares(facts: Facts, partner: second_process.Partner) -> Inventory:
        facts.share_inventory(partner)
        return facts.inventory

    run = paired(tmp_path, monkeypatch, shares)
    assert len(run.alone.distributions) == 10
    assert run.parent == run.alone
    assert run.child_value == run.alone
    assert run.parent_reads + run.child_reads == 10
    assert min(run.parent_reads, run.child_reads) >= 3  # the deal is about even


def test_a_partner_that_dies_leaves_the_whole_inventory_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = paired(tmp_path, monkeypatch, lambda facts, partner: os._exit(3))
    assert run.parent == run.alone
    assert run.parent_reads == 10


def test_a_partner_whose_reading_fails_leaves_the_whole_inventory_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error in the partner's share (a bug) does not hang or break this side: the
    partner gives up its share, and its own check that asks reports the error."""
    from auditor.facts import distributions

    def fails(facts: Facts, partner: second_process.Partner) -> bool:
        def broken(*args: Any) -> Any:
            raise RuntimeError("a bug")

        distributions._read = broken  # type: ignore[assignment]  # in the child only
        facts.share_inventory(partner)
        return "inventory" in facts.__dict__

    run = paired(tmp_path, monkeypatch, fails)
    assert run.child_value is False  # left for a check to compute (and report)
    assert run.parent == run.alone
    assert run.parent_reads == 10
