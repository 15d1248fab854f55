"""The simulated applications: producers, transactional producers, readers (some seeking),
group members, transformers (consume-transform-produce, exactly once).

Theory of operation: each actor owns one ``Host`` (a client process) and is a small state
machine woken by the scheduler (``sim.after``) and by its engine's events (``on_event``).
Every user operation it starts is watched (``Host.op``) with the bound kproto promises for
it; what it sees goes into the ``History``. ``calm()`` is called when the storm ends (the
producers stop sending) and ``close()`` at the end of the run (each closes its objects, and
the close is an operation with a bound too).

Group members play a consumer application: per claim a handler takes the fetched messages
one at a time, "processes" each (a short, sometimes long, delay), marks it, and now and
then commits; told to stop, it finishes its message and returns. A handler may also return
early (the session ends and the member rejoins), and a member's process may crash (its
connections reset, no LeaveGroup) and be replaced by a new one after a while.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from kproto.consumer import ConsumerCore
from kproto.consumer.events import FetchError, RecordsFetched
from kproto.errors import KprotoError, NotAssignedError
from kproto.group.core import GroupCore
from kproto.group.events import ClaimsStarted, ClaimsStopping, SessionDrained, SessionInfo
from kproto.message_types import OFFSET_OLDEST, ConsumerMessage, ProducerMessage
from kproto.producer import ProducerCore, RecordsDelivered, RecordsFailed
from kproto.testing.sim.invariants import Sent
from kproto.testing.sim.simulation import OUT

if TYPE_CHECKING:
    from kproto.events import Event
    from kproto.testing.sim.simulation import Host, Simulation

__all__ = ["GroupMember", "Producer", "Reader", "Seeker", "TransactionalProducer",
           "Transformer", "start_scenario"]

SLACK = 1.0
"""Added to every bound: timers fire at their deadline, the answer takes a latency more."""
TS = 1_700_000_000_000
GROUP = "sim-group"
EOS_GROUP = "sim-eos"


def start_scenario(sim: Simulation) -> None:
    """Start the actors the scenario names."""
    sc = sim.scenario
    for _ in range(sc.producers):
        Producer(sim, idempotent=True)
    for _ in range(sc.plain_producers):
        Producer(sim, idempotent=False)
    for _ in range(sc.transactional):
        TransactionalProducer(sim)
    for _ in range(sc.readers):
        Reader(sim)
    for _ in range(sc.seekers):
        Seeker(sim)
    for _ in range(sc.members):
        GroupMember(sim)
    for i in range(sc.static_members):
        GroupMember(sim, instance=f"static-{i + 1}")
    for _ in range(sc.transformers):
        Transformer(sim)
    for i in range(sc.static_transformers):
        Transformer(sim, instance=f"eos-static-{i + 1}")


def _start(cls: Any, *args: Any) -> None:
    """Start an actor from a scheduled callback (it registers itself with its host)."""
    cls(*args)


class Actor:
    crashable = False

    def __init__(self, sim: Simulation, host: Host) -> None:
        self.sim = sim
        self.host = host
        host.actor = self

    @property
    def now(self) -> float:
        return self.sim.now

    def note(self, what: str) -> None:
        self.sim.trace.add(self.sim.now, self.host.name, what)

    def on_event(self, event: Event) -> None:
        return None

    def calm(self) -> None:
        return None

    def close(self) -> None:
        return None

    def wake(self, delay: float, fn: Any) -> None:
        """Run ``fn`` after ``delay`` if this process is still alive (and when it is not
        frozen)."""
        host = self.host

        def run() -> None:
            if not host.alive:
                return
            if host.frozen_until > self.sim.now:
                self.sim.at(host.frozen_until, run, host)
                return
            fn()

        # ``fn`` calls this process's engine only: the others need no pump and no new
        # deadline after it (touching every host after each application step was a third
        # of the hosts' pumps in the default scenario).
        self.sim.after(delay, run, host)


class _ProducerBase(Actor):
    kind = "idempotent"

    def __init__(self, sim: Simulation, host: Host) -> None:
        super().__init__(sim, host)
        self.producer = ProducerCore(host.core, host.config)
        self.tokens: dict[int, Sent] = {}
        self.seq = 0

    def send(self, txn: int | None = None) -> bool:
        cfg = self.host.config
        part = self.sim.app_rng.randrange(self.sim.scenario.partitions)
        self.seq += 1
        name = self.host.name
        value = (f"{name}:{self.seq}" if txn is None else f"{name}:{txn}:{self.seq}").encode()
        try:
            token = self.producer.send(ProducerMessage("t", value, partition=part),
                                       self.now, TS + int(self.now * 1000))
        except KprotoError as exc:
            self.note(f"send refused: {exc!r}")
            return False
        sent = Sent(name, self.seq, "t", part, value, self.now, self.kind, txn)
        self.sim.history.sent[value] = sent
        self.tokens[token] = sent
        self.host.op("send", token, cfg.delivery_timeout + SLACK)
        return True

    def on_event(self, event: Event) -> None:
        if isinstance(event, RecordsDelivered):
            for i, token in enumerate(event.tokens):
                sent = self.tokens.pop(token, None)
                if sent is not None:
                    sent.acked = (event.base_offset + i, self.now)
                    if (event.topic, event.partition) != (sent.topic, sent.partition):
                        sent.acked = (-1, self.now)
                self.host.settle(token, True, None)
        elif isinstance(event, RecordsFailed):
            for token in event.tokens:
                sent = self.tokens.pop(token, None)
                if sent is not None:
                    sent.failed = (repr(event.error), self.now)
                self.host.settle(token, False, event.error)

    def abandon(self) -> None:
        for sent in self.tokens.values():
            sent.abandoned = True
        self.tokens.clear()

    def close(self) -> None:
        cfg = self.host.config
        self.host.op("producer close", self.producer.close(self.now),
                     cfg.delivery_timeout + cfg.max_block + SLACK)


class Producer(_ProducerBase):
    """Sends records at random times to random partitions during the storm."""

    def __init__(self, sim: Simulation, idempotent: bool) -> None:
        host = sim.host("p" if idempotent else "q", idempotent=idempotent)
        self.kind = "idempotent" if idempotent else "plain"
        super().__init__(sim, host)
        self.wake(0.0, self.tick)

    def tick(self) -> None:
        if self.sim.storm_over:
            return
        self.send()
        self.wake(self.sim.app_rng.expovariate(self.sim.scenario.rate), self.tick)


class TransactionalProducer(_ProducerBase):
    """Init, then transactions of a few records, each committed or (sometimes) aborted.

    A failed commit is followed by an abort; when that fails too the producer is given up
    and a new process with the same transactional id takes over (fencing the old one).
    """

    kind = "transactional"

    def __init__(self, sim: Simulation, txn_id: str | None = None) -> None:
        self.txn_id = txn_id or f"tx-{sim.name('txid')}"
        host = sim.host("x", transactional_id=self.txn_id)
        super().__init__(sim, host)
        sim.history.coordinator_keys.add((1, self.txn_id))
        self.txn = 0
        self.wake(0.0, self.init)

    @property
    def bound(self) -> float:
        return self.host.config.max_block + SLACK

    def init(self) -> None:
        if self.sim.stopping:
            return
        try:
            token = self.producer.init_transactions(self.now)
        except KprotoError as exc:
            self.note(f"init refused: {exc!r}")
            self.replace()
            return
        self.host.op("init_transactions", token, self.bound, self._inited)

    def _inited(self, ok: bool, value: Any) -> None:
        if ok:
            self.wake(0.0, self.begin)
        else:
            self.wake(1.0, self.init)

    def begin(self) -> None:
        if self.sim.storm_over:
            return
        try:
            token = self.producer.begin_transaction(self.now)
        except KprotoError as exc:
            self.note(f"begin refused: {exc!r}")
            self.replace()
            return
        self.txn += 1
        self.host.op("begin_transaction", token, self.bound, self._begun)

    def _begun(self, ok: bool, value: Any) -> None:
        if not ok:
            self.replace()
            return
        self.left = 1 + self.sim.app_rng.randrange(5)
        self.sim.history.txns[(self.host.name, self.txn)] = "unknown"
        self.wake(0.0, self.add)

    def add(self) -> None:
        if self.left > 0 and self.send(self.txn):
            self.left -= 1
            self.wake(self.sim.app_rng.random() * 0.2, self.add)
            return
        commit = self.sim.app_rng.random() < 0.7
        self.end(commit)

    def end(self, commit: bool) -> None:
        txn = self.txn
        name = self.host.name
        try:
            token = (self.producer.commit_transaction(self.now) if commit
                     else self.producer.abort_transaction(self.now))
        except KprotoError as exc:
            self.note(f"{'commit' if commit else 'abort'} refused: {exc!r}")
            if commit:
                self.end(False)
            else:
                self.replace()
            return

        def done(ok: bool, value: Any) -> None:
            if ok:
                self.sim.history.txns[(name, txn)] = "committed" if commit else "aborted"
                self.note(f"transaction {txn} {'committed' if commit else 'aborted'}")
                self.wake(self.sim.app_rng.random() * 0.5, self.begin)
            elif commit:
                self.end(False)
            else:
                self.replace()

        self.host.op("commit_transaction" if commit else "abort_transaction", token,
                     self.bound, done)

    def replace(self) -> None:
        """Give this producer up; a new process takes the transactional id over."""
        if not self.host.alive:
            return
        self.abandon()
        self.sim.kill_host(self.host, "its transactional producer failed for good")
        if not self.sim.stopping:
            sim, txn_id = self.sim, self.txn_id
            sim.after(1.0, lambda: _start(TransactionalProducer, sim, txn_id))


class Reader(Actor):
    """Reads every partition from the oldest offset, read_committed."""

    def __init__(self, sim: Simulation, prefix: str = "r") -> None:
        host = sim.host(prefix, isolation_level="read_committed")
        super().__init__(sim, host)
        self.consumer = ConsumerCore(host.core, host.config)
        self.streams: dict[int, int] = {}
        self.position: dict[int, int] = {}
        self.sought: dict[int, int] = {}
        """The fetcher's seek count of a stream after this reader's latest seek of it."""
        for p in range(sim.scenario.partitions):
            self.start(p, OFFSET_OLDEST)

    def start(self, partition: int, offset: int) -> None:
        try:
            stream = self.consumer.consume_partition("t", partition, offset, self.now)
        except KprotoError as exc:  # the stopped stream is not released yet: later
            self.note(f"t[{partition}] not restarted yet: {exc!r}")
            self.wake(1.0, lambda: self.start(partition, offset))
            return
        self.streams[stream] = partition
        self._reads_from(partition, None if offset == OFFSET_OLDEST else offset)

    def _reads_from(self, partition: int, offset: int | None) -> None:
        """A new run of this reader's reads of ``partition`` starts (None: the oldest)."""
        self.sim.history.read_from.append((self.host.name, "t", partition, offset,
                                           len(self.sim.history.reads)))

    def on_event(self, event: Event) -> None:
        if isinstance(event, RecordsFetched) and event.stream in self.streams:
            if event.seeks < self.sought.get(event.stream, 0):
                return  # fetched before a seek: forgotten (its bytes were, too)
            for m in event.messages:
                self.sim.history.reads.append((self.host.name, m.topic, m.partition, m.offset,
                                               m.value, "read_committed"))
            if event.size:
                self.consumer.fetcher.release(event.stream, event.size, self.now)
        elif isinstance(event, FetchError) and event.stream in self.streams:
            self.note(f"fetch error on t[{event.partition}]: {event.error!r}"
                      f"{' (stopped)' if event.stopped else ''}")
            if event.stopped:
                partition = self.streams.pop(event.stream)
                self.consumer.close_partition(event.stream, self.now)
                self.wake(1.0, lambda: self.start(partition, OFFSET_OLDEST))

    def close(self) -> None:
        self.consumer.close(self.now)


class Seeker(Reader):
    """A reader that, during the storm, now and then moves one partition's stream back to a
    random offset it has passed (``Fetcher.seek``), then reads on from there."""

    def __init__(self, sim: Simulation) -> None:
        super().__init__(sim, "s")
        self.wake(self.sim.app_rng.expovariate(0.2), self.seek)

    def seek(self) -> None:
        if self.sim.storm_over or not self.streams:
            return
        rng = self.sim.app_rng
        stream = rng.choice(sorted(self.streams))
        fetcher = self.consumer.fetcher
        partition = self.streams[stream]
        try:
            position = fetcher.position(stream)
            if position:
                target = rng.randrange(position + 1)
                fetcher.seek(stream, target, self.now)
                self.sought[stream] = fetcher.seeks(stream)
                self.note(f"seeks t[{partition}] from {position} to {target}")
                self._reads_from(partition, target)
        except NotAssignedError as exc:
            # The stream stopped (its FetchError is on its way to on_event).
            self.note(f"t[{partition}] not sought: {exc}")
        self.wake(rng.expovariate(0.2), self.seek)


class _Handler:
    """One claim's loop, as a state machine."""

    __slots__ = ("busy", "count", "done", "partition", "queue", "stopping", "stream", "topic")

    def __init__(self, stream: int, topic: str, partition: int) -> None:
        self.stream = stream
        self.topic = topic
        self.partition = partition
        self.queue: deque[ConsumerMessage] = deque()
        self.busy = False
        self.stopping = False
        self.done = False
        self.count = 0


class GroupMember(Actor):
    """A consumer group member running sessions back to back; see the module docstring."""

    crashable = True
    group_id = GROUP
    early_records = False
    """Whether records of a claim that come before the session is reported are kept for it.
    A plain member drops them (it processes at least once and nothing checks that it saw
    every record; the runs of the seeds in tests/sim/test_regressions.py depend on it); a
    transformer keeps them, as kproto's ConsumerGroup does."""

    def __init__(self, sim: Simulation, instance: str | None = None) -> None:
        host = self._new_host(sim, instance)
        super().__init__(sim, host)
        self.instance = instance
        """The group instance id of a static member (KIP-345): its process, when it crashes,
        comes back with the same one."""
        sim.history.groups.add(self.group_id)
        sim.history.coordinator_keys.add((0, self.group_id))
        self.group = GroupCore(host.core, host.config)
        self.session: SessionInfo | None = None
        self.handlers: dict[int, _Handler] = {}
        self.owned: set[tuple[int, int]] = set()
        """(generation, partition) this member took a message of."""
        self.closing = False
        self.wake(0.0, self.consume)

    def _new_host(self, sim: Simulation, instance: str | None) -> Host:
        return sim.host("g", group_id=GROUP, group_instance_id=instance)

    @property
    def cfg(self) -> Any:
        return self.host.config

    def consume(self) -> None:
        if self.closing:
            return
        token = self.group.consume(["t"], self.now)
        self.host.op("group consume", token,
                     self.cfg.rebalance_timeout + self.cfg.request_timeout + SLACK,
                     self._started)

    def _started(self, ok: bool, value: Any) -> None:
        if not ok:
            self.wake(0.5, self.consume)
            return
        info: SessionInfo = value
        self.session = info
        # Records kept for claims of a session that ended before it was reported are void.
        streams = {c.stream for c in info.claims}
        self.handlers = {k: hd for k, hd in self.handlers.items() if k in streams}
        self.note(f"session gen {info.generation_id}: "
                  + ", ".join(f"t[{c.partition}]@{c.initial_offset}" for c in info.claims))
        self._claims(info.claims, info.generation_id, info.member_id)

    def _owner(self, member_id: str) -> str:
        # A static member's process that crashed and came back within the session timeout
        # takes over its generation and partitions under a new member id: one owner.
        return self.instance or member_id

    def _claims(self, claims: Any, generation: int, member_id: str) -> None:
        # A cooperative session outlives generations (and member ids, when its membership
        # was reset during a rejoin): claims it adds belong to the generation that gave them.
        for c in claims:
            self.sim.history.claimed(self.group_id, generation, c.topic, c.partition,
                                     self._owner(member_id))
            if c.stream not in self.handlers:
                self.handlers[c.stream] = _Handler(c.stream, c.topic, c.partition)
        for c in claims:
            self._next(self.handlers[c.stream])

    def on_event(self, event: Event) -> None:
        s = self.session
        if isinstance(event, RecordsFetched):
            hd = self.handlers.get(event.stream)
            if hd is None:
                # A claim's first records may come before its session is reported: they
                # wait in its handler, if this member keeps them (see ``early_records``).
                if not (self.early_records and self.group.owns_stream(event.stream)):
                    return
                hd = self.handlers[event.stream] = _Handler(event.stream, event.topic,
                                                            event.partition)
            hd.queue.extend(event.messages)
            if event.size:
                self.group.release(event.stream, event.size, self.now)
            self._next(hd)
        elif isinstance(event, ClaimsStopping):
            if s is None or event.session != s.session:
                return
            for stream in event.streams:
                hd = self.handlers.get(stream)
                if hd is not None:
                    hd.stopping = True
                    self._next(hd)
        elif isinstance(event, ClaimsStarted):
            if s is not None and event.session == s.session:
                self._claims(event.claims, event.generation_id, self.group.member_id)
        elif isinstance(event, SessionDrained):
            if s is None or event.session != s.session:
                return
            self.handlers.clear()
            token = self.group.finish_session(s.session, self.now)
            self.host.op("finish session", token,
                         self.cfg.request_timeout + SLACK,
                         self._finished)

    def _finished(self, ok: bool, value: Any) -> None:
        self.session = None
        if not self.closing:
            self.wake(0.0, self.consume)
        else:
            self._close_group()

    def _next(self, hd: _Handler) -> None:
        """Take the next message, or return when told to stop."""
        s = self.session
        if hd.busy or hd.done or s is None:
            return
        if hd.stopping:
            hd.done = True
            self.group.claim_finished(s.session, hd.stream, self.now)
            return
        if not hd.queue:
            return
        msg = hd.queue.popleft()
        hd.busy = True
        self._took(hd)
        rng = self.sim.app_rng
        mix = self.sim.active
        took = rng.random() * 0.02
        if mix.slow_handlers and rng.random() < mix.slow_handlers:
            took += rng.random() * mix.slow_length
        session = s.session

        def processed() -> None:
            hd.busy = False
            if self.session is None or self.session.session != session:
                return
            self.group.mark_message(session, msg)
            hd.count += 1
            if mix.handler_returns and rng.random() < mix.handler_returns:
                self.note(f"handler of t[{hd.partition}] returns early")
                hd.stopping = True
            elif hd.count % 7 == 0:
                self.host.op("commit", self.group.commit(self.now),
                             self.cfg.request_timeout + SLACK)
            self._next(hd)

        self.wake(took, processed)

    def _took(self, hd: _Handler) -> None:
        """Record taking a message of ``hd``'s partition. A cooperative member keeps
        partitions across generations without a new claim: taking a message is acting as
        the owner in the generation it is in now."""
        generation = self.group.generation_id
        if generation >= 0 and (generation, hd.partition) not in self.owned:
            self.owned.add((generation, hd.partition))
            self.note(f"takes t[{hd.partition}] in generation {generation} as "
                      f"{self.group.member_id}")
            self.sim.history.claimed(self.group_id, generation, hd.topic, hd.partition,
                                     self._owner(self.group.member_id))

    def crash(self, reason: str = "the member's process crashed") -> None:
        """The process dies; another member starts a few seconds later."""
        self.sim.kill_host(self.host, reason)
        sim = self.sim
        if not sim.stopping:
            instance, kind = self.instance, type(self)
            sim.after(1.0 + 4.0 * sim.fault_rng.random(),
                      lambda: _start(kind, sim, instance))

    def close(self) -> None:
        self.closing = True
        s = self.session
        if s is not None:
            self.group.stop_session(s.session, "the application is stopping", self.now)
        else:
            self._close_group()

    def _close_group(self) -> None:
        self.host.op("group close", self.group.close(self.now),
                     2 * self.cfg.request_timeout + SLACK)


class Transformer(GroupMember):
    """Consume-transform-produce, exactly once: a member of group ``sim-eos`` reading t
    read_committed that writes each record it takes to o (same partition, the value
    prefixed with where it came from) in a transaction that also commits the group's
    offsets, under the member's generation (KIP-447: a member a rebalance left behind is
    fenced by the group coordinator).

    One transaction at a time, over every claim: take up to five queued messages, begin,
    send their transformations, add the offsets, commit. A rebalance lets the transaction
    in flight end before the claims return. A transaction that fails is aborted and the
    session ends: the positions are past records whose output did not commit, and the next
    session starts from the committed offsets. A producer that cannot abort is given up:
    the process dies and a new one takes its place.
    """

    group_id = EOS_GROUP
    early_records = True

    def __init__(self, sim: Simulation, instance: str | None = None) -> None:
        super().__init__(sim, instance)
        self.producer = ProducerCore(self.host.core, self.host.config)
        sim.history.transforms[EOS_GROUP] = ("t", OUT)
        sim.history.coordinator_keys.add((1, self.txn_id))
        self.inited = False
        """The producer's init_transactions succeeded (the first consume waits for it)."""
        self.busy = False
        """A transaction is in flight: claims that must stop wait for its end."""
        self.txn = 0

    def _new_host(self, sim: Simulation, instance: str | None) -> Host:
        self.txn_id = f"eos-{sim.name('eosid')}"
        return sim.host("e", group_id=EOS_GROUP, group_instance_id=instance,
                        transactional_id=self.txn_id, isolation_level="read_committed",
                        enable_auto_commit=False)

    @property
    def bound(self) -> float:
        return float(self.cfg.max_block) + SLACK

    def consume(self) -> None:
        if self.inited:
            super().consume()
        else:
            self._init()

    def _init(self) -> None:
        if self.closing:
            return
        try:
            token = self.producer.init_transactions(self.now)
        except KprotoError as exc:
            self.crash(f"its transactional producer cannot start: {exc!r}")
            return
        self.host.op("init_transactions", token, self.bound, self._inited)

    def _inited(self, ok: bool, value: Any) -> None:
        if not ok:
            self.wake(1.0, self._init)
            return
        self.inited = True
        self.consume()

    def on_event(self, event: Event) -> None:
        if isinstance(event, RecordsDelivered):
            for token in event.tokens:
                self.host.settle(token, True, None)
        elif isinstance(event, RecordsFailed):
            for token in event.tokens:
                self.host.settle(token, False, event.error)
        else:
            super().on_event(event)
            if isinstance(event, RecordsFetched) and event.stream in self.handlers:
                # Kept for a claim (of this session, or one not reported yet): read.
                for m in event.messages:
                    self.sim.history.reads.append((self.host.name, m.topic, m.partition,
                                                   m.offset, m.value, "read_committed"))

    def _next(self, hd: _Handler) -> None:
        self._step()

    def _step(self) -> None:
        s = self.session
        if self.busy or s is None:
            return
        for hd in list(self.handlers.values()):
            if hd.stopping and not hd.done:
                hd.done = True
                hd.queue.clear()
                self.group.claim_finished(s.session, hd.stream, self.now)
        batch: list[ConsumerMessage] = []
        limit = 1 + self.sim.app_rng.randrange(5)
        for hd in self.handlers.values():
            while hd.queue and not hd.stopping and len(batch) < limit:
                self._took(hd)
                batch.append(hd.queue.popleft())
        if not batch:
            return
        self.busy = True
        self.txn += 1
        try:
            token = self.producer.begin_transaction(self.now)
        except KprotoError as exc:
            self._abort(s, f"begin refused: {exc!r}")
            return
        self.host.op("begin_transaction", token, self.bound,
                     lambda ok, v: self._send(s, batch) if ok else self._abort(s, "begin failed"))

    def _send(self, s: SessionInfo, batch: list[ConsumerMessage]) -> None:
        offsets: dict[tuple[str, int], int] = {}
        for m in batch:
            value = b"%d:%d:" % (m.partition, m.offset) + (m.value or b"")
            try:
                token = self.producer.send(ProducerMessage(OUT, value, partition=m.partition),
                                           self.now, TS + int(self.now * 1000))
            except KprotoError as exc:
                self._abort(s, f"send refused: {exc!r}")
                return
            self.host.op("send", token, self.cfg.delivery_timeout + SLACK)
            offsets[(m.topic, m.partition)] = m.offset + 1
        try:
            token = self.producer.add_offsets_to_txn(offsets, self.group.group_metadata(s),
                                                     self.now)
        except KprotoError as exc:
            self._abort(s, f"add_offsets_to_txn refused: {exc!r}")
            return
        self.host.op("add_offsets_to_txn", token, self.bound,
                     lambda ok, v: self._commit(s, offsets) if ok
                     else self._abort(s, "add_offsets_to_txn failed"))

    def _commit(self, s: SessionInfo, offsets: dict[tuple[str, int], int]) -> None:
        txn = self.txn
        try:
            token = self.producer.commit_transaction(self.now)
        except KprotoError as exc:
            self._abort(s, f"commit refused: {exc!r}")
            return

        def done(ok: bool, value: Any) -> None:
            if not ok:
                self._abort(s, "commit failed")
                return
            self.note(f"transaction {txn} committed: " + ", ".join(
                f"{t}[{p}]@{o}" for (t, p), o in sorted(offsets.items())))
            self.busy = False
            self._step()

        self.host.op("commit_transaction", token, self.bound, done)

    def _abort(self, s: SessionInfo, why: str) -> None:
        self.note(f"transaction {self.txn}: {why}; aborting")
        try:
            token = self.producer.abort_transaction(self.now)
        except KprotoError as exc:
            self.crash(f"its transactional producer cannot abort: {exc!r}")
            return

        def done(ok: bool, value: Any) -> None:
            if not ok:
                self.crash("its transactional producer could not abort")
                return
            self.busy = False
            if self.session is not None and self.session.session == s.session:
                # Nothing more of this session: its positions are past what was aborted.
                for hd in self.handlers.values():
                    hd.stopping = True
                self.group.stop_session(s.session, "a transaction aborted", self.now)
            self._step()

        self.host.op("abort_transaction", token, self.bound, done)

    def _close_group(self) -> None:
        super()._close_group()
        cfg = self.cfg
        self.host.op("producer close", self.producer.close(self.now),
                     cfg.delivery_timeout + cfg.max_block + SLACK)
