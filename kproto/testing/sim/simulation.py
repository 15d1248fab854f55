"""The simulator: client engines, the fake cluster and a simulated network under one seeded
scheduler and one simulated clock.

Theory of operation: a ``Simulation`` owns the ``FakeCluster``, the client processes
(``Host``: one ``ClientCore`` and the actor that plays the application on it), the links
between them (``network.Link``) and a heap of timed callbacks. Its loop takes the earliest
of: the heap's next entry, any running engine's ``next_deadline()``, the cluster's; moves the
clock there; runs every callback due, fires due timers, and then *pumps*: every engine's
actions (connections opened or closed), writes and events, and every broker connection's
answers, each write becoming a delivery on the heap (``network.py`` says when). Nothing
sleeps and nothing reads a clock, so a run is a pure function of its seed: every random
choice comes from ``random.Random``s derived from it, in an order fixed by the code.

Faults come from a ``FaultMix``: per delivery (spikes, cuts) in ``_send``; timed ones
(resets, broker stops, leader and coordinator moves, unclean leader changes, frozen
processes, crashed group members) from Poisson processes started by ``_start_faults``.
A run has a *storm* (workload and faults), a *calm* (faults off, brokers back, the
applications finish) and an end (every application closes; ``History`` gets the logs).

A frozen host is a process that stopped (a GC pause, a suspended VM): its timers do not fire
and what arrives for it waits; when it thaws its clock has jumped forward. Its operations'
bounds are extended by the time it was frozen.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.errors import KprotoError
from kproto.events import (
    CloseConnection,
    Event,
    OpenConnection,
    OperationCompleted,
    OperationFailed,
)
from kproto.testing.fake.cluster import FakeCluster
from kproto.testing.fake.groups import GroupSettings
from kproto.testing.sim.faults import FaultMix
from kproto.testing.sim.invariants import History
from kproto.testing.sim.network import Link
from kproto.testing.sim.trace import Trace

__all__ = ["Host", "Scenario", "Simulation", "SimulationStuck"]

TOPIC = "t"
OUT = "o"
"""Where transformers write (``Scenario.transformers``)."""
ALL: Any = object()
"""``Simulation.at``'s default ``touches``: the callback may call any host's engine."""


class SimulationStuck(KprotoError):
    """The simulation stopped making progress: the clock did not move for too many steps
    (an engine or the cluster keeps asking to be woken at a time that has passed)."""


@dataclass(frozen=True)
class Scenario:
    """Who runs in a simulation, for how long, and with which client options."""

    brokers: int = 3
    partitions: int = 3
    producers: int = 1
    """Idempotent producers (acks=all)."""
    plain_producers: int = 0
    """Producers with idempotence off (acks=all): retries may duplicate, never lose."""
    transactional: int = 1
    readers: int = 1
    """read_committed partition consumers reading every partition from the oldest offset."""
    seekers: int = 0
    """More readers, each moving a partition's stream back to an offset it passed now and
    then during the storm."""
    members: int = 2
    """Members of one consumer group."""
    static_members: int = 0
    """More members of that group, each with a group instance id (KIP-345); a crashed one
    comes back with the same id."""
    transformers: int = 0
    """Consume-transform-produce members of a second group, exactly once: each record of t
    they take is written to topic o in a transaction with the group's offsets."""
    static_transformers: int = 0
    """More transformers, each with a group instance id (KIP-345)."""
    storm: float = 60.0
    """Simulated seconds of workload and faults."""
    calm: float = 60.0
    """Simulated seconds after the storm: faults off, applications finish."""
    rate: float = 5.0
    """Records per second per producer during the storm."""
    options: dict[str, Any] = field(default_factory=lambda: dict(
        request_timeout=5.0, connect_timeout=3.0, delivery_timeout=30.0, produce_timeout=5.0,
        linger=0.005, metadata_max_age=15.0, metadata_max_wait=20.0, retry_backoff=0.1,
        retry_backoff_max=1.0, reconnect_backoff=0.05, reconnect_backoff_max=1.0,
        transaction_timeout=20.0, max_block=20.0, session_timeout=6.0,
        heartbeat_interval=1.0, rebalance_timeout=8.0, auto_commit_interval=2.0,
        fetch_max_wait=0.5, auto_offset_reset="earliest"))
    """Options every client gets (each actor adds its own)."""

    def __post_init__(self) -> None:
        for name in ("brokers", "partitions"):
            if getattr(self, name) < 1:
                raise ValueError(f"Scenario.{name} must be >= 1")
        for name in ("producers", "plain_producers", "transactional", "readers", "seekers",
                     "members", "static_members", "transformers", "static_transformers"):
            if getattr(self, name) < 0:
                raise ValueError(f"Scenario.{name} must be >= 0")
        for name in ("storm", "calm", "rate"):
            if getattr(self, name) < 0:
                raise ValueError(f"Scenario.{name} must be >= 0")


class Host:
    """One client process: an engine, the application (``actor``) on it, its connections."""

    def __init__(self, sim: Simulation, name: str, options: dict[str, Any]) -> None:
        self.sim = sim
        self.name = name
        cluster = sim.cluster
        bootstrap = ",".join(f"{b.host}:{b.port}" for b in cluster.brokers.values())
        self.config = Config(**options)
        self.core = ClientCore(bootstrap, self.config,
                               rng=random.Random(sim.rng.getrandbits(64)), now=sim.now)
        self.links: dict[int, Link] = {}
        self.alive = True
        self.frozen_until = -math.inf
        self.frozen_total = 0.0
        self.actor: Any = None
        self.dirty = True
        """Its engine may have outputs: something called it since its last pump found none.
        Only dirty hosts are pumped (a clean engine has nothing to give)."""
        self.stale = True
        """Its engine's timers may have changed since ``deadline`` was read."""
        self.deadline: float | None = None
        self._ops: dict[int, tuple[str, float, float, float, Callable[[bool, Any], None]]] = {}

    @property
    def running(self) -> bool:
        return self.alive and self.sim.now >= self.frozen_until

    def op(self, kind: str, token: int, bound: float,
           done: Callable[[bool, Any], None] | None = None) -> int:
        """Watch a user operation: it must settle within ``bound`` (plus frozen time);
        ``done(ok, value_or_error)`` runs when it does."""
        now = self.sim.now
        self._ops[token] = (kind, now, bound, self.frozen_total, done or _ignore)
        return token

    def settle(self, token: int, ok: bool, value: Any) -> bool:
        """An operation's outcome arrived (False when it was not watched)."""
        entry = self._ops.pop(token, None)
        if entry is None:
            return False
        kind, start, bound, frozen, done = entry
        took = self.sim.now - start - (self.frozen_total - frozen)
        self.sim.history.operation(self.name, kind, start, took, bound, ok)
        if not ok:
            self.sim.trace.add(self.sim.now, self.name, f"{kind} failed: {value!r}")
        done(ok, value)
        return True

    def unsettled(self) -> list[tuple[str, float, float, float]]:
        """(kind, start, time taken so far, bound) of every operation still open."""
        now = self.sim.now
        return [(kind, start, now - start - (self.frozen_total - frozen), bound)
                for kind, start, bound, frozen, _ in self._ops.values()]

    def forget_ops(self) -> None:
        self._ops.clear()


def _ignore(ok: bool, value: Any) -> None:
    return None


def _link_id(link: Link) -> int:
    return link.id


class Simulation:
    """One seeded run; see the module docstring. ``run()`` returns the ``History``."""

    STEP_LIMIT = 20_000
    """Scheduler steps allowed without the clock moving before ``SimulationStuck``."""

    def __init__(self, seed: int, scenario: Scenario | None = None,
                 faults: FaultMix | None = None, *, actors: Any = None) -> None:
        self.seed = seed
        self.scenario = scenario or Scenario()
        self.mix = faults if faults is not None else FaultMix()
        self.calm_mix = FaultMix.none().with_(latency=self.mix.latency, jitter=self.mix.jitter)
        self.active = self.mix
        self.rng = random.Random(seed)
        self.net_rng = random.Random(self.rng.getrandbits(64))
        self.fault_rng = random.Random(self.rng.getrandbits(64))
        self.app_rng = random.Random(self.rng.getrandbits(64))
        broker_rng = random.Random(self.rng.getrandbits(64))
        self.now = 0.0
        self.trace = Trace()
        self.history = History()
        self.cluster = FakeCluster(self.scenario.brokers,
                                   rng=random.Random(self.rng.getrandbits(64)),
                                   group_settings=GroupSettings())
        self.cluster.create_topic(TOPIC, self.scenario.partitions)
        if self.scenario.transformers or self.scenario.static_transformers:
            self.cluster.create_topic(OUT, self.scenario.partitions)
        self.cluster.outbox = set()
        self.cluster.faults.seeded(broker_rng, error_rate=self.mix.broker_errors,
                                   drop_rate=self.mix.broker_drops,
                                   delay_rate=self.mix.broker_delays, max_delay=2.0)
        self.hosts: list[Host] = []
        self.links: dict[int, Link] = {}
        self._served: dict[int, Link] = {}
        """The live link of each broker connection, by the connection's id."""
        self._heap: list[tuple[float, int, Callable[[], None], Any]] = []
        self._seq = 0
        self._link_ids = 0
        self._names: dict[str, int] = {}
        self.storm_over = False
        self.stopping = False
        self.downed: set[int] = set()
        self.held: set[tuple[str, int]] = set()
        from kproto.testing.sim import actors as actor_module

        self._make_actors = actors if actors is not None else actor_module.start_scenario
        self._group_offsets: dict[tuple[str, int], int] = {}
        self._offsets_mark = (-1, -1)
        self._servers_dirty = True
        self._cluster_stale = True
        """The cluster may have changed since ``_cluster_deadline`` was read."""
        self._cluster_deadline: float | None = None

    # -- scheduling ---------------------------------------------------------------------

    def at(self, when: float, fn: Callable[[], None], touches: Any = ALL) -> None:
        """Run ``fn`` at simulated time ``when`` (never earlier than now). ``touches``: the
        one ``Host`` whose engine ``fn`` may call, or None for none; by default any."""
        self._seq += 1
        heapq.heappush(self._heap, (max(when, self.now), self._seq, fn, touches))

    def after(self, delay: float, fn: Callable[[], None], touches: Any = ALL) -> None:
        self.at(self.now + delay, fn, touches)

    def touch_all(self) -> None:
        """Every engine may have been called (pumped, and its deadline read, again)."""
        for h in self.hosts:
            h.dirty = h.stale = True

    def _deadline(self, h: Host) -> float | None:
        if h.stale:
            h.stale = False
            h.deadline = h.core.next_deadline()
        return h.deadline

    def name(self, prefix: str) -> str:
        n = self._names.get(prefix, 0) + 1
        self._names[prefix] = n
        return f"{prefix}{n}"

    def host(self, prefix: str, **options: Any) -> Host:
        """A new client process; its actor is set by the caller."""
        merged = dict(self.scenario.options)
        merged.update(options)
        host = Host(self, self.name(prefix), merged)
        self.hosts.append(host)
        self.trace.add(self.now, host.name, "process starts")
        return host

    def run(self) -> History:
        """Storm, calm, close; the history holds what the invariants check."""
        sc = self.scenario
        self._make_actors(self)
        self._start_faults()
        self._advance_to(sc.storm)
        self._calm()
        self._advance_to(sc.storm + sc.calm)
        self.stopping = True
        for host in list(self.hosts):
            if host.alive and host.actor is not None:
                host.actor.close()
        self._advance_to(self.now + 30.0)
        self._finish()
        return self.history

    def _advance_to(self, end: float) -> None:
        heap = self._heap
        cluster = self.cluster
        hosts = self.hosts
        same = 0
        fired = -math.inf
        deadline = self._deadline
        # Hosts' engines are called between runs (actors' close(), users' code): pump all.
        self.touch_all()
        self._servers_dirty = True
        # The cluster changes only in callbacks, at its timers and when a link ends
        # (``_kill``): its deadline is read again only then. Reading it twice a step was
        # 32,460 scans of the waiting connections for 2 default seeds, most unchanged.
        self._cluster_stale = True
        while True:
            t = heap[0][0] if heap else math.inf
            for h in hosts:
                if h.alive and h.frozen_until <= self.now:
                    d = deadline(h) if h.stale else h.deadline
                    if d is not None and d < t:
                        t = d
            if self._cluster_stale:
                self._cluster_stale = False
                self._cluster_deadline = cluster.next_deadline()
            d = self._cluster_deadline
            if d is not None and d < t and not (d <= self.now and fired == self.now):
                t = d
            if t > end:
                break
            if t > self.now:
                self.now = t
                same = 0
            else:
                same += 1
                if same > self.STEP_LIMIT:
                    raise SimulationStuck(
                        f"the clock stayed at {self.now:.4f} for {same} steps")
            now = self.now
            while heap and heap[0][0] <= now:
                _, _, fn, touches = heapq.heappop(heap)
                fn()
                if touches is ALL:
                    self._servers_dirty = self._cluster_stale = True
                    self.touch_all()
                elif touches is None:
                    self._servers_dirty = self._cluster_stale = True
                else:
                    # One process's engine only (a delivery to it, its application's step):
                    # the cluster is untouched unless a link ended, which ``_kill`` marks.
                    # Re-reading the cluster's deadline after each of them too: 75,300
                    # scans instead of 47,700 in 30 simulated minutes of the default mix.
                    touches.dirty = touches.stale = True
            for h in hosts:
                if h.alive and h.frozen_until <= now:
                    d = deadline(h) if h.stale else h.deadline
                    if d is not None and d <= now:
                        h.dirty = h.stale = True
                        h.core.handle_timer(now)
            if self._cluster_stale:
                self._cluster_stale = False
                self._cluster_deadline = cluster.next_deadline()
            d = self._cluster_deadline
            if d is not None and d <= now and fired != now:
                # A waiting answer held by a delay fault reports the delay's end as its
                # deadline until it is answered; once fired at this instant, the cluster
                # is woken again by the next input or the next instant, not in a loop.
                fired = now
                cluster.handle_timer(now)
                self._servers_dirty = self._cluster_stale = True
            self.pump()
        self.now = max(self.now, end)

    # -- moving bytes ---------------------------------------------------------------------

    def pump(self) -> None:
        """Perform every running engine's outputs and every broker connection's answers."""
        # Committed offsets change only inside the cluster, which changes only when the
        # servers may have something to say: watch them only then.
        watch = self._servers_dirty
        again = True
        while again:
            again = False
            for h in self.hosts:
                # A clean host's pump would find nothing (its engine makes outputs only when
                # called): skipping it saved a quarter of test_many_seeds' time.
                if h.dirty and h.alive and h.frozen_until <= self.now:
                    if self._pump_host(h):
                        # Its events ran the actor, which may have called the engine again.
                        h.stale = True
                        again = True
                    else:
                        h.dirty = False
            # Broker connections answer only to deliveries and the cluster's timers (an
            # engine's writes reach them through the heap): most steps have none to read,
            # and the cluster's outbox names those that do.
            self._servers_dirty = False
            if self.cluster.outbox:
                self._pump_servers()
        if watch:
            self._watch_offsets()

    def _pump_host(self, h: Host) -> bool:
        core = h.core
        progressed = False
        while (action := core.next_action()) is not None:
            progressed = True
            if isinstance(action, OpenConnection):
                broker = self.cluster.broker_at(action.host, action.port)
                self._link_ids += 1
                new = Link(self._link_ids, h, action.conn_id,
                           broker.node_id if broker is not None else -1)
                h.links[action.conn_id] = new
                self.links[new.id] = new
                self.after(self._latency(), partial(self._connect, new), None)
            elif isinstance(action, CloseConnection):
                gone = h.links.pop(action.conn_id, None)
                if gone is not None:
                    gone.client_closed = True
                    self._kill(gone, "closed by the client", tell_client=False)
        for conn_id, data in core.pending_writes():
            link = h.links.get(conn_id)
            if link is not None and not link.dead and data:
                progressed = True
                self._send(link, True, data)
        while (event := core.next_event()) is not None:
            progressed = True
            self._dispatch(h, event)
        return progressed

    def _dispatch(self, h: Host, event: Event) -> None:
        if isinstance(event, OperationCompleted) and h.settle(event.token, True, event.value):
            return
        if isinstance(event, OperationFailed) and h.settle(event.token, False, event.error):
            return
        if h.actor is not None:
            h.actor.on_event(event)

    def _pump_servers(self) -> None:
        # Only the connections the cluster put in its outbox (bytes to send, or closed), in
        # the links' order as before: asking every link's has_output after every step was
        # 6% of the default scenario's time (14,540 scans, 287,080 has_output calls / 2 seeds).
        outbox = self.cluster.outbox
        if not outbox:
            return
        served = self._served
        ready = [link for srv in outbox if (link := served.get(srv.conn_id)) is not None]
        outbox.clear()
        ready.sort(key=_link_id)
        for link in ready:
            srv = link.server
            if srv is None or link.id not in self.links:
                continue
            if srv.has_output:
                out = srv.data_to_send()
                if not link.dead:
                    self._send(link, False, out)
            if srv.closed:
                reason = srv.close_reason or "closed by the broker"
                self._kill(link, reason, tell_client=True, after_data=True)

    def _latency(self) -> float:
        a = self.active
        return a.latency + self.net_rng.random() * a.jitter

    def _send(self, link: Link, up: bool, data: bytes) -> None:
        a = self.active
        r = self.net_rng
        delay = a.latency + r.random() * a.jitter
        if a.spike and r.random() < a.spike:
            extra = r.random() * a.spike_delay
            delay += extra
            self.trace.add(self.now, "fault", f"{link.label} held {extra:.3f}s "
                           f"({'to broker' if up else 'to client'})")
        cut = bool(a.cut) and r.random() < a.cut
        if up:
            at = max(self.now + delay, link.up_last)
            link.up_last = at
        else:
            at = max(self.now + delay, link.down_last)
            link.down_last = at
        if cut:
            keep = r.randrange(len(data))
            data = data[:keep]
            self.trace.add(self.now, "fault", f"{link.label} cut after {keep} bytes "
                           f"({'to broker' if up else 'to client'}), then reset")
            self.at(at, lambda: self._deliver(link, up, data), None if up else link.host)
            self.at(at, lambda: self._kill(link, "connection reset mid-frame", True), None)
            return
        self.at(at, lambda: self._deliver(link, up, data), None if up else link.host)

    def _deliver(self, link: Link, up: bool, data: bytes) -> None:
        if link.dead:
            return
        if up:
            srv = link.server
            if srv is None or srv.closed:
                return
            self.trace.add_delivery(self.now, link.label, "->", link.up, data)
            srv.receive_data(data, self.now)
            return
        h = link.host
        if not h.alive:
            return
        if h.frozen_until > self.now:
            self.at(h.frozen_until, lambda: self._deliver(link, up, data), h)
            return
        if h.links.get(link.conn_id) is not link:
            return
        self.trace.add_delivery(self.now, link.label, "<-", link.down, data)
        h.core.receive_data(link.conn_id, data, self.now)

    def _connect(self, link: Link) -> None:
        h = link.host
        if link.dead or not h.alive:
            return
        srv = None
        broker = self.cluster.brokers.get(link.node)
        if broker is not None:
            srv = self.cluster.connect(broker.host, broker.port, self.now)
        if srv is None:
            self.trace.add(self.now, link.label, "connection refused")
            link.dead = True
            self._to_client(link, self._latency(), "connection refused")
            return
        link.server = srv
        self._served[srv.conn_id] = link
        self.trace.add(self.now, link.label, "connected")
        self.after(self._latency(), lambda: self._made(link), h)

    def _made(self, link: Link) -> None:
        h = link.host
        if not h.alive or h.links.get(link.conn_id) is not link:
            return
        if h.frozen_until > self.now:
            self.at(h.frozen_until, lambda: self._made(link), h)
            return
        if link.dead:
            return
        h.core.connection_made(link.conn_id, self.now)

    def _kill(self, link: Link, reason: str, tell_client: bool,
              after_data: bool = False) -> None:
        """End a link: the broker side at once, the client one latency later (after the
        bytes already in flight to it when ``after_data``)."""
        if link.id not in self.links:
            return
        del self.links[link.id]
        self._cluster_stale = True
        srv = link.server
        if srv is not None:
            self._served.pop(srv.conn_id, None)
        if srv is not None and not srv.closed:
            srv.connection_lost(self.now)
            self.cluster.forget(srv)
        if not after_data:
            link.dead = True
        if tell_client and not link.client_closed:
            delay = self._latency()
            if after_data:
                delay = max(self.now + delay, link.down_last + 1e-6) - self.now
            self.trace.add(self.now, link.label, f"ends: {reason}")
            self._to_client(link, delay, reason)

    def _to_client(self, link: Link, delay: float, reason: str) -> None:
        def lost() -> None:
            h = link.host
            if not h.alive or h.links.get(link.conn_id) is not link:
                return
            if h.frozen_until > self.now:
                self.at(h.frozen_until, lost, h)
                return
            link.dead = True
            del h.links[link.conn_id]
            h.core.connection_lost(link.conn_id, reason, self.now)

        self.after(delay, lost, link.host)

    def reset(self, link: Link, reason: str) -> None:
        """Reset a connection now: in-flight bytes are lost both ways."""
        self.trace.add(self.now, "fault", f"{link.label} reset ({reason})")
        link.dead = True
        self._kill(link, reason, tell_client=True)

    def kill_host(self, h: Host, reason: str) -> None:
        """The process dies: its connections reset, its engine is gone."""
        self.trace.add(self.now, "fault", f"{h.name} dies ({reason})")
        for link in list(h.links.values()):
            link.dead = True
            link.client_closed = True
            self._kill(link, reason, tell_client=False)
        h.links.clear()
        h.alive = False
        h.forget_ops()

    def freeze(self, h: Host, seconds: float) -> None:
        """The process stops for ``seconds``; its clock jumps when it wakes."""
        self.trace.add(self.now, "fault", f"{h.name} frozen {seconds:.3f}s (clock jumps)")
        h.frozen_until = self.now + seconds
        h.frozen_total += seconds
        self.after(seconds, lambda: None)

    # -- timed faults ---------------------------------------------------------------------

    def _start_faults(self) -> None:
        m = self.mix
        for rate, fn in ((m.resets, self._fault_reset), (m.stops, self._fault_stop),
                         (m.leader_moves, self._fault_leader),
                         (m.coordinator_moves, self._fault_coordinator),
                         (m.unclean, self._fault_unclean), (m.pauses, self._fault_pause),
                         (m.crashes, self._fault_crash)):
            if rate > 0:
                self._poisson(rate, fn)

    def _poisson(self, rate: float, fn: Callable[[], None]) -> None:
        when = self.now + self.fault_rng.expovariate(rate)
        if when >= self.scenario.storm:
            return

        def fire() -> None:
            if not self.storm_over:
                fn()
                self._poisson(rate, fn)

        self.at(when, fire)

    def _fault_reset(self) -> None:
        live = [link for link in self.links.values() if link.server is not None
                and not link.dead]
        if live:
            self.reset(self.fault_rng.choice(live), "connection reset by the network")

    def _fault_stop(self) -> None:
        up = sorted(n for n, b in self.cluster.brokers.items() if b.up)
        if len(up) < 2:
            return
        node = self.fault_rng.choice(up)
        self.trace.add(self.now, "fault", f"broker b{node} stops")
        self.cluster.stop_broker(node, self.now)
        self.downed.add(node)
        self.after(self.mix.downtime * (0.5 + self.fault_rng.random()),
                   lambda: self._restart(node))

    def _restart(self, node: int) -> None:
        if node in self.downed:
            self.downed.discard(node)
            self.trace.add(self.now, "fault", f"broker b{node} restarts")
            self.cluster.start_broker(node, self.now)

    def _partitions(self) -> list[tuple[str, int]]:
        sc = self.scenario
        topics = (TOPIC, OUT) if sc.transformers or sc.static_transformers else (TOPIC,)
        return [(t, p) for t in topics for p in range(self.scenario.partitions)]

    def _fault_leader(self) -> None:
        topic, index = self.fault_rng.choice(self._partitions())
        p = self.cluster.partition(topic, index)
        assert p is not None
        up = [r for r in p.replicas if self.cluster.brokers[r].up and r != p.leader]
        if up:
            node = self.fault_rng.choice(up)
            self.trace.add(self.now, "fault", f"{topic}[{index}] leader b{p.leader} -> b{node}")
            self.cluster.move_leader(topic, index, node, self.now)

    def _fault_coordinator(self) -> None:
        keys = self.history.coordinator_keys
        up = sorted(n for n, b in self.cluster.brokers.items() if b.up)
        if not keys or not up:
            return
        key_type, key = self.fault_rng.choice(sorted(keys))
        node = self.fault_rng.choice(up)
        kind = "group" if key_type == 0 else "transactional id"
        self.trace.add(self.now, "fault", f"coordinator of {kind} {key!r} -> b{node}")
        self.cluster.move_coordinator(key_type, key, node)

    def _fault_unclean(self) -> None:
        part = self.fault_rng.choice(self._partitions())
        if part in self.held:
            return
        self.unclean_change(part, 1.0 + 3.0 * self.fault_rng.random())

    def unclean_change(self, part: tuple[str, int], delay: float) -> None:
        """Hold ``part``'s replication now and change its leader uncleanly ``delay`` later
        (what was written meanwhile is lost), unless the calm released it first."""
        self.held.add(part)
        self.trace.add(self.now, "fault", f"{part[0]}[{part[1]}] replication held")
        self.cluster.hold_replication(*part)

        def change() -> None:
            if part not in self.held:
                return
            self.held.discard(part)
            lost = self.cluster.unclean_leader_change(part[0], part[1], self.now)
            self.history.unclean.add(part)
            self.trace.add(self.now, "fault",
                           f"{part[0]}[{part[1]}] unclean leader change: {lost} offsets lost")

        self.after(delay, change)

    def _fault_pause(self) -> None:
        alive = [h for h in self.hosts if h.alive and h.frozen_until <= self.now]
        if alive:
            h = self.fault_rng.choice(alive)
            self.freeze(h, self.fault_rng.random() * self.mix.pause_length)

    def _fault_crash(self) -> None:
        members = [h for h in self.hosts if h.alive and getattr(h.actor, "crashable", False)]
        if members:
            h = self.fault_rng.choice(members)
            h.actor.crash()

    def _calm(self) -> None:
        """The storm is over: faults off, held replication released, brokers back."""
        self.storm_over = True
        self.active = self.calm_mix
        self.cluster.faults.clear()
        self.trace.add(self.now, "fault", "storm over: faults off, every broker back")
        for part in sorted(self.held):
            self.cluster.release_replication(part[0], part[1], self.now)
        self.held.clear()
        for node in sorted(self.downed):
            self._restart(node)
        for h in self.hosts:
            if h.alive and h.actor is not None:
                h.actor.calm()

    # -- observations ---------------------------------------------------------------------

    def _watch_offsets(self) -> None:
        # Offsets move only when the coordinator counts a commit, or when a group starts
        # being watched: scanning every group's offsets after every step was 2.5% of the
        # default scenario's time.
        coordinator = self.cluster.groups
        mark = (coordinator.offset_writes, len(self.history.groups))
        if mark == self._offsets_mark:
            return
        self._offsets_mark = mark
        groups = coordinator.groups
        seen = self._group_offsets
        for gid in self.history.groups:
            group = groups.get(gid)
            if group is None:
                continue
            for tp, committed in group.offsets.items():
                key = (gid, *tp)
                before = seen.get(key)  # type: ignore[arg-type]
                if before != committed.offset:
                    seen[key] = committed.offset  # type: ignore[index]
                    self.history.committed(gid, tp[0], tp[1], committed.offset, self.now)

    def _finish(self) -> None:
        h = self.history
        self._offsets_mark = (-1, -1)
        self._watch_offsets()
        for host in self.hosts:
            if host.alive:
                for kind, start, took, bound in host.unsettled():
                    h.open_operation(host.name, kind, start, took, bound)
        for topic, t in self.cluster.topics.items():
            for p in t.partitions:
                rows: list[tuple[int, bytes | None, bool]] = []
                # A transactional record is committed once its producer's COMMIT marker
                # follows it; an ABORT marker, or none by the end, leaves it uncommitted.
                open_txns: dict[int, list[int]] = {}
                uncommitted: set[int] = set()
                for e in p.log.entries:
                    b = e.batch
                    if b.is_control:
                        offsets = open_txns.pop(b.producer_id, [])
                        if not (b.control and b.control[0].is_commit):
                            uncommitted.update(offsets)
                        continue
                    for r in e.records():
                        rows.append((r.offset, r.value, b.is_transactional))
                        if b.is_transactional:
                            open_txns.setdefault(b.producer_id, []).append(r.offset)
                for offsets in open_txns.values():
                    uncommitted.update(offsets)
                h.logs[(topic, p.index)] = rows
                h.uncommitted[(topic, p.index)] = uncommitted
                h.aborted_ranges[(topic, p.index)] = [
                    (pid, first, last) for pid, first, last in p.log.aborted]
        h.end = self.now

