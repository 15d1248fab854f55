"""Consumer groups on the three-broker cluster: the coordinator dies, the group goes on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.drivers import TRANSPORTS
from tests.group.members import Ledger, member
from tests.group.raw import committed, coordinator, produce
from tests.group.test_broker_groups import FAST, same_generation, unique

each = pytest.mark.parametrize("transport", TRANSPORTS)


def produce_all(cluster: Any, topic: str, partitions: int, count: int, tag: str,
                down: set[int]) -> None:
    for p in range(partitions):
        leader = cluster.wait_for_leader(topic, p, exclude=down)
        produce(cluster.node(leader).bootstrap, topic, p,
                [f"{tag}-{p}-{i}".encode() for i in range(count)])


@each
def test_members_follow_the_coordinator_when_its_broker_dies(transport: str,
                                                             kafka_cluster: Any) -> None:
    topic = group = unique("failover", transport)
    kafka_cluster.create_topic(topic, partitions=6)
    produce_all(kafka_cluster, topic, 6, 10, "a", set())
    ledger = Ledger()
    # A session longer than a coordinator failover (fencing after 3 s, election, loading the
    # offsets partition) even on a loaded machine: this test is about following the
    # coordinator, not about a member giving up, which skips its final commit.
    opts = dict(group_id=group, **{**FAST, "session_timeout": 20.0})
    boot = kafka_cluster.bootstrap
    first = kafka_cluster.live_nodes()[0].bootstrap
    old = coordinator(first, group)
    try:
        with member(transport, boot, [topic], ledger, "x", **opts) as x, \
                member(transport, boot, [topic], ledger, "y", **opts) as y:
            ledger.wait("x and y with three each", lambda: same_generation(ledger, ["x", "y"], 3))
            ledger.wait("the first records", lambda: ledger.complete(
                {(topic, p): 10 for p in range(6)}))
            assert coordinator(first, group) == old
            kafka_cluster.kill(old)
            produce_all(kafka_cluster, topic, 6, 10, "b", {old})
            ledger.wait("every record, with the coordinator elsewhere", lambda: ledger.complete(
                {(topic, p): 20 for p in range(6)}), timeout=120)
            ledger.wait("x and y sharing again", lambda: same_generation(ledger, ["x", "y"], 3))
        assert not ledger.violations, ledger.violations
        alive = next(n for i, n in kafka_cluster.nodes.items() if i != old).bootstrap
        new = coordinator(alive, group)
        assert new != old
        assert committed(kafka_cluster.node(new).bootstrap, group, topic, 6) == {
            p: 20 for p in range(6)}
        assert not x.errors and not y.errors
    finally:
        kafka_cluster.restart(old)
