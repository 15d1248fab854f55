"""The embedded fake cluster behind the same interface as ``KafkaCluster``, for running the
behaviour suites with ``KPROTO_TARGET=fake`` (or ``pytest --target=fake``).

The cluster is served on 127.0.0.1 (``kproto_threads.fake.serve``), so every client a test
uses (kproto on any transport, confluent-kafka, the harness's own wire helpers) reaches it
as it would a broker; it is set up as the harness configures its brokers (automatic topic
creation, one partition by default, replication factor = brokers). What only a real broker
has (its logs, killing a JVM, the Java tools) raises ``Unavailable``, which the fixtures
turn into a skip with the reason. ``.cluster`` is the FakeCluster itself.

As on the harness's brokers, each broker has a FAULTY listener (its own port) advertised at
the address of a ``FaultProxy`` forwarding to it, so a client bootstrapped through
``node.proxy`` keeps talking through the proxies (``.proxy``, ``.proxies``). A
SASL_PLAINTEXT listener (its own port per broker) requires the harness's SASL user with
PLAIN or SCRAM (``.sasl_users``); PLAINTEXT and FAULTY need no authentication.
"""

from __future__ import annotations

from typing import NoReturn

from . import wire
from .config import SASL_USER, SASL_WRONG_PASSWORD
from .external import ExternalKafka, ExternalNode, Unavailable
from .jars import HarnessError
from .proxy import FaultProxy

REASON = "needs a real broker (KPROTO_TARGET=fake runs on the embedded fake cluster)"


class Listeners(dict[str, tuple[str, int]]):
    """PLAINTEXT, FAULTY and SASL_PLAINTEXT: asking for another listener (TLS) is
    Unavailable, so the test skips with the reason."""

    def __missing__(self, name: str) -> NoReturn:
        raise Unavailable(f"the {name} listener {REASON}")


class FakeNode(ExternalNode):
    def __init__(self, node_id: int, host: str, port: int, proxy: FaultProxy,
                 sasl_port: int) -> None:
        super().__init__(node_id, host, port)
        self.listeners = Listeners(self.listeners, FAULTY=proxy.address,
                                   SASL_PLAINTEXT=(host, sasl_port))
        self._proxy = proxy

    @property
    def proxy(self) -> FaultProxy:
        """The FaultProxy in front of this broker's FAULTY listener."""
        return self._proxy

    def _unavailable(self, what: str) -> NoReturn:
        raise Unavailable(f"{what} {REASON}")


class FakeKafka(ExternalKafka):
    """A served FakeCluster of ``size`` brokers; ``close()`` stops serving it."""

    external = True
    fake = True

    def __init__(self, size: int) -> None:
        import kproto_threads.fake
        from kproto.testing import FakeCluster, GroupSettings

        # As the harness configures its brokers (tests/harness/config.py): sessions down to
        # 1 s (group.min.session.timeout.ms), no initial rebalance delay; the SASL user
        # authenticates on SASL_PLAINTEXT only.
        user, password = SASL_USER
        self.cluster = FakeCluster(size, default_replication_factor=size,
                                   sasl_users={user: password},
                                   sasl_listeners=("SASL_PLAINTEXT",),
                                   group_settings=GroupSettings(min_session_timeout=1.0,
                                                                initial_rebalance_delay=0.0))
        self._served = kproto_threads.fake.serve(self.cluster,
                                                 listeners=("FAULTY", "SASL_PLAINTEXT"))
        # Not a client's thread: tests that check a client left no "kproto-..." thread behind
        # must not see the server that outlives them.
        self._served._thread.name = "fake-cluster-server"
        self._proxies: dict[int, FaultProxy] = {}
        for node_id, port in self._served.ports["FAULTY"].items():
            proxy = FaultProxy("127.0.0.1", port, name=f"faulty-fake{size}-{node_id}")
            self._proxies[node_id] = proxy
            self._served.advertise("FAULTY", node_id, *proxy.address)
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
            out[i] = node = FakeNode(i, broker.host, broker.port, self._proxies[i],
                                     self._served.ports["SASL_PLAINTEXT"][i])
            node.alive = broker.up
        return out

    @property
    def listeners(self) -> dict[str, tuple[str, int]]:
        return self.nodes[min(self._proxies)].listeners

    @property
    def sasl_users(self) -> dict[str, tuple[str, str]]:
        """The harness's user and password, by mechanism (PLAIN and SCRAM; no OAUTHBEARER)."""
        return {m: SASL_USER for m in self.cluster.sasl_mechanisms}

    @property
    def sasl_bad_credentials(self) -> tuple[str, str]:
        return (SASL_USER[0], SASL_WRONG_PASSWORD)

    def bootstrap_for(self, listener: str) -> str:
        return ",".join(f"{h}:{p}" for n in self.nodes.values() for h, p in [n.listeners[listener]])

    @property
    def proxy(self) -> FaultProxy:
        """The FaultProxy of the first broker's FAULTY listener."""
        return self._proxies[min(self._proxies)]

    @property
    def proxies(self) -> dict[int, FaultProxy]:
        return dict(self._proxies)

    def live_nodes(self) -> list[ExternalNode]:
        return [n for n in self.nodes.values() if n.alive]

    def wait_for_brokers(self, node_ids: set[int] | None = None, timeout: float = 60.0) -> None:
        """The fake's metadata changes with a stop or start at once: check it lists
        ``node_ids`` (default: the running brokers)."""
        want = node_ids if node_ids is not None else {n.node_id for n in self.live_nodes()}
        seen = set(self.metadata([]).brokers)
        if seen != want:
            raise HarnessError(f"{self.name}: metadata lists {sorted(seen)}, not {sorted(want)}")

    def _conn(self, timeout: float = 10.0) -> wire.Conn:
        """A running broker's connection (a stopped one's port accepts, then closes)."""
        node = self.live_nodes()[0]
        host, port = node.listeners["PLAINTEXT"]
        return wire.Conn(host, port, timeout=timeout)

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
        """Hand the cluster to the next test with every broker up and every proxy
        forwarding normally."""
        for proxy in self._proxies.values():
            proxy.restore()
        for node_id, broker in self.cluster.brokers.items():
            if not broker.up:
                self.restart(node_id)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for proxy in self._proxies.values():
                proxy.close()
            self._served.close()
