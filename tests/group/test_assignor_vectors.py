"""range and roundrobin give exactly what the Java client's assignors give.

tests/group/vectors/java_assignors.json was written by tests/group/java/AssignorVectors.java,
which runs Java's RangeAssignor and RoundRobinAssignor (kafka-clients 3.9.2) on each case; the
last test reruns that program and checks the committed copy is still what it prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kproto.group.assignors import (
    CooperativeStickyAssignor,
    RangeAssignor,
    RoundRobinAssignor,
    StickyAssignor,
    Subscription,
    TopicPartition,
    decode_sticky_user_data,
    java_member_order,
)
from tests.protocol.java_interop import run_java_source

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "vectors" / "java_assignors.json"
PROGRAM = HERE / "java" / "AssignorVectors.java"
DATA = json.loads(VECTORS.read_text())
CASES = DATA["cases"]


def members_of(case: dict[str, Any]) -> dict[str, Subscription]:
    return {m["member_id"]: Subscription(tuple(m["topics"]),
                                         group_instance_id=m["group_instance_id"])
            for m in case["members"]}


def as_lists(result: Any) -> dict[str, list[list[Any]]]:
    return {m: sorted([tp.topic, tp.partition] for tp in a.partitions) for m, a in result.items()}


def expected(case: dict[str, Any], name: str) -> dict[str, list[list[Any]]]:
    return {m: sorted(parts) for m, parts in case[name].items()}


def test_enough_vectors_with_the_tricky_orderings() -> None:
    names = {c["name"] for c in CASES}
    assert len(CASES) >= 60
    assert {"static-before-dynamic", "utf16-order", "case-sensitive-ids"} <= names


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_range_matches_java(case: dict[str, Any]) -> None:
    got = RangeAssignor().assign(case["partitions"], members_of(case))
    assert as_lists(got) == expected(case, "range")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_roundrobin_matches_java(case: dict[str, Any]) -> None:
    got = RoundRobinAssignor().assign(case["partitions"], members_of(case))
    assert as_lists(got) == expected(case, "roundrobin")


def test_member_order_compares_utf16_code_units_like_java() -> None:
    case = next(c for c in CASES if c["name"] == "utf16-order")
    order = java_member_order(members_of(case))
    # U+1F600 is the surrogate pair D83D DE00, below U+FB01 in UTF-16 (not in code points).
    assert order == ["m3", "m2", "m1"]


def test_sticky_user_data_reads_what_java_writes_and_writes_it_back() -> None:
    data = DATA["user_data"]
    given = {TopicPartition(t, p) for t, p in data["assigned"]}
    java_bytes = bytes.fromhex(data["sticky_after"])
    parts, generation = decode_sticky_user_data(java_bytes)
    assert set(parts) == given and generation == data["generation"]
    ours = StickyAssignor()
    assert ours.subscription_user_data(["orders", "audit"]) is None  # as Java: none before
    from kproto.group.assignors import Assignment
    ours.on_assignment(Assignment(tuple(given)), data["generation"])
    mine = ours.subscription_user_data(["orders", "audit"])
    assert mine is not None and len(mine) == len(java_bytes)
    assert decode_sticky_user_data(mine) == (sorted(given), data["generation"])
    coop = CooperativeStickyAssignor()
    coop.on_assignment(Assignment(tuple(given)), data["generation"])
    assert coop.subscription_user_data(["orders"]) == bytes.fromhex(data["cooperative_sticky"])


@pytest.mark.interop
@pytest.mark.slow
def test_java_program_reproduces_the_committed_vectors() -> None:
    assert json.loads(run_java_source(PROGRAM)) == DATA
