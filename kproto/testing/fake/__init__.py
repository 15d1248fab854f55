"""An embedded fake Kafka cluster, sans-IO: request bytes and ``now`` in, response bytes out.

Theory of operation: ``FakeCluster`` (``cluster.py``) holds the state of a small cluster;
``FakeCluster.connect(host, port, now)`` gives a ``ServerConnection`` (``server.py``) that
takes a client's bytes and hands back the broker's; each Kafka API is served by its own
module under ``apis/``; ``log.py`` is a partition's log with Kafka's producer-state rules,
``groups.py`` the classic group coordinator, ``txns.py`` the transaction coordinator,
``faults.py`` the fault hooks; ``pipe.py`` links kproto clients to a cluster in-process
(``FakeCluster.bootstrap``). Time comes from the caller (``next_deadline`` and
``handle_timer`` release delayed answers); nothing here opens a socket or reads a clock.

The names below load on first use, so that an adapter can import ``pipe`` cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kproto._lazy import lazy

if TYPE_CHECKING:
    from kproto.testing.fake.cluster import Broker, FakeCluster, Partition, Topic
    from kproto.testing.fake.faults import Faults, HeldRequest, Rule
    from kproto.testing.fake.groups import GroupSettings
    from kproto.testing.fake.log import PartitionLog
    from kproto.testing.fake.server import ServerConnection

__all__ = [
    "Broker",
    "FakeCluster",
    "Faults",
    "GroupSettings",
    "HeldRequest",
    "Partition",
    "PartitionLog",
    "Rule",
    "ServerConnection",
    "Topic",
]

__getattr__ = lazy(__name__, {
    "Broker": ".cluster", "FakeCluster": ".cluster", "Partition": ".cluster",
    "Topic": ".cluster", "Faults": ".faults", "HeldRequest": ".faults", "Rule": ".faults",
    "GroupSettings": ".groups",
    "PartitionLog": ".log", "ServerConnection": ".server",
})
