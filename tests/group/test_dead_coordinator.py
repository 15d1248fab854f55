"""A consumer group whose coordinator's broker dies for good goes on consuming and committing:
members find the new coordinator through a live broker. The killed broker stays down."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conformance.drivers import TRANSPORTS
from tests.group.members import Ledger, member
from tests.group.raw import committed, coordinator
from tests.group.test_broker_groups import unique
from tests.group.test_cluster_groups import produce_all
from tests.producer.test_dead_leader import wait_full_isr

PARTITIONS = 6
# Defaults but for reading from the start and committing often; metadata is refreshed only
# when something asks for it (metadata_max_age keeps its default of 300 s).
OPTIONS: dict[str, Any] = dict(auto_offset_reset="earliest", auto_commit_interval=1.0, heartbeat_interval=1.0,
               session_timeout=20.0)


def wait_committed(cluster: Any, group: str, topic: str, want: int, exclude: set[int],
                   timeout: float = 90.0) -> dict[int, int]:
    """Until the group's coordinator (not in ``exclude``) holds ``want`` for every partition."""
    deadline = time.monotonic() + timeout
    seen: dict[int, int] = {}
    while True:
        alive = next(n for n in cluster.live_nodes() if n.node_id not in exclude)
        node = coordinator(alive.bootstrap, group)
        if node not in exclude:
            seen = committed(cluster.node(node).bootstrap, group, topic, PARTITIONS)
            if seen == {p: want for p in range(PARTITIONS)}:
                return seen
        assert time.monotonic() < deadline, f"committed {seen}, want {want} everywhere"
        time.sleep(0.2)  # commits are periodic: look again


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_group_consumes_and_commits_while_its_coordinator_stays_dead(
        transport: str, kafka_cluster: Any) -> None:
    topic = group = unique("dead-coordinator", transport)
    kafka_cluster.create_topic(topic, partitions=PARTITIONS)
    produce_all(kafka_cluster, topic, PARTITIONS, 10, "a", set())
    ledger = Ledger()
    boot = kafka_cluster.bootstrap
    victim = coordinator(kafka_cluster.live_nodes()[0].bootstrap, group)
    with member(transport, boot, [topic], ledger, "x", group_id=group, **OPTIONS) as x:
        ledger.wait("the first records", lambda: ledger.complete(
            {(topic, p): 10 for p in range(PARTITIONS)}))
        wait_committed(kafka_cluster, group, topic, 10, set())
        wait_full_isr(kafka_cluster, [topic, "__consumer_offsets"])
        kafka_cluster.kill(victim)
        produce_all(kafka_cluster, topic, PARTITIONS, 10, "b", {victim})
        ledger.wait("every record, with the coordinator gone", lambda: ledger.complete(
            {(topic, p): 20 for p in range(PARTITIONS)}), timeout=90)
        # Committed by the running member (periodically), not only when it closes.
        wait_committed(kafka_cluster, group, topic, 20, {victim})
        assert not kafka_cluster.node(victim).alive
    assert not ledger.violations, ledger.violations
    assert not x.errors, x.errors
    assert not kafka_cluster.node(victim).alive  # it stayed down throughout
