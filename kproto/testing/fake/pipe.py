"""How adapters reach a fake cluster, sans-IO: in-process links, and serving it on sockets.

Theory of operation: ``FakeCluster.bootstrap`` registers a cluster under a ``fake://name``
address. An adapter whose bootstrap is such an address makes a ``FakeLink`` instead of opening
sockets, hands ``link.bootstrap`` (the cluster's broker addresses) to its ``ClientCore`` and
plugs the link into its loop at three points:

- ``link.pump(core, now)`` first thing whenever it would perform the engine's outputs: the link
  takes every ``OpenConnection``/``CloseConnection`` action and every pending write itself,
  pairing each engine connection with a ``ServerConnection`` and moving bytes both ways until
  neither side has more (bounded per call; when the bound is hit it asks to be called again);
- ``link.next_deadline(core)`` instead of ``core.next_deadline()`` when arming its one timer:
  the earlier of the engine's and the cluster's deadlines, in the adapter's clock;
- ``link.close(core, now)`` when the loop shuts down.

An adapter that serves the cluster on real sockets for other clients (``serve`` in
``transports/*/fake.py``) drives a ``FakeServer`` the same way: it advertises the address it
bound for each broker, and reports accepted connections, bytes read and closed sockets; the
server hands back what to write and which sockets to close.

Several clients (several loops, maybe on several threads) share one cluster through its
``Exchange``: one lock (made by the first adapter that links, from the factory it passes;
the pure core makes no lock), the cluster's clock, and the links, so that bytes one client's
request produces for another's connection (a Produce answering a waiting Fetch, a join
completing a rebalance) wake that client's loop through the ``notify`` callable its adapter
gave (it must only schedule a pump, never pump inline).

Clocks: each adapter has its own (trio's starts at a random offset). A link is given the
adapter's ``now`` and a shared monotonic reading when it is made, and maps its clock onto the
cluster's by that fixed offset; the cluster's time never goes backwards.
"""

from __future__ import annotations

import contextlib
import itertools
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from kproto.errors import ConfigurationError
from kproto.events import CloseConnection, OpenConnection

if TYPE_CHECKING:
    from kproto.engine.client import ClientCore
    from kproto.testing.fake.cluster import FakeCluster
    from kproto.testing.fake.server import ServerConnection

__all__ = ["SCHEME", "Exchange", "FakeLink", "FakeServer", "changing", "exchange_of", "link_for",
           "register", "server_for"]

SCHEME = "fake://"
_ROUNDS = 64  # request/response rounds per pump before yielding to the adapter's loop

_names = itertools.count(1)
_registry: weakref.WeakValueDictionary[str, FakeCluster] = weakref.WeakValueDictionary()


def register(cluster: FakeCluster, name: str | None = None) -> str:
    """The cluster's ``fake://name`` address (made once; a later call returns the same)."""
    ex = exchange_of(cluster)
    if ex.address is None:
        name = name or f"cluster-{next(_names)}"
        if _registry.get(name) not in (None, cluster):
            raise ConfigurationError(f"a fake cluster is already registered as {name!r}")
        _registry[name] = cluster
        ex.address = SCHEME + name
    return ex.address


def exchange_of(cluster: FakeCluster) -> Exchange:
    """The cluster's exchange (kept on the cluster, so both go together)."""
    if cluster.exchange is None:
        cluster.exchange = Exchange(cluster)
    return cluster.exchange


def _lookup(bootstrap: Any) -> FakeCluster | None:
    items = [bootstrap] if isinstance(bootstrap, str) else list(bootstrap)
    fake = [i for i in items if isinstance(i, str) and i.strip().startswith(SCHEME)]
    if not fake:
        return None
    if len(items) != 1:
        raise ConfigurationError("a fake:// bootstrap address must be the only one")
    name = fake[0].strip()[len(SCHEME):]
    cluster = _registry.get(name)
    if cluster is None:
        raise ConfigurationError(f"no fake cluster is registered as {fake[0].strip()!r} "
                                 "(use the cluster's .bootstrap while it is alive)")
    return cluster


def link_for(bootstrap: Any, now: float, shared_now: float, notify: Callable[[], None],
             make_lock: Callable[[], Any]) -> FakeLink | None:
    """A link when ``bootstrap`` is a ``fake://`` address, else None.

    ``now`` is the adapter's engine clock and ``shared_now`` a monotonic reading every adapter
    takes the same way (``time.monotonic()``), read together; ``make_lock`` makes the
    exchange's lock if it has none yet (a ``threading.RLock``)."""
    cluster = _lookup(bootstrap)
    if cluster is None:
        return None
    return FakeLink(exchange_of(cluster), now - shared_now, notify, make_lock)


def server_for(cluster: FakeCluster, now: float, shared_now: float,
               notify: Callable[[], None], make_lock: Callable[[], Any]) -> FakeServer:
    """A ``FakeServer`` for an adapter that serves ``cluster`` (arguments as ``link_for``)."""
    return FakeServer(exchange_of(cluster), now - shared_now, notify, make_lock)


@contextlib.contextmanager
def changing(cluster: FakeCluster) -> Iterator[float]:
    """``with changing(cluster) as now:`` change the cluster from the test's own thread (stop a
    broker, move a leader, add faults) while clients are linked to it: holds the exchange's
    lock, gives the cluster's current time, and wakes every linked client afterwards."""
    ex = exchange_of(cluster)
    with ex.lock:
        yield ex.now
    ex.notify_all()


class Exchange:
    """What the links to one cluster share. See the module docstring."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.address: str | None = None
        self._lock: dict[str, Any] = {}
        self.now = 0.0
        self.links: list[_Member] = []

    @property
    def lock(self) -> Any:
        """The lock every member holds around the cluster (none until an adapter gave one)."""
        lock = self._lock.get("lock")
        return contextlib.nullcontext() if lock is None else lock

    def ensure_lock(self, make_lock: Callable[[], Any]) -> None:
        # dict.setdefault is atomic: two adapters linking at once on two threads get one lock.
        self._lock.setdefault("lock", make_lock())

    def notify_all(self, but: _Member | None = None) -> None:
        for link in list(self.links):
            if link is not but:
                link.notify()

    def wake_others(self, source: _Member) -> None:
        """Wake every other link whose connections have bytes or closed."""
        for link in list(self.links):
            if link is not source and link.has_news():
                link.notify()


class _Member:
    """What a link and a server share: a place in the exchange, a clock offset, connections."""

    def __init__(self, exchange: Exchange, offset: float, notify: Callable[[], None],
                 make_lock: Callable[[], Any]) -> None:
        self.exchange = exchange
        self.cluster = exchange.cluster
        self.offset = offset
        self.notify = notify
        self.conns: dict[int, ServerConnection] = {}
        self.closed = False
        exchange.ensure_lock(make_lock)
        with exchange.lock:
            exchange.links.append(self)

    def _cluster_now(self, now: float) -> float:
        ex = self.exchange
        ex.now = max(ex.now, now - self.offset)
        return ex.now

    def has_news(self) -> bool:
        return any(c.has_output or c.closed for c in self.conns.values())

    def cluster_deadline(self) -> float | None:
        """The cluster's next deadline, in the adapter's clock."""
        with self.exchange.lock:
            theirs = self.cluster.next_deadline()
        return None if theirs is None else theirs + self.offset

    def _fire_due(self, cnow: float) -> None:
        due = self.cluster.next_deadline()
        if due is not None and due <= cnow:
            self.cluster.handle_timer(cnow)

    def _leave(self, now: float) -> None:
        """End every connection and leave the exchange (under its lock)."""
        self.closed = True
        cnow = self._cluster_now(now)
        for conn in self.conns.values():
            conn.connection_lost(cnow)
        self.conns.clear()
        if self in self.exchange.links:
            self.exchange.links.remove(self)
        self.cluster.wake(cnow)


class FakeLink(_Member):
    """One client's connections to a fake cluster. See the module docstring."""

    @property
    def bootstrap(self) -> str:
        """The cluster's broker addresses, for the engine's bootstrap list."""
        return ",".join(f"{b.host}:{b.port}" for b in self.cluster.brokers.values())

    def next_deadline(self, core: ClientCore) -> float | None:
        """The earlier of the engine's and the cluster's deadlines, in the adapter's clock."""
        theirs = self.cluster_deadline()
        ours = core.next_deadline()
        if theirs is None:
            return ours
        return theirs if ours is None else min(ours, theirs)

    def pump(self, core: ClientCore, now: float) -> None:
        """Perform the engine's outputs against the cluster; see the module docstring."""
        if self.closed:
            return
        ex = self.exchange
        with ex.lock:
            cnow = self._cluster_now(now)
            self._fire_due(cnow)
            for _ in range(_ROUNDS):
                if not self._round(core, now, cnow):
                    break
            else:
                self.notify()  # more to move: come back after the loop's other work
            ex.wake_others(self)

    def _round(self, core: ClientCore, now: float, cnow: float) -> bool:
        cluster = self.cluster
        conns = self.conns
        progressed = False
        while (action := core.next_action()) is not None:
            progressed = True
            if isinstance(action, OpenConnection):
                conn = cluster.connect(action.host, action.port, cnow)
                if conn is None:
                    core.connection_lost(action.conn_id, "connection refused", now)
                else:
                    conns[action.conn_id] = conn
                    core.connection_made(action.conn_id, now)
            elif isinstance(action, CloseConnection):
                gone = conns.pop(action.conn_id, None)
                if gone is not None:
                    gone.connection_lost(cnow)
        for conn_id, data in core.pending_writes():
            target = conns.get(conn_id)
            if target is not None:
                progressed = True
                target.receive_data(data, cnow)
        for conn_id, conn in list(conns.items()):
            out = conn.data_to_send()
            if out:
                progressed = True
                core.receive_data(conn_id, out, now)
            if conn.closed:
                progressed = True
                del conns[conn_id]
                core.connection_lost(conn_id, conn.close_reason or "closed by the broker", now)
        return progressed

    def close(self, core: ClientCore, now: float) -> None:
        """The loop is shutting down: end its connections and leave the exchange."""
        if self.closed:
            return
        with self.exchange.lock:
            self.pump(core, now)
            self._leave(now)
        self.exchange.notify_all()


class FakeServer(_Member):
    """The cluster served to other clients over an adapter's sockets, sans-IO.

    The adapter listens once per broker, then ``advertise``s the address it bound (so that
    Metadata names it), ``accept``s each connection (an id, or None when that broker is
    stopped: close the socket), feeds what it reads to ``receive``, writes what ``pump``
    hands back after every input and at ``next_deadline`` (closing the sockets it names), and
    reports a socket that closed with ``lost``. ``notify`` (given by the adapter; it must
    only schedule a pump) is called when another client's request produced bytes for these
    connections.
    """

    def advertise(self, node_id: int, host: str, port: int, listener: str = "") -> None:
        """``listener`` (not ""): the address advertised to connections accepted on it."""
        with self.exchange.lock:
            broker = self.cluster.brokers[node_id]
            if listener:
                broker.listeners[listener] = (host, port)
            else:
                broker.host, broker.port = host, port

    @property
    def bootstrap(self) -> str:
        """``host:port,...`` of every broker, as advertised."""
        return ",".join(f"{b.host}:{b.port}" for b in self.cluster.brokers.values())

    def accept(self, node_id: int, now: float, peer: str = "127.0.0.1",
               listener: str = "") -> int | None:
        with self.exchange.lock:
            conn = self.cluster.connect_node(node_id, self._cluster_now(now), "/" + peer,
                                             listener)
            if conn is None:
                return None
            self.conns[conn.conn_id] = conn
            return conn.conn_id

    def receive(self, conn_id: int, data: bytes, now: float) -> None:
        with self.exchange.lock:
            conn = self.conns.get(conn_id)
            if conn is not None:
                conn.receive_data(data, self._cluster_now(now))

    def lost(self, conn_id: int, now: float) -> None:
        with self.exchange.lock:
            conn = self.conns.pop(conn_id, None)
            if conn is not None:
                conn.connection_lost(self._cluster_now(now))
                self.cluster.wake(self._cluster_now(now))

    def pump(self, now: float) -> list[tuple[int, bytes, bool]]:
        """``(conn_id, bytes to write, close after writing)`` for every connection with news;
        fires the cluster's timers when due and wakes the other clients of the cluster."""
        out: list[tuple[int, bytes, bool]] = []
        with self.exchange.lock:
            if self.closed:
                return out
            self._fire_due(self._cluster_now(now))
            for conn_id, conn in list(self.conns.items()):
                data = conn.data_to_send()
                if data or conn.closed:
                    out.append((conn_id, data, conn.closed))
                if conn.closed:
                    del self.conns[conn_id]
            self.exchange.wake_others(self)
        return out

    def next_deadline(self) -> float | None:
        return self.cluster_deadline()

    def close(self, now: float) -> None:
        """Stop serving: every served connection ends; the brokers keep their addresses."""
        if self.closed:
            return
        with self.exchange.lock:
            self._leave(now)
        self.exchange.notify_all()
