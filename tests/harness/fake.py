"""The embedded fake cluster behind the same interface as ``KafkaCluster``, for running the
behaviour suites with ``KPROTO_TARGET=fake`` (or ``pytest --target=fake``).

The cluster is served on 127.0.0.1 (``kproto_threads.fake.serve``), so every client a test
uses (kproto on any transport, confluent-kafka, the harness's own wire helpers) reaches it
as it would a broker; it is set up as the harness configures its brokers (automatic topic
creation, one partition by default, replication factor = brokers). What only a real broker
has (its logs, the fault proxy, killing a JVM, the Java tools) raises ``Unavailable``, which
the fixtures turn into a skip with the reason. ``.cluster`` is the FakeCluster itself.
"""

from __future__ import annotations

from typing import NoReturn

from .external import ExternalKafka, ExternalNode, Unavailable

REASON = "needs a real broker (KPROTO_TARGET=fake runs on the embedded fake cluster)"


class FakeNode(ExternalNode):
    def _unavailable(self, what: str) -> NoReturn:
        raise Unavailable(f"{what} {REASON}")


class FakeKafka(ExternalKafka):
    """A served FakeCluster of ``size`` brokers; ``close()`` stops serving it."""

    external = True
    fake = True

    def __init__(self, size: int) -> None:
        import kproto_threads.fake
        from kproto.testing import FakeCluster

        self.cluster = FakeCluster(size, default_replication_factor=size)
        self._served = kproto_threads.fake.serve(self.cluster)
        super().__init__(self._served.bootstrap, None)
        self.name = f"fake cluster of {size} at {self.bootstrap}"
        self.closed = False

    def _unavailable(self, what: str) -> NoReturn:
        raise Unavailable(f"{what} {REASON}")

    @property
    def nodes(self) -> dict[int, ExternalNode]:
        """Every broker of the cluster, up or stopped (``alive`` says which)."""
        out: dict[int, ExternalNode] = {}
        for i, broker in sorted(self.cluster.brokers.items()):
            out[i] = node = FakeNode(i, broker.host, broker.port)
            node.alive = broker.up
        return out

    # -- a broker dies and comes back: the fake cluster's own stop/start -----------------------

    def kill(self, node_id: int) -> None:
        self.stop(node_id)

    def stop(self, node_id: int, timeout: float = 0) -> bool:
        from kproto.testing import changing

        with changing(self.cluster) as now:
            self.cluster.stop_broker(node_id, now)
        return True

    def restart(self, node_id: int, timeout: float = 0) -> None:
        from kproto.testing import changing

        with changing(self.cluster) as now:
            self.cluster.start_broker(node_id, now)

    def restart_stopped(self) -> None:
        """Hand the cluster to the next test with every broker up."""
        for node_id, broker in self.cluster.brokers.items():
            if not broker.up:
                self.restart(node_id)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._served.close()
