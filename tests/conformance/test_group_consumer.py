"""The subscribe-and-iterate GroupConsumer through every transport, against real Kafka 4.x
and 3.9: read, commit, close and resume from the commit; members splitting partitions with
their listeners called; pattern subscription; pause/resume; seek; static membership; a Java
consumer in the same group."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from kproto.errors import ClientTimeoutError, UsageError
from kproto.group.metadata import ConsumerGroupMetadata
from kproto.message_types import OFFSET_OLDEST, ConsumerMessage
from tests.conformance.drivers import TRANSPORTS, open_remote
from tests.group.raw import committed, produce

each = pytest.mark.parametrize("transport", TRANSPORTS)
_names = itertools.count()
WAIT = 60.0
FAST = dict(session_timeout=6.0, heartbeat_interval=0.5, rebalance_timeout=10.0,
            auto_offset_reset="earliest", metadata_max_age=2.0)


@pytest.fixture(params=["kafka_broker", "kafka_broker_39"], ids=["newest", "3.9"])
def broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def unique(what: str, transport: str) -> str:
    return f"gc-{what}-{transport}-{int(time.time() * 1000)}-{next(_names)}"


def fill(boot: str, topic: str, partitions: int, n: int, tag: str = "v") -> None:
    for p in range(partitions):
        produce(boot, topic, p, [f"{tag}-{p}-{i}".encode() for i in range(n)])


class Listener:
    """Records every call, from whichever thread the transport calls it on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, frozenset[tuple[str, int]]]] = []
        self.on_revoke: Callable[[set[Any]], Any] | None = None

    def _note(self, kind: str, parts: set[Any]) -> None:
        with self.lock:
            self.calls.append((kind, frozenset(parts)))

    def on_partitions_revoked(self, revoked: set[Any]) -> Any:
        self._note("revoked", revoked)
        # (a coroutine on asyncio and trio: the consumer awaits it)
        return self.on_revoke(revoked) if self.on_revoke is not None else None

    def on_partitions_assigned(self, assigned: set[Any]) -> None:
        self._note("assigned", assigned)

    def on_partitions_lost(self, lost: set[Any]) -> None:
        self._note("lost", lost)

    def kinds(self) -> list[str]:
        with self.lock:
            return [k for k, _ in self.calls]


def sharing(r: Any, everything: set[tuple[str, int]]) -> bool:
    """Every member of ``r`` holds its share and together they hold ``everything``."""
    held = [m.assignment() for m in r.members.values()]
    return all(len(h) == len(everything) // len(held) for h in held) and \
        set().union(*held) == everything


def commit_of(native: Any, revoked: set[Any]) -> Any:
    return native.commit()


@contextlib.contextmanager
def consumer(transport: str, boot: str, **options: Any) -> Iterator[Any]:
    with open_remote(transport, lambda mod: mod.GroupConsumer(boot, **{**FAST, **options})) as c:
        yield c


class Reader:
    """Polls members in turn (short polls, so rebalances needing all of them complete) and
    keeps what each read."""

    def __init__(self, **members: Any) -> None:
        self.members = dict(members)
        self.read: dict[str, list[ConsumerMessage]] = {name: [] for name in members}

    def poll_until(self, what: str, done: Callable[[], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.values()}"
            for name, c in list(self.members.items()):
                for messages in c.getmany(timeout=0.2).values():
                    self.read[name].extend(messages)

    def values(self, name: str | None = None) -> list[bytes]:
        names = [name] if name else list(self.read)
        return [m.value or b"" for n in names for m in self.read[n]]


@each
def test_read_commit_close_and_resume_from_the_commit(transport: str, broker: Any) -> None:
    topic = group = unique("resume", transport)
    broker.create_topic(topic, partitions=3, replication_factor=1)
    boot = broker.bootstrap
    fill(boot, topic, 3, 10)
    with consumer(transport, boot, group_id=group, enable_auto_commit=False) as c:
        with pytest.raises(UsageError, match="subscribe"):
            c.getmany(timeout=0)
        with pytest.raises(UsageError, match="topics"):
            c.subscribe([])
        c.subscribe([topic])
        r = Reader(c=c)
        r.poll_until("30 records", lambda: len(r.read["c"]) >= 30)
        assert sorted(r.values()) == sorted(f"v-{p}-{i}".encode()
                                            for p in range(3) for i in range(10))
        assert c.assignment() == {(topic, 0), (topic, 1), (topic, 2)}
        assert c.position((topic, 1)) == 10
        assert committed(boot, group, topic, 3) == {0: -1, 1: -1, 2: -1}  # no auto-commit
        c.commit()
        assert committed(boot, group, topic, 3) == {0: 10, 1: 10, 2: 10}
        c.commit(offsets={(topic, 0): 4})
        assert committed(boot, group, topic, 3) == {0: 4, 1: 10, 2: 10}
        with pytest.raises(UsageError, match="offsets"):
            c.commit(offsets={(topic, 7): 1})
        meta = c.group_metadata()
        assert isinstance(meta, ConsumerGroupMetadata) and meta.group_id == group
        assert meta.generation_id >= 1 and meta.member_id
    fill(boot, topic, 3, 2, "w")
    with consumer(transport, boot, group_id=group) as again:  # auto-commit on
        again.subscribe(topic)
        r = Reader(again=again)
        r.poll_until("the rest", lambda: len(r.read["again"]) >= 12)
        got = sorted(r.values())
        assert got == sorted([f"v-0-{i}".encode() for i in range(4, 10)]
                             + [f"w-{p}-{i}".encode() for p in range(3) for i in range(2)])
        assert not again.getmany(timeout=0.5)
    # The auto-commit at close stored the positions.
    assert committed(boot, group, topic, 3) == {0: 12, 1: 12, 2: 12}


@each
def test_members_split_the_partitions_and_a_third_triggers_the_listeners(
        transport: str, broker: Any) -> None:
    topic = group = unique("split", transport)
    broker.create_topic(topic, partitions=6, replication_factor=1)
    boot = broker.bootstrap
    fill(boot, topic, 6, 5)
    everything = {(topic, p) for p in range(6)}
    listeners = {name: Listener() for name in "abc"}
    with contextlib.ExitStack() as stack:
        members = {}
        r = Reader()
        for name in "abc":
            c = members[name] = stack.enter_context(consumer(transport, boot, group_id=group))
            # A revoke may commit first: here it commits the positions synchronously.
            native = c if transport == "threads" else c.target  # (called where it lives)
            listeners[name].on_revoke = partial(commit_of, native)
            c.subscribe([topic], listener=listeners[name])
            r.members[name], r.read[name] = c, []
            r.poll_until(f"{len(r.members)} members sharing the partitions",
                         partial(sharing, r, everything))
            if name == "a":
                r.poll_until("a read everything", lambda: len(r.read["a"]) == 30)
                assert listeners["a"].kinds() == ["assigned"]
        fill(boot, topic, 6, 5, "w")
        r.poll_until("the new records", lambda: sum(map(len, r.read.values())) == 60)
        # Every record read exactly once across the members (revokes committed first).
        assert sorted(r.values()) == sorted(f"{tag}-{p}-{i}".encode() for tag in "vw"
                                            for p in range(6) for i in range(5))
        # a saw two rebalances, b one, c none; each revoke came before the next assignment.
        assert listeners["a"].kinds() == ["assigned", "revoked", "assigned", "revoked",
                                          "assigned"]
        assert listeners["b"].kinds() == ["assigned", "revoked", "assigned"]
        assert listeners["c"].kinds() == ["assigned"]
        assert listeners["a"].calls[1][1] == frozenset(everything)
        finals = [listeners[n].calls[-1][1] for n in "abc"]
        assert set().union(*finals) == everything and sum(map(len, finals)) == 6


@each
def test_a_pattern_subscription_picks_up_a_new_topic(transport: str, broker: Any) -> None:
    prefix = unique("pattern", transport)
    group = prefix
    broker.create_topic(f"{prefix}-one", partitions=1, replication_factor=1)
    produce(broker.bootstrap, f"{prefix}-one", 0, [b"one"])
    with consumer(transport, broker.bootstrap, group_id=group) as c:
        with pytest.raises(UsageError, match="pattern"):
            c.subscribe([f"{prefix}-one"], pattern=f"{prefix}-.*")
        c.subscribe(pattern=f"{prefix}-.*")
        r = Reader(c=c)
        r.poll_until("the first topic's record", lambda: r.values() == [b"one"])
        broker.create_topic(f"{prefix}-two", partitions=1, replication_factor=1)
        produce(broker.bootstrap, f"{prefix}-two", 0, [b"two"])
        r.poll_until("the new topic's record", lambda: b"two" in r.values())
        assert c.assignment() == {(f"{prefix}-one", 0), (f"{prefix}-two", 0)}
        assert r.values() == [b"one", b"two"]


@each
def test_pause_resume_and_seek(transport: str, broker: Any) -> None:
    topic = group = unique("pause", transport)
    broker.create_topic(topic, partitions=2, replication_factor=1)
    boot = broker.bootstrap
    fill(boot, topic, 2, 10)
    with consumer(transport, boot, group_id=group, enable_auto_commit=False) as c:
        c.subscribe([topic])
        c.pause([(topic, 0)])  # before the assignment: it applies once assigned
        assert c.paused() == {(topic, 0)}
        r = Reader(c=c)
        r.poll_until("partition 1", lambda: len(r.read["c"]) >= 10)
        assert c.assignment() == {(topic, 0), (topic, 1)}
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # nothing of the paused partition comes
            assert not c.getmany(timeout=0.3)
        assert {m.partition for m in r.read["c"]} == {1}
        c.resume([(topic, 0)])
        r.poll_until("partition 0 after resume", lambda: len(r.read["c"]) >= 20)
        assert [m.offset for m in r.read["c"] if m.partition == 0] == list(range(10))
        assert c.position((topic, 0)) == 10
        c.seek((topic, 0), 3)
        assert c.position((topic, 0)) == 3
        r.read["c"].clear()
        r.poll_until("partition 0 again from 3", lambda: len(r.read["c"]) >= 7)
        assert [m.offset for m in r.read["c"]] == list(range(3, 10))
        c.seek((topic, 1), OFFSET_OLDEST)
        first = c.getone(timeout=WAIT)
        assert (first.partition, first.offset) == (1, 0)
        with pytest.raises(UsageError, match="seek"):
            c.seek((topic, 5), 0)
        with pytest.raises(UsageError, match="offset"):
            c.seek((topic, 0), -7)
        with pytest.raises(ClientTimeoutError):
            c.seek((topic, 1), 10)
            c.getone(timeout=0.5)
        c.commit()
    assert committed(boot, group, topic, 2) == {0: 10, 1: 10}


@each
def test_a_static_member_rejoins_without_a_rebalance(transport: str, broker: Any) -> None:
    topic = group = unique("static", transport)
    broker.create_topic(topic, partitions=4, replication_factor=1)
    boot = broker.bootstrap
    opts = dict(group_id=group, session_timeout=30.0)
    lb = Listener()
    with consumer(transport, boot, group_instance_id="b", **opts) as b:
        b.subscribe([topic], listener=lb)
        with consumer(transport, boot, group_instance_id="a", **opts) as a:
            a.subscribe([topic])
            r = Reader(a=a, b=b)
            r.poll_until("a and b sharing", lambda: len(a.assignment()) == len(b.assignment())
                         == 2)
            mine = a.assignment()
            generation = b.group_metadata().generation_id
            calls = list(lb.calls)
        # a closed without leaving: it comes back as the same static member.
        with consumer(transport, boot, group_instance_id="a", **opts) as again:
            again.subscribe([topic])
            r = Reader(again=again, b=b)
            r.poll_until("a back", lambda: again.assignment() == mine)
            fill(boot, topic, 4, 1)
            r.poll_until("both read", lambda: len(r.values()) == 4)
            assert {(m.topic, m.partition) for m in r.read["again"]} == mine
        assert lb.calls == calls  # b was not rebalanced
        assert b.group_metadata().generation_id == generation


@pytest.mark.interop
@pytest.mark.real_broker("runs Kafka's Java console consumer from the harness broker's jars")
@each
def test_a_java_consumer_and_this_consumer_share_a_group(transport: str, broker: Any) -> None:
    topic = group = unique("java", transport)
    broker.create_topic(topic, partitions=6, replication_factor=1)
    boot = broker.bootstrap
    java: dict[str, Any] = {}

    def console_consumer() -> None:
        java["proc"] = broker.java_tool(
            "console-consumer", "--bootstrap-server", boot, "--topic", topic, "--group", group,
            # It leaves (committing what it read) once it has its half: 3 partitions x 10.
            "--max-messages", "30", "--timeout-ms", "60000",
            "--property", "print.partition=true",
            "--consumer-property", "group.protocol=classic",
            "--consumer-property", "session.timeout.ms=6000",
            "--consumer-property", "heartbeat.interval.ms=500",
            "--consumer-property", "auto.offset.reset=earliest",
            timeout=150)

    with consumer(transport, boot, group_id=group) as c:
        c.subscribe([topic])
        r = Reader(c=c)
        r.poll_until("kproto alone", lambda: len(c.assignment()) == 6)
        runner = threading.Thread(target=console_consumer, name="test-java-consumer")
        runner.start()
        r.poll_until("the Java consumer took half", lambda: len(c.assignment()) == 3,
                     timeout=120)
        mine = {p for _t, p in c.assignment()}
        fill(boot, topic, 6, 10)
        r.poll_until("kproto read its half", lambda: len(r.read["c"]) == 30)
        runner.join(160)
        assert not runner.is_alive()
        r.poll_until("kproto has everything again", lambda: len(c.assignment()) == 6)
        assert not c.getmany(timeout=1.0)  # Java committed its half: nothing read twice
    values = [line.split()[-1] for line in java["proc"].stdout.splitlines()
              if line.strip().endswith(tuple(f"-{i}" for i in range(10)))]
    java_parts = {int(v.split("-")[1]) for v in values}
    assert len(values) == 30 and java_parts == set(range(6)) - mine, java["proc"].stderr[-2000:]
    ours = sorted(v.decode() for v in r.values())
    assert sorted(ours + values) == sorted(f"v-{p}-{i}" for p in range(6) for i in range(10))
    assert committed(boot, group, topic, 6) == {p: 10 for p in range(6)}


def test_the_consume_transform_produce_example_is_exactly_once(broker: Any) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from tests.producer.helpers import read_partition
    src, dst = unique("example-in", "asyncio"), unique("example-out", "asyncio")
    group = unique("example", "asyncio")
    broker.create_topic(src, partitions=3, replication_factor=1)
    broker.create_topic(dst, partitions=1, replication_factor=1)
    fill(broker.bootstrap, src, 3, 20, "rec")
    example = Path(__file__).parents[2] / "docs/examples/transform_asyncio.py"
    proc = subprocess.run([sys.executable, str(example), broker.bootstrap, src, dst, group,
                           "60"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = [r.value or b"" for r in read_partition(broker.bootstrap, dst, 0, committed=True)]
    assert sorted(out) == sorted(f"REC-{p}-{i}".encode() for p in range(3) for i in range(20))
    assert committed(broker.bootstrap, group, src, 3) == {0: 20, 1: 20, 2: 20}


@each
def test_commit_async_reports_to_its_callback_inside_a_poll(transport: str,
                                                           broker: Any) -> None:
    topic = group = unique("async", transport)
    broker.create_topic(topic, partitions=1, replication_factor=1)
    boot = broker.bootstrap
    fill(boot, topic, 1, 5)
    results: list[Any] = []
    with consumer(transport, boot, group_id=group, enable_auto_commit=False) as c:
        c.subscribe([topic])
        r = Reader(c=c)
        r.poll_until("5 records", lambda: len(r.read["c"]) == 5)
        with pytest.raises(UsageError, match="callback"):
            c.commit_async(callback=42)
        c.commit_async(callback=lambda offsets, error: results.append((offsets, error)))
        r.poll_until("the callback", lambda: bool(results))
        assert results == [({(topic, 0): 5}, None)]
        assert committed(boot, group, topic, 1) == {0: 5}
        c.commit_async(offsets={(topic, 0): 2})  # no callback: a failure would go to errors
        r.poll_until("the commit", lambda: committed(boot, group, topic, 1) == {0: 2})
        assert len(c.errors) == 0


@each
def test_a_member_that_stops_polling_loses_its_partitions(transport: str,
                                                          broker: Any) -> None:
    topic = group = unique("lost", transport)
    broker.create_topic(topic, partitions=2, replication_factor=1)
    boot = broker.bootstrap
    opts = dict(group_id=group, rebalance_timeout=3.0, session_timeout=6.0)
    la = Listener()
    with consumer(transport, boot, **opts) as a:
        a.subscribe([topic], listener=la)
        r = Reader(a=a)
        r.poll_until("a alone", lambda: len(a.assignment()) == 2)
        with consumer(transport, boot, **opts) as b:
            b.subscribe([topic])
            rb = Reader(b=b)
            # a does not poll: the rebalance goes on without it after rebalance_timeout.
            rb.poll_until("b with every partition", lambda: len(b.assignment()) == 2)
            # a learns it was left out (its heartbeats) before it polls again.
            rb.poll_until("a told it is out", lambda: len(a.errors) > 0)
            r = Reader(a=a, b=b)
            r.poll_until("a back in the group", lambda: len(a.assignment()) == 1
                         and len(b.assignment()) == 1)
    assert la.kinds()[:3] == ["assigned", "lost", "assigned"], la.calls
