"""Consumer groups against a real broker, the same behaviour through every transport."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.conformance.drivers import TRANSPORTS
from tests.group.members import Ledger, member
from tests.group.raw import committed, produce

each = pytest.mark.parametrize("transport", TRANSPORTS)
_names = itertools.count()

FAST = dict(session_timeout=6.0, heartbeat_interval=0.5, rebalance_timeout=10.0,
            auto_offset_reset="earliest", auto_commit_interval=1.0, metadata_max_age=5.0)


def unique(kind: str, transport: str) -> str:
    return f"grp-{kind}-{transport}-{next(_names)}"


def fill(bootstrap: str, topic: str, partitions: int, count: int, tag: str) -> None:
    for p in range(partitions):
        produce(bootstrap, topic, p, [f"{tag}-{p}-{i}".encode() for i in range(count)])


@each
def test_one_member_consumes_commits_and_leaves(transport: str, kafka_broker: Any) -> None:
    topic = group = unique("one", transport)
    kafka_broker.create_topic(topic, partitions=4)
    fill(kafka_broker.bootstrap, topic, 4, 10, "a")
    ledger = Ledger()
    ends = {(topic, p): 10 for p in range(4)}
    with member(transport, kafka_broker.bootstrap, [topic], ledger, "solo", group_id=group,
                **FAST) as m:
        ledger.wait("every record", lambda: ledger.complete(ends))
        assert ledger.held_by("solo") == set(ends)
    assert not m.errors and not ledger.violations
    assert committed(kafka_broker.bootstrap, group, topic, 4) == {p: 10 for p in range(4)}
