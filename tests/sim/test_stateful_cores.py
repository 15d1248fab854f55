"""Hypothesis stateful tests of the producer, the fetcher and the group membership state
machines against the fake cluster, on the simulator (``SimulatedKafkaMachine``): Hypothesis
chooses sends, seeks, members joining, leaving and crashing, faults and the passing of
simulated time; invariants hold after every step, and once the world settles."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule, run_state_machine_as_test

from kproto.consumer import ConsumerCore
from kproto.consumer.events import FetchError, RecordsFetched
from kproto.errors import LogTruncationError
from kproto.message_types import OFFSET_OLDEST, ProducerMessage
from kproto.producer import RecordsDelivered, RecordsFailed
from kproto.protocol import apis
from kproto.testing.fake import codes
from kproto.testing.sim import Scenario, Simulation
from kproto.testing.sim.actors import Actor, GroupMember
from kproto.testing.sim.invariants import check_one_owner
from kproto.testing.sim.schedule import Fault, apply_fault
from kproto.testing.stateful import QUIET, SimulatedKafkaMachine

QUICK = settings(max_examples=15, stateful_step_count=8, deadline=None, derandomize=True,
                 database=None, report_multiple_bugs=False)


def _scenario(partitions: int) -> Scenario:
    return Scenario(brokers=3, partitions=partitions, producers=0, transactional=0,
                    readers=0, members=0, storm=QUIET.storm, calm=0.0, options=QUIET.options)


class _Bursts(SimulatedKafkaMachine):
    """Adds a rule sending many records at once, so that batches of several records, and
    several batches in flight per partition, are common."""

    @rule(count=st.integers(1, 40), partition=st.one_of(st.none(), st.integers(0, 3)))
    def burst(self, count: int, partition: int | None) -> None:
        parts = self.scenario.partitions
        self.step(f"burst of {count}")
        for _ in range(count):
            self.inputs.send_message(ProducerMessage(
                "t", b"x", partition=None if partition is None else partition % parts))


# -- the producer ---------------------------------------------------------------------------


class ProducerMachine(_Bursts):
    """Every record settles exactly once; stored once, in send order per partition; acked
    records are in the log where their acknowledgement says (teardown's checks)."""

    scenario = _scenario(3)

    def __init__(self) -> None:
        super().__init__()
        self.settled: Counter[int] = Counter()
        self.acked: dict[int, tuple[int, int, bytes | None]] = {}
        on_event = self.inputs.on_event

        def watch(event: Any) -> None:
            if isinstance(event, RecordsDelivered):
                for i, (token, m) in enumerate(zip(event.tokens, event.messages, strict=True)):
                    self.settled[token] += 1
                    self.acked[token] = (event.partition, event.base_offset + i, m.value)
            elif isinstance(event, RecordsFailed):
                self.settled.update(event.tokens)
            on_event(event)

        self.inputs.on_event = watch  # type: ignore[method-assign]

    @rule(error=st.sampled_from([codes.NOT_LEADER_OR_FOLLOWER, codes.NOT_ENOUGH_REPLICAS]),
          partition=st.integers(0, 2), count=st.integers(1, 3))
    def produce_error(self, error: int, partition: int, count: int) -> None:
        self.step(f"the next {count} Produce of t[{partition}] fail with {error}")
        self.sim.cluster.faults.fail(apis.PRODUCE, error, count, topic="t", partition=partition)

    @invariant()
    def each_record_settles_once(self) -> None:
        twice = [t for t, n in self.settled.items() if n > 1]
        assert not twice, f"tokens settled more than once: {twice}"

    @invariant()
    def stored_once_in_send_order(self) -> None:
        name = self.inputs.host.name
        seen: set[bytes] = set()
        last: dict[int, int] = {}
        for m in self.committed("t"):
            assert m.value not in seen, f"{m.value!r} stored twice"
            seen.add(m.value or b"")
            s = self.sim.history.sent[m.value or b""]
            assert s.producer == name
            assert s.seq > last.get(m.partition, 0), f"{m.value!r} stored out of order"
            last[m.partition] = s.seq

    def at_end(self) -> None:
        log = {(m.partition, m.offset): m.value for m in self.committed("t")}
        for partition, offset, value in self.acked.values():
            assert log.get((partition, offset)) == value, f"acked {value!r} not at {offset}"
        unsettled = [s.value for s in self.sim.history.sent.values()
                     if s.acked is None and s.failed is None]
        assert not unsettled, f"never settled: {unsettled}"


def test_the_producer_machine() -> None:
    run_state_machine_as_test(ProducerMachine, settings=QUICK)


# -- the fetcher ----------------------------------------------------------------------------


class FetchReader(Actor):
    """Reads every partition of ``t`` from the oldest offset and checks, as messages arrive,
    that each partition's records come once and in order: each at the offset after the last
    one, or where a seek or a detected truncation moved the position."""

    def __init__(self, sim: Simulation, partitions: int) -> None:
        super().__init__(sim, sim.host("r"))
        self.consumer = ConsumerCore(self.host.core, self.host.config)
        self.streams: dict[int, int] = {}
        self.expected: dict[int, int] = {}
        self.seen: dict[int, dict[int, bytes | None]] = {}
        self.problems: list[str] = []
        for p in range(partitions):
            self.streams[self.consumer.consume_partition("t", p, OFFSET_OLDEST, self.now)] = p
            self.expected[p] = 0
            self.seen[p] = {}

    def seek(self, partition: int, offset: int) -> None:
        stream = next(s for s, p in self.streams.items() if p == partition)
        self.consumer.fetcher.seek(stream, offset, self.now)
        self.note(f"seeks t[{partition}] to {offset}")
        self.expected[partition] = offset
        self.seen[partition] = {}

    def on_event(self, event: Any) -> None:
        if isinstance(event, RecordsFetched) and event.stream in self.streams:
            fetcher = self.consumer.fetcher
            if event.size:
                fetcher.release(event.stream, event.size, self.now)
            if event.seeks != fetcher.seeks(event.stream):
                return  # fetched before a seek: the reader drops it
            p = event.partition
            for m in event.messages:
                if m.offset != self.expected[p]:
                    self.problems.append(f"t[{p}]: got offset {m.offset}, expected "
                                         f"{self.expected[p]}")
                self.expected[p] = m.offset + 1
                self.seen[p][m.offset] = m.value
        elif isinstance(event, FetchError) and event.stream in self.streams:
            if isinstance(event.error, LogTruncationError) and event.error.offset is not None:
                self.note(f"t[{event.partition}] truncated: continues at {event.error.offset}")
                self.expected[event.partition] = event.error.offset
            else:
                self.problems.append(f"fetch error: {event.error!r}")

    def close(self) -> None:
        self.consumer.close(self.now)


class FetcherMachine(_Bursts):
    """Every record is delivered once and in order through seeks, leader moves and
    truncations by unclean leader changes; once settled the reader holds the whole log."""

    scenario = _scenario(2)

    def __init__(self) -> None:
        super().__init__()
        self.reader = FetchReader(self.sim, 2)

    @rule(partition=st.integers(0, 1), back=st.integers(0, 5))
    def seek(self, partition: int, back: int) -> None:
        p = self.sim.cluster.partition("t", partition)
        assert p is not None
        offset = max(0, p.log.high_watermark - back)
        self.step(f"seek t[{partition}] to {offset}")
        self.reader.seek(partition, offset)

    @rule(partition=st.integers(0, 1), seconds=st.floats(0.5, 3.0))
    def truncate(self, partition: int, seconds: float) -> None:
        self.step(f"unclean leader change of t[{partition}] in {seconds:.3f}s")
        apply_fault(self.sim, Fault("unclean", partition, seconds))
        self.run_for(seconds + 0.01)  # the records written meanwhile are lost

    @invariant()
    def delivered_once_in_order(self) -> None:
        assert not self.reader.problems, self.reader.problems

    def at_end(self) -> None:
        for p in range(2):
            part = self.sim.cluster.partition("t", p)
            assert part is not None
            log = {m.offset: m.value for m in self.committed("t") if m.partition == p}
            assert self.reader.expected[p] == part.log.high_watermark, (
                f"t[{p}]: the reader is at {self.reader.expected[p]}, the log ends at "
                f"{part.log.high_watermark}")
            for offset, value in self.reader.seen[p].items():
                assert log.get(offset) == value, f"t[{p}]@{offset}: read {value!r}"


def test_the_fetcher_machine() -> None:
    run_state_machine_as_test(FetcherMachine, settings=QUICK)


# -- group membership -----------------------------------------------------------------------


class GroupMachine(SimulatedKafkaMachine):
    """Members join, leave and crash (no LeaveGroup); no partition has two owners in one
    generation, and once settled the running members own every partition exactly once."""

    scenario = _scenario(4)

    def __init__(self) -> None:
        super().__init__()
        self.members: list[GroupMember] = [GroupMember(self.sim)]

    def send(self, message: ProducerMessage) -> None:
        """Not a rule here: membership is what this machine tests."""

    def live(self) -> list[GroupMember]:
        return [m for m in self.members if m.host.alive and not m.closing]

    @precondition(lambda self: len(self.live()) < 4)
    @rule()
    def join(self) -> None:
        self.step("a member joins")
        self.members.append(GroupMember(self.sim))

    @precondition(lambda self: bool(self.live()))
    @rule(which=st.integers(0, 3))
    def leave(self, which: int) -> None:
        live = self.live()
        member = live[which % len(live)]
        self.step(f"{member.host.name} leaves")
        member.close()

    @precondition(lambda self: bool(self.live()))
    @rule(which=st.integers(0, 3))
    def crash(self, which: int) -> None:
        live = self.live()
        member = live[which % len(live)]
        self.step(f"{member.host.name} crashes")
        self.sim.kill_host(member.host, "crashed")

    @invariant()
    def one_owner_per_generation(self) -> None:
        found = check_one_owner(self.sim.history)
        assert not found, [str(v) for v in found]

    def at_end(self) -> None:
        live = self.live()
        if not live:
            return
        owned: Counter[int] = Counter()
        for m in live:
            assert m.session is not None, f"{m.host.name} has no session after settling"
            for p in m.group.claims(m.session.session).get("t", []):
                owned[p] += 1
        assert owned == Counter(range(4)), f"partitions owned: {dict(owned)}"


def test_the_group_machine() -> None:
    run_state_machine_as_test(GroupMachine, settings=QUICK)
