"""Closing a member while the rebalance another member's leave started is running, against
real Kafka (newest and 3.9) on every transport: close is bounded and the consume ends.

The close comes at two moments of the rebalance: at once after the other member left (the
member's heartbeat is about to answer REBALANCE_IN_PROGRESS, or its session is ending), and
once its claim loops ended (it is rejoining: JoinGroup, SyncGroup, offsets, claims starting).
A close given up a join while its claims started used to hang the consume for ever
(tests/group/test_close_rebalance.py has the deterministic tests)."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from kproto.errors import ClosedError
from tests.conformance.drivers import TRANSPORTS, open_remote
from tests.group.members import Ledger, Member, member
from tests.group.raw import produce

_names = itertools.count()
FAST: dict[str, Any] = dict(session_timeout=6.0, heartbeat_interval=0.2, rebalance_timeout=5.0,
            request_timeout=10.0, auto_offset_reset="earliest")
BOUND = 10.0 + 5.0
"""A close's bound here: the LeaveGroup's request timeout, and some."""


@pytest.fixture(params=["kafka_broker", "kafka_broker_39"], ids=["newest", "3.9"])
def broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("moment", ["left", "rejoining"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_member_closed_during_the_rebalance_after_a_leave_closes_bounded(
        transport: str, moment: str, broker: Any) -> None:
    topic = group_id = f"close-{moment}-{transport}-{int(time.time() * 1000)}-{next(_names)}"
    broker.create_topic(topic, partitions=4)
    for p in range(4):
        produce(broker.bootstrap, topic, p, [f"{p}-{i}".encode() for i in range(3)])
    ledger = Ledger()
    with open_remote(transport, lambda mod: mod.ConsumerGroup(
            broker.bootstrap, group_id=group_id, **FAST)) as group:
        a = Member(transport, group, [topic], ledger, "a")
        with member("threads", broker.bootstrap, [topic], ledger, "x", group_id=group_id,
                    **FAST):
            ledger.wait("the members to share the partitions",
                        lambda: len(ledger.held_by("a")) == len(ledger.held_by("x")) == 2)
            ends = len(ledger.claim_loops["a"])
        if moment == "rejoining":
            ledger.wait("a's claim loops to end", lambda: not ledger.held_by("a")
                        and len(ledger.claim_loops["a"]) > ends)
        a._stop.set()
        start = time.monotonic()
        group.close()
        took = time.monotonic() - start
        a.thread.join(BOUND)
        assert not a.thread.is_alive(), "consume() did not end after close"
        assert took < BOUND, f"close took {took:.1f}s"
    assert all(isinstance(e, ClosedError) for e in a.errors), a.errors
    assert not ledger.violations
