"""Testing aids for applications that use kproto: an embedded fake Kafka cluster.

``FakeCluster`` is a sans-IO Kafka cluster (see ``kproto.testing.fake``). Give any kproto
client its ``bootstrap`` (a ``fake://`` address) to reach it in-process on every transport, or
serve it on 127.0.0.1 with an adapter's ``serve_fake`` for other clients; a pure test can also
``connect`` to its brokers and move bytes and time itself. Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kproto._lazy import lazy

if TYPE_CHECKING:
    from kproto.testing.fake import (
        Broker,
        FakeCluster,
        Faults,
        GroupSettings,
        HeldRequest,
        Partition,
        PartitionLog,
        Rule,
        ServerConnection,
        Topic,
    )
    from kproto.testing.fake.pipe import changing

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
    "changing",
]

__getattr__ = lazy(__name__, {name: ".fake" for name in __all__ if name != "changing"}
                   | {"changing": ".fake.pipe"})
