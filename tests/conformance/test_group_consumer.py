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
from typing import Any

import pytest

from kproto.errors import UsageError
from kproto.group.metadata import ConsumerGroupMetadata
from kproto.message_types import ConsumerMessage
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
        self.on_revoke: Callable[[set[Any]], None] | None = None

    def _note(self, kind: str, parts: set[Any]) -> None:
        with self.lock:
            self.calls.append((kind, frozenset(parts)))

    def on_partitions_revoked(self, revoked: set[Any]) -> None:
        if self.on_revoke is not None:
            self.on_revoke(revoked)
        self._note("revoked", revoked)

    def on_partitions_assigned(self, assigned: set[Any]) -> None:
        self._note("assigned", assigned)

    def on_partitions_lost(self, lost: set[Any]) -> None:
        self._note("lost", lost)

    def kinds(self) -> list[str]:
        with self.lock:
            return [k for k, _ in self.calls]


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

    def values(self, name: str | None = None) -> list[bytes | None]:
        names = [name] if name else list(self.read)
        return [m.value for n in names for m in self.read[n]]


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
