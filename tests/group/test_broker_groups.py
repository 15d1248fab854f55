"""Consumer groups against a real broker, the same behaviour through every transport."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from typing import Any

import pytest

from kproto.errors import FencedInstanceIdError
from kproto.group.events import SessionAbandonedError
from tests.conformance.drivers import TRANSPORTS, open_remote
from tests.group.members import Behaviour, Ledger, Member, handler, member, pattern
from tests.group.raw import committed, produce

each = pytest.mark.parametrize("transport", TRANSPORTS)
_names = itertools.count()

FAST = dict(session_timeout=6.0, heartbeat_interval=0.5, rebalance_timeout=10.0,
            auto_offset_reset="earliest", auto_commit_interval=1.0, metadata_max_age=5.0)


def unique(kind: str, transport: str) -> str:
    return f"grp-{kind}-{transport}-{next(_names)}"


def fill(bootstrap: str, topic: str, partitions: int, count: int, tag: str) -> None:
    for p in range(partitions):
        produce(bootstrap, topic, p, [f"{tag}-{p}-{i}".encode() for i in range(count)])


@each
def test_one_member_consumes_commits_and_leaves(transport: str, kafka_broker: Any) -> None:
    topic = group = unique("one", transport)
    kafka_broker.create_topic(topic, partitions=4)
    fill(kafka_broker.bootstrap, topic, 4, 10, "a")
    ledger = Ledger()
    ends = {(topic, p): 10 for p in range(4)}
    with member(transport, kafka_broker.bootstrap, [topic], ledger, "solo", group_id=group,
                **FAST) as m:
        ledger.wait("every record", lambda: ledger.complete(ends))
        assert ledger.held_by("solo") == set(ends)
    assert not m.errors and not ledger.violations
    assert committed(kafka_broker.bootstrap, group, topic, 4) == {p: 10 for p in range(4)}


def same_generation(ledger: Ledger, names: list[str], share: int) -> bool:
    gens = set()
    for name in names:
        held = ledger.holding[name]
        if len(held) != share:
            return False
        gens |= set(held.values())
    return len(gens) == 1


@each
def test_three_members_one_closed_one_killed_partitions_move_and_nothing_is_lost(
        transport: str, kafka_broker: Any) -> None:
    topic = group = unique("three", transport)
    kafka_broker.create_topic(topic, partitions=12)
    boot = kafka_broker.bootstrap
    fill(boot, topic, 12, 30, "a")
    ends = {(topic, p): 30 for p in range(12)}
    ledger = Ledger()
    host, port = kafka_broker.listeners["FAULTY"]
    proxy = kafka_broker.proxy
    opts = dict(group_id=group, **FAST)
    try:
        with member(transport, boot, [topic], ledger, "c", **opts) as c, \
                member(transport, f"{host}:{port}", [topic], ledger, "b",
                       **{**opts, "request_timeout": 5.0}), \
                member(transport, boot, [topic], ledger, "a", **opts) as a:
            ledger.wait("three members with four partitions each in one generation",
                        lambda: same_generation(ledger, ["a", "b", "c"], 4))
            a.stop()  # leaves the group
            ledger.wait("b and c sharing all twelve",
                        lambda: same_generation(ledger, ["b", "c"], 6))
            fill(boot, topic, 12, 10, "b")
            ends = {tp: 40 for tp in ends}
            proxy.cut()  # b vanishes without leaving
            # The coordinator expires b after session_timeout; c takes everything then.
            ledger.wait("c holding all twelve", lambda: same_generation(ledger, ["c"], 12),
                        timeout=FAST["session_timeout"] + 5.0)
            fill(boot, topic, 12, 10, "c")
            ends = {tp: 50 for tp in ends}
            ledger.wait("every record processed", lambda: ledger.complete(ends))
        assert not c.errors and not a.errors
    finally:
        proxy.restore()
    assert not ledger.violations, ledger.violations
    assert committed(boot, group, topic, 12) == {p: 50 for p in range(12)}


class Feeder:
    """Appends records to every partition from a test thread until stopped; knows the ends."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, per_round: int = 3) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.per_round = per_round
        self.ends: dict[tuple[str, int], int] = {(topic, p): 0 for p in range(partitions)}
        self.rounds = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="test-feeder", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for p in range(self.partitions):
                base = produce(self.bootstrap, self.topic, p,
                               [f"r{self.rounds}-{i}".encode() for i in range(self.per_round)])
                self.ends[(self.topic, p)] = base + self.per_round
            self.rounds += 1
            self._stop.wait(0.05)  # pacing only: records keep coming during rebalances

    def stop(self) -> dict[tuple[str, int], int]:
        self._stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive()
        return dict(self.ends)


@each
def test_repeated_rebalances_lose_nothing_and_never_share_a_partition(
        transport: str, kafka_broker: Any) -> None:
    topic = group = unique("churn", transport)
    kafka_broker.create_topic(topic, partitions=12)
    boot = kafka_broker.bootstrap
    ledger = Ledger()
    opts = dict(group_id=group, **FAST)
    feeder = Feeder(boot, topic, 12)
    with contextlib.ExitStack() as stack:
        running = [stack.enter_context(member(transport, boot, [topic], ledger, f"m{i}", **opts))
                   for i in range(3)]
        try:
            for round_ in range(4):
                names = [m.name for m in running]
                ledger.wait(f"round {round_}: {names} sharing the partitions",
                            lambda names=names: same_generation(ledger, names, 4))
                leaving = running.pop(0)
                leaving.stop()
                running.append(stack.enter_context(
                    member(transport, boot, [topic], ledger, f"m{round_ + 3}", **opts)))
        finally:
            ends = feeder.stop()
        ledger.wait("every record processed", lambda: ledger.complete(ends))
        final = [m.name for m in running]
        ledger.wait("the last three settled", lambda: same_generation(ledger, final, 4))
    assert not ledger.violations, ledger.violations
    assert all(not m.errors for m in running)
    assert committed(boot, group, topic, 12) == {p: ends[(topic, p)] for p in range(12)}


@pytest.mark.interop
@pytest.mark.real_broker("runs Kafka's Java console consumer from the harness broker's jars")
@each
def test_a_java_console_consumer_and_a_kproto_member_split_the_partitions(
        transport: str, kafka_broker: Any) -> None:
    topic = group = unique("java", transport)
    kafka_broker.create_topic(topic, partitions=12)
    boot = kafka_broker.bootstrap
    fill(boot, topic, 12, 20, "a")
    ledger = Ledger()
    everything = {(topic, p) for p in range(12)}
    java: dict[str, Any] = {}

    def console_consumer() -> None:
        java["proc"] = kafka_broker.java_tool(
            "console-consumer", "--bootstrap-server", boot, "--topic", topic, "--group", group,
            # It leaves (committing what it read) once it has its half: 6 partitions x 10.
            "--max-messages", "60", "--timeout-ms", "60000",
            "--consumer-property", "group.protocol=classic",
            "--consumer-property", "session.timeout.ms=6000",
            "--consumer-property", "heartbeat.interval.ms=500",
            "--consumer-property", "auto.offset.reset=earliest",
            timeout=150)

    with member(transport, boot, [topic], ledger, "kproto", group_id=group, **FAST) as m:
        ledger.wait("kproto alone with every partition",
                    lambda: ledger.held_by("kproto") == everything and ledger.complete(
                        {tp: 20 for tp in everything}))
        [alone] = set(ledger.holding["kproto"].values())
        runner = threading.Thread(target=console_consumer, name="test-java-consumer")
        runner.start()
        # (Six partitions of the old generation are also held for a moment while the
        # session winds down: wait for a newer generation.)
        ledger.wait("the Java consumer joined and took half",
                    lambda: len(ledger.held_by("kproto")) == 6
                    and min(ledger.holding["kproto"].values()) > alone, timeout=120)
        mine = ledger.held_by("kproto")
        fill(boot, topic, 12, 10, "b")
        ledger.wait("kproto read the new records of its half",
                    lambda: ledger.complete({tp: 30 for tp in mine}))
        runner.join(160)
        assert not runner.is_alive()
        for line in java["proc"].stdout.splitlines():
            if line.startswith("b-"):
                _tag, p, i = line.strip().split("-")
                ledger.processed_elsewhere(topic, int(p), [20 + int(i)])
        ledger.wait("kproto has every partition again once Java left",
                    lambda: ledger.held_by("kproto") == everything)
    proc = java["proc"]
    values = [line.strip() for line in proc.stdout.splitlines()
              if line.startswith(("a-", "b-"))]  # not the tool's own notices
    java_partitions = {int(v.split("-")[1]) for v in values}
    assert len(values) == 60 and all(v.startswith("b-") for v in values), proc.stderr[-2000:]
    assert java_partitions == {p for _t, p in everything - mine}
    assert not m.errors and not ledger.violations
    # Both committed what they read: Java for its half, kproto for the rest.
    assert committed(boot, group, topic, 12) == {p: 30 for p in range(12)}


@each
def test_cooperative_sticky_keeps_unmoved_partitions_flowing_during_a_rebalance(
        transport: str, kafka_broker: Any) -> None:
    topic = group = unique("coop", transport)
    kafka_broker.create_topic(topic, partitions=12)
    boot = kafka_broker.bootstrap
    ledger = Ledger()
    opts = dict(group_id=group, assignors=("cooperative-sticky",), **FAST)
    feeder = Feeder(boot, topic, 12, per_round=1)
    try:
        with member(transport, boot, [topic], ledger, "a", **opts) as a:
            ledger.wait("a alone with every partition",
                        lambda: len(ledger.held_by("a")) == 12)
            ledger.wait("a consuming", lambda: sum(
                len(v) for v in ledger.by_member["a"].values()) > 24)
            loops_before = list(ledger.claim_loops["a"])
            joined_at = time.monotonic()
            with member(transport, boot, [topic], ledger, "b", **opts) as b:
                ledger.wait("a and b with six partitions each",
                            lambda: len(ledger.held_by("a")) == 6
                            and len(ledger.held_by("b")) == 6)
                kept = ledger.held_by("a")
                b_first = min(t for t, m, what, _p, _g in ledger.timeline
                              if m == "b" and what == "start")
                # a's claim loops for the partitions it kept never stopped ...
                loops = ledger.claim_loops["a"][len(loops_before):]
                assert {(t, p) for t, p, _g, what in loops if what == "end"} \
                    == {(topic, p) for p in range(12)} - kept, (loops, a.errors, a.sessions)
                assert not [x for x in loops if x[3] == "start"]
                # ... and their records kept coming while the group rebalanced.
                flowing = {p for t, m, what, p, _g in ledger.timeline
                           if m == "a" and what == "message" and joined_at < t < b_first
                           and (topic, p) in kept}
                assert flowing, "nothing consumed on kept partitions during the rebalance"
                generations = {g for t, m, what, p, g in ledger.timeline
                               if m == "a" and what == "message" and (topic, p) in kept}
                assert len(generations) >= 2, "kept claims ran across generations"
                ends = feeder.stop()
                ledger.wait("every record processed", lambda: ledger.complete(ends))
            assert a.sessions == 0, "the cooperative rebalance did not end a's session"
        assert not a.errors and not b.errors
    finally:
        feeder.stop()
    assert not ledger.violations, ledger.violations


@each
def test_a_cooperative_member_removed_from_the_group_loses_its_partitions(
        transport: str, kafka_broker: Any) -> None:
    """a's traffic runs 4s late. When b joins, the coordinator waits the 3s rebalance
    timeout for a's rejoin, removes it and gives b every partition. a hears it late, from a
    heartbeat answered UNKNOWN_MEMBER_ID (here; or from its cooperative rejoin, answered
    the same when a heartbeat had said "rebalancing" in time: tests/group/
    test_cooperative_core.py and simulation seeds 920121, 920066): the partitions it kept
    are lost, as the Java client has it. Its session ends without committing them and it
    joins again as a new member; nothing is lost and no generation has two owners."""
    topic = group = unique("coop-removed", transport)
    kafka_broker.create_topic(topic, partitions=4)
    boot = kafka_broker.bootstrap
    host, port = kafka_broker.listeners["FAULTY"]
    proxy = kafka_broker.proxy
    ledger = Ledger()
    opts = dict(group_id=group, assignors=("cooperative-sticky",),
                **{**FAST, "rebalance_timeout": 3.0, "session_timeout": 12.0})
    fill(boot, topic, 4, 5, "a")
    ends = {(topic, p): 5 for p in range(4)}
    try:
        with member(transport, f"{host}:{port}", [topic], ledger, "a", **opts) as a:
            ledger.wait("a alone with every partition", lambda: len(ledger.held_by("a")) == 4)
            ledger.wait("a processed the first records", lambda: ledger.complete(ends))
            proxy.delay(4.0)
            with member(transport, boot, [topic], ledger, "b", **opts) as b:
                ledger.wait("b with every partition", lambda: len(ledger.held_by("b")) == 4)
                ledger.wait("a's claims of its first session ended",
                            lambda: not ledger.held_by("a"))
                # (the ledger's wait looks again at least every second)
                ledger.wait("a's first session over", lambda: a.sessions + len(a.errors) > 0)
                assert (a.sessions, a.errors) == (1, [])
                first = {(t, p) for t, p, _g, what in ledger.claim_loops["a"] if what == "end"}
                assert first == set(ends)
                proxy.restore()
                ledger.wait("a and b with two partitions each",
                            lambda: len(ledger.held_by("a")) == 2 and len(ledger.held_by("b")) == 2)
                fill(boot, topic, 4, 5, "b")
                ends = {tp: 10 for tp in ends}
                ledger.wait("every record processed", lambda: ledger.complete(ends))
            assert not b.errors
    finally:
        proxy.restore()
    assert not ledger.violations, ledger.violations
    assert committed(boot, group, topic, 4) == {p: 10 for p in range(4)}


@each
def test_heartbeats_keep_a_member_whose_handler_is_slower_than_the_session_timeout(
        transport: str, kafka_broker: Any) -> None:
    topic = group = unique("slow", transport)
    kafka_broker.create_topic(topic, partitions=1)
    boot = kafka_broker.bootstrap
    fill(boot, topic, 1, 2, "a")
    ledger = Ledger()
    opts = {**FAST, "session_timeout": 3.0, "heartbeat_interval": 0.5}
    with member(transport, boot, [topic], ledger, "slow", Behaviour(delay=4.0),
                group_id=group, **opts) as m:
        ledger.wait("both records", lambda: ledger.complete({(topic, 0): 2}), timeout=60)
        generations = {g for g, _o in ledger.by_member["slow"][(topic, 0)]}
        assert m.sessions == 0 and len(generations) == 1, "the slow member stayed in the group"
    assert not m.errors and not ledger.violations
    assert committed(boot, group, topic, 1) == {0: 2}


@each
def test_close_abandons_claim_loops_that_ignore_the_end_of_the_session(
        transport: str, kafka_broker: Any) -> None:
    topic = group = unique("stubborn", transport)
    kafka_broker.create_topic(topic, partitions=2)
    boot = kafka_broker.bootstrap
    fill(boot, topic, 2, 3, "a")
    ledger = Ledger()
    how = Behaviour(stubborn=60.0)
    opts = {**FAST, "rebalance_timeout": 2.0}
    outcome: list[BaseException | None] = []
    with open_remote(transport, lambda mod: mod.ConsumerGroup(boot, group_id=group,
                                                              **opts)) as g:
        def run() -> None:
            try:
                g.consume([topic], handler(transport, ledger, "stubborn", how))
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        runner = threading.Thread(target=run, name="test-consume")
        runner.start()
        ledger.wait("every record", lambda: ledger.complete({(topic, 0): 3, (topic, 1): 3}))
        with pytest.raises(SessionAbandonedError) as info:
            g.close()
        still_running = not how.released.is_set() and ledger.holding["stubborn"]
        how.released.set()
        runner.join(60)
    text = str(info.value)
    assert "did not return within rebalance_timeout (2s)" in text
    assert "cleanup was not called" in text and how.cleanups == 0
    assert f"{topic}[0]" in text and f"{topic}[1]" in text
    if transport == "threads":
        assert still_running, "close returned while the claim threads still ran"
    assert isinstance(outcome[0], SessionAbandonedError)
    # The records it marked before being abandoned were committed all the same.
    assert committed(boot, group, topic, 2) == {0: 3, 1: 3}


@each
def test_a_topic_pattern_follows_new_topics(transport: str, kafka_broker: Any) -> None:
    prefix = group = unique("pattern", transport)
    boot = kafka_broker.bootstrap
    kafka_broker.create_topic(f"{prefix}-a", partitions=2)
    kafka_broker.create_topic(f"{prefix}-b", partitions=1)
    kafka_broker.create_topic(f"other-{prefix}", partitions=1)
    for name in (f"{prefix}-a", f"{prefix}-b", f"other-{prefix}"):
        fill(boot, name, 1, 2, "a")
    ledger = Ledger()
    with member(transport, boot, pattern(prefix), ledger, "p", group_id=group,
                **{**FAST, "metadata_max_age": 2.0}) as m:
        ledger.wait("the two matching topics", lambda: ledger.held_by("p") == {
            (f"{prefix}-a", 0), (f"{prefix}-a", 1), (f"{prefix}-b", 0)})
        kafka_broker.create_topic(f"{prefix}-c", partitions=1)
        fill(boot, f"{prefix}-c", 1, 4, "c")
        ledger.wait("the new topic, consumed",
                    lambda: ledger.complete({(f"{prefix}-c", 0): 4}))
        assert (f"other-{prefix}", 0) not in ledger.processed
    assert not m.errors and not ledger.violations


@each
def test_static_members_come_back_without_a_rebalance_and_duplicates_are_fenced(
        transport: str, kafka_broker: Any) -> None:
    topic = group = unique("static", transport)
    kafka_broker.create_topic(topic, partitions=3)
    boot = kafka_broker.bootstrap
    fill(boot, topic, 3, 2, "a")
    ledger = Ledger()
    opts = dict(group_id=group, group_instance_id="box-1", **FAST)
    every = {(topic, p) for p in range(3)}
    with member(transport, boot, [topic], ledger, "first", **opts):
        ledger.wait("first run", lambda: ledger.complete({tp: 2 for tp in every}))
        [generation] = set(ledger.holding["first"].values())
    # Closed without leaving: the same instance id comes back into the same generation.
    fill(boot, topic, 3, 2, "b")
    with member(transport, boot, [topic], ledger, "again", **opts) as again:
        ledger.wait("second run", lambda: ledger.complete({tp: 4 for tp in every}))
        assert set(ledger.holding["again"].values()) == {generation}
        # A second live member with the same instance id fences the first one.
        with open_remote(transport, lambda mod: mod.ConsumerGroup(boot, **opts)) as dup:
            outcome: list[BaseException] = []

            def run() -> None:
                try:
                    dup.consume([topic], handler(transport, ledger, "dup"))
                except BaseException as exc:
                    outcome.append(exc)

            runner = threading.Thread(target=run, name="test-dup")
            runner.start()
            ledger.wait("the duplicate took over", lambda: bool(ledger.held_by("dup")))
            ledger.wait("the original fenced", lambda: bool(again.errors))
            dup.close()
            runner.join(60)
        assert isinstance(again.errors[0], FencedInstanceIdError)


@each
def test_paused_partitions_are_not_fetched_until_resumed(transport: str,
                                                         kafka_broker: Any) -> None:
    topic = group = unique("pause", transport)
    kafka_broker.create_topic(topic, partitions=2)
    boot = kafka_broker.bootstrap
    fill(boot, topic, 2, 3, "a")
    ledger = Ledger()
    with open_remote(transport, lambda mod: mod.ConsumerGroup(boot, group_id=group,
                                                              **FAST)) as g:
        g.pause({topic: [1]})
        m = Member(transport, g, [topic], ledger, "p")
        try:
            ledger.wait("partition 0", lambda: ledger.complete({(topic, 0): 3}))
            # More rounds of fetching for partition 0; partition 1 stays untouched.
            produce(boot, topic, 0, [b"more"])
            ledger.wait("partition 0 again", lambda: ledger.complete({(topic, 0): 4}))
            assert not ledger.processed[(topic, 1)]
            # The paused partition's claim is held too (its loop may start after the other
            # one has already processed records: claims start concurrently).
            ledger.wait("both claims held",
                        lambda: ledger.held_by("p") == {(topic, 0), (topic, 1)})
            assert not ledger.processed[(topic, 1)]
            g.resume([(topic, 1)])
            ledger.wait("partition 1 after resume", lambda: ledger.complete({(topic, 1): 3}))
        finally:
            m.stop()
    assert not m.errors and not ledger.violations


@each
def test_close_from_inside_a_claim_loop(transport: str, kafka_broker: Any) -> None:
    topic = group = unique("inside", transport)
    kafka_broker.create_topic(topic, partitions=1)
    boot = kafka_broker.bootstrap
    fill(boot, topic, 1, 5, "a")
    ledger = Ledger()
    outcome: list[Any] = []
    with open_remote(transport, lambda mod: mod.ConsumerGroup(
            boot, group_id=group, **{**FAST, "enable_auto_commit": False})) as g:
        target = getattr(g, "target", g)  # the adapter object itself, for the handler
        closing: list[Any] = []

        def close_once() -> Any:
            if closing:
                return None
            closing.append(True)
            return target.close()

        how = Behaviour(on_message=close_once)

        def run() -> None:
            try:
                outcome.append(g.consume([topic], handler(transport, ledger, "i", how)))
            except BaseException as exc:
                outcome.append(exc)

        runner = threading.Thread(target=run, name="test-consume")
        runner.start()
        runner.join(60)
        assert not runner.is_alive(), "consume returned once the group closed"
    assert outcome == [None]
    assert committed(boot, group, topic, 1) == {0: 1}  # the one message marked before close
