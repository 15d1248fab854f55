"""An embedded fake Kafka cluster, sans-IO: request bytes and ``now`` in, response bytes out.

Theory of operation: ``FakeCluster`` (``cluster.py``) holds the state of a small cluster;
``FakeCluster.connect(host, port, now)`` gives a ``ServerConnection`` (``server.py``) that
takes a client's bytes and hands back the broker's; each Kafka API is served by its own
module under ``apis/``; ``log.py`` is a partition's log with Kafka's producer-state rules,
``groups.py`` the classic group coordinator, ``txns.py`` the transaction coordinator,
``faults.py`` the fault hooks. Time comes from the caller (``next_deadline`` and
``handle_timer`` release delayed answers); nothing here opens a socket or reads a clock.
"""

from __future__ import annotations

from kproto.testing.fake.cluster import Broker, FakeCluster, Partition, Topic
from kproto.testing.fake.faults import Faults, Rule
from kproto.testing.fake.groups import GroupSettings
from kproto.testing.fake.log import PartitionLog
from kproto.testing.fake.server import ServerConnection

__all__ = [
    "Broker",
    "FakeCluster",
    "Faults",
    "GroupSettings",
    "Partition",
    "PartitionLog",
    "Rule",
    "ServerConnection",
    "Topic",
]
