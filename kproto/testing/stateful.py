"""A Hypothesis stateful test base that drives an application against the simulated cluster.

Theory of operation: each example of a ``SimulatedKafkaMachine`` builds one ``Simulation``
(the fake cluster, a simulated network, one simulated clock; seeded by ``seed``, so an
example replays exactly) with the topics the subclass names, an idempotent input producer,
and the user's application: an ``Actor`` that ``application(sim)`` starts (again after each
crash). Nothing runs between rules: the rules move the world. ``send`` gives the input
producer a message, ``advance`` runs the simulated clock forward, ``inject`` applies one
explicit ``Fault`` (``kproto.testing.sim.schedule``), ``crash_app`` kills the application's
process (a new one starts ``restart_delay`` later). The user adds ``@invariant``s (safety:
checked after every step) and ``at_end`` (liveness: checked once the world has settled).

``teardown`` settles the world (faults off, every broker back, the application restarted if
it is down, ``settle_seconds`` of simulated time), calls ``at_end``, closes every process
and checks the simulator's own invariants (``kproto.testing.sim.invariants``) over what
happened. When Hypothesis reports the shrunk failing example it also prints the
simulation's trace (faults, application events and steps; ``trace_deliveries`` adds every
delivery) in the simulator's trace format. Deterministic: no threads, no sleeping.

Hypothesis is an optional dependency (``pip install 'kproto[testing]'``).
"""

from __future__ import annotations

import math
import sys
from typing import Any, ClassVar

try:
    from hypothesis import note
    from hypothesis import strategies as st
    from hypothesis.control import current_build_context
    from hypothesis.errors import InvalidArgument
    from hypothesis.stateful import RuleBasedStateMachine, precondition, rule
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError("kproto.testing.stateful needs Hypothesis: install the extra "
                      "kproto[testing] (pip install 'kproto[testing]')") from exc

from kproto.errors import KprotoError
from kproto.message_types import ConsumerMessage, ProducerMessage
from kproto.testing.sim.actors import TS, Actor, _ProducerBase
from kproto.testing.sim.faults import FaultMix
from kproto.testing.sim.invariants import Sent, Violation, check
from kproto.testing.sim.schedule import Fault, apply_fault
from kproto.testing.sim.simulation import Scenario, Simulation
from kproto.testing.sim.trace import Trace
from kproto.testing.strategies import faults, messages

__all__ = ["InputProducer", "SimulatedKafkaMachine", "committed_records"]

QUIET = Scenario(brokers=3, partitions=1, producers=0, plain_producers=0, transactional=0,
                 readers=0, members=0, storm=math.inf, calm=0.0,
                 options=Scenario().options | {"fetch_max_wait": 2.0})
"""The base's scenario: a three-broker cluster, topic ``t`` with one partition, none of the
simulator's own applications; the storm lasts until ``teardown``. Fetches wait up to 2 s for
data (an idle reader costs little simulated work; data still arrives at once)."""

FAULTS = ("reset", "stop", "leader_move", "coordinator_move", "pause", "broker_error")
"""The faults ``inject`` draws: none loses acknowledged records (no unclean leader change)."""


class InputProducer(_ProducerBase):
    """An idempotent producer (acks=all) sending what it is given; each record's value is
    prefixed with a tag naming it (``in1:3|``), so the simulator's invariants can follow it
    (stored once, in order, acknowledged records never lost, everything settles)."""

    def __init__(self, sim: Simulation, prefix: str = "in", **options: Any) -> None:
        super().__init__(sim, sim.host(prefix, idempotent=True, **options))

    def send_message(self, msg: ProducerMessage) -> bytes | None:
        """Send ``msg`` (value tagged); returns the value sent, None if the producer refused
        it (the refusal is in the trace)."""
        self.seq += 1
        value = f"{self.host.name}:{self.seq}|".encode() + (msg.value or b"")
        out = ProducerMessage(msg.topic, value, key=msg.key, headers=msg.headers,
                              partition=msg.partition)
        try:
            token = self.producer.send(out, self.now, TS + int(self.now * 1000))
        except KprotoError as exc:
            self.note(f"send refused: {exc!r}")
            return None
        part = -1 if msg.partition is None else msg.partition
        sent = Sent(self.host.name, self.seq, msg.topic, part, value, self.now, self.kind)
        self.sim.history.sent[value] = sent
        self.tokens[token] = sent
        self.host.op("send", token, self.host.config.delivery_timeout + 1.0)
        self.note(f"sends {value!r} to {msg.topic}"
                  + (f"[{msg.partition}]" if msg.partition is not None else ""))
        return value

    def on_event(self, event: Any) -> None:
        # Records the partitioner placed are recorded where they went before the checks.
        for token, m in zip(getattr(event, "tokens", ()), getattr(event, "messages", ()),
                            strict=False):
            sent = self.tokens.get(token)
            if sent is not None and sent.partition < 0 and m.partition is not None:
                sent.partition = m.partition
        super().on_event(event)


def committed_records(sim: Simulation, topic: str) -> list[ConsumerMessage]:
    """What a read_committed reader of ``topic`` can see now, partition by partition in
    offset order: records below the high watermark and the last stable offset, without
    control records and records of aborted transactions."""
    t = sim.cluster.topics.get(topic)
    if t is None:
        raise ValueError(f"topic {topic!r} does not exist in the simulation")
    out: list[ConsumerMessage] = []
    for p in t.partitions:
        log = p.log
        upper = log.last_stable_offset
        aborted = log.aborted
        for e in log.entries:
            b = e.batch
            if b.is_control:
                continue
            for r in e.records():
                if r.offset >= upper:
                    break
                if b.is_transactional and any(
                        pid == b.producer_id and first <= r.offset <= last
                        for pid, first, last in aborted):
                    continue
                out.append(ConsumerMessage(topic, p.index, r.offset, r.key, r.value,
                                           r.headers, r.timestamp, 0))
    return out


class SimulatedKafkaMachine(RuleBasedStateMachine):
    """Subclass it, name your ``topics``, start your application in ``application`` and
    state invariants; see the module docstring and docs/simulation.md."""

    seed: ClassVar[int] = 0
    """The simulation's seed (network jitter, background faults, engine randomness)."""
    scenario: ClassVar[Scenario] = QUIET
    """Brokers, topic ``t``'s partitions, and the options every client gets."""
    topics: ClassVar[dict[str, int]] = {}
    """More topics to create: name -> partitions."""
    input_topic: ClassVar[str] = "t"
    """Where ``send`` writes."""
    background: ClassVar[FaultMix] = FaultMix.none()
    """Faults drawn from the seed while the steps run (on top of the explicit ones)."""
    settle_seconds: ClassVar[float] = 20.0
    """Simulated seconds the world runs without faults before ``at_end``."""
    close_seconds: ClassVar[float] = 15.0
    """Simulated seconds every process has to close before the simulation's checks."""
    restart_delay: ClassVar[float] = 1.0
    check_simulation: ClassVar[bool] = True
    """Also check the simulator's invariants (kproto's guarantees) in ``teardown``."""
    trace_deliveries: ClassVar[bool] = False
    trace_lines: ClassVar[int] = 120

    def __init__(self) -> None:
        super().__init__()
        sim = self.sim = Simulation(self.seed, self.scenario, self.background,
                                    actors=_nothing)
        for name, count in self.topics.items():
            if name not in sim.cluster.topics:
                sim.cluster.create_topic(name, count)
        if self.input_topic not in sim.cluster.topics:
            raise InvalidArgument(f"input_topic {self.input_topic!r} is not among the topics")
        self.inputs = InputProducer(sim)
        self.app: Actor | None = None
        self.restarts = 0
        sim._start_faults()
        if type(self).application is not SimulatedKafkaMachine.application:
            self.app = self.application(sim)

    # -- what a subclass provides ---------------------------------------------------------

    def application(self, sim: Simulation) -> Actor:
        """Start the application (an ``Actor`` on a ``sim.host(...)``) and return it; called
        at the start and after each crash. The base has none."""
        raise NotImplementedError

    def at_end(self) -> None:
        """Checks once the world has settled (every input processed): raise
        AssertionError on a violation."""

    # -- helpers --------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.sim.now

    def step(self, what: str) -> None:
        """Write a step into the trace."""
        self.sim.trace.add(self.sim.now, "step", what)

    def run_for(self, seconds: float) -> None:
        """Run the simulation ``seconds`` of simulated time forward."""
        self.sim._advance_to(self.sim.now + seconds)

    def committed(self, topic: str) -> list[ConsumerMessage]:
        """``committed_records`` of ``topic``."""
        return committed_records(self.sim, topic)

    def sent(self) -> list[bytes]:
        """The (tagged) values the input producer sent, in order."""
        return [v for v, s in self.sim.history.sent.items() if s.producer == self.inputs.host.name]

    def restart_app(self, reason: str = "the application failed") -> None:
        """Kill the application's process (if alive); a new one starts after
        ``restart_delay``. Applications call it on a failure they do not handle."""
        sim, app = self.sim, self.app
        if app is not None and app.host.alive:
            sim.kill_host(app.host, reason)
        if sim.stopping:
            return
        self.restarts += 1
        nth = self.restarts

        def start() -> None:
            if self.restarts == nth and not sim.stopping:
                self.app = self.application(sim)

        sim.after(self.restart_delay, start)

    # -- rules ----------------------------------------------------------------------------

    @rule(message=messages(partitions=8))
    def send(self, message: ProducerMessage) -> None:
        """The input producer sends ``message`` to ``input_topic``."""
        t = self.sim.cluster.topics[self.input_topic]
        part = message.partition
        if part is not None:
            part %= len(t.partitions)
        self.step(f"send to {self.input_topic}")
        self.inputs.send_message(ProducerMessage(
            self.input_topic, message.value, key=message.key, headers=message.headers,
            partition=part))

    @rule(seconds=st.floats(0.0, 6.0))
    def advance(self, seconds: float) -> None:
        """Run ``seconds`` of simulated time."""
        self.step(f"advance {seconds:.3f}s")
        self.run_for(seconds)

    @rule(fault=faults(FAULTS))
    def inject(self, fault: Fault) -> None:
        """Apply one fault now (override with your own ``@rule`` to choose others)."""
        self.step(f"inject {fault.kind}")
        apply_fault(self.sim, fault)

    @precondition(lambda self: self.app is not None and self.app.host.alive)
    @rule()
    def crash_app(self) -> None:
        """The application's process dies; another starts ``restart_delay`` later."""
        self.step("crash the application")
        self.restart_app("the application's process crashed")

    # -- the end --------------------------------------------------------------------------

    def teardown(self) -> None:
        failing = sys.exc_info()[0] is not None
        try:
            if not failing:
                self._settle_and_check()
        finally:
            self._note_trace()

    def _settle_and_check(self) -> None:
        sim = self.sim
        sim._calm()
        self.step("settle: faults off, every broker back")
        if self.app is not None and not self.app.host.alive and self.restarts == 0:
            self.app = self.application(sim)
        self.run_for(self.settle_seconds)
        self.at_end()
        sim.stopping = True
        for host in list(sim.hosts):
            if host.alive and host.actor is not None:
                host.actor.close()
        self.run_for(self.close_seconds)
        sim._finish()
        if self.check_simulation:
            found: list[Violation] = check(sim.history)
            assert not found, "the simulation's invariants failed:\n" + "\n".join(
                f"  {v}" for v in found[:20])

    def _note_trace(self) -> None:
        try:
            final = current_build_context().is_final
        except InvalidArgument:
            final = False
        if not final:
            return
        entries = self.sim.trace.entries
        if not self.trace_deliveries:
            entries = [e for e in entries if "#" not in e[1]]
        shown = Trace()
        shown.entries = entries[-self.trace_lines:]
        note(f"simulation trace (seed {self.seed}, last {len(shown.entries)} of "
             f"{len(entries)} entries):\n{shown.format()}")


def _nothing(sim: Simulation) -> None:
    return None
