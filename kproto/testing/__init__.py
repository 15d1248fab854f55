"""Testing aids for applications that use kproto: an embedded fake Kafka cluster.

``FakeCluster`` is a sans-IO Kafka cluster (see ``kproto.testing.fake``). Give any kproto
client its ``bootstrap`` (a ``fake://`` address) to reach it in-process on every transport, or
serve it on 127.0.0.1 with an adapter's ``serve_fake`` for other clients; a pure test can also
``connect`` to its brokers and move bytes and time itself. Names load on first use.

For property-based tests (Hypothesis, the ``kproto[testing]`` extra): ``strategies`` draws
messages, headers, keys, values, record batches and fault schedules, and
``SimulatedKafkaMachine`` drives an application against the simulated cluster
(``kproto.testing.sim``); importing this package does not import Hypothesis.
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
    from kproto.testing.stateful import SimulatedKafkaMachine

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
    "SimulatedKafkaMachine",
    "Topic",
    "changing",
]

__getattr__ = lazy(__name__, {name: ".fake" for name in __all__
                              if name not in ("changing", "SimulatedKafkaMachine")}
                   | {"changing": ".fake.pipe", "SimulatedKafkaMachine": ".stateful"})
