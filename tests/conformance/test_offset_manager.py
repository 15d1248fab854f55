"""The OffsetManager (sarama's) through every transport, against real Kafka 4.x and 3.9
brokers: offsets managed without joining the group, committed by hand, on an interval and at
close, seen by the ClusterAdmin and by confluent-kafka; refused (and reported) while the group
has active members."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from kproto import OFFSET_NEWEST, OFFSET_OLDEST
from kproto.errors import (
    IllegalGenerationError,
    ObjectClosedError,
    UnknownMemberIdError,
    UsageError,
)
from kproto.group.offsets import CommitFailed
from tests.conformance.drivers import TRANSPORTS, Remote, open_remote

each = pytest.mark.parametrize("transport", TRANSPORTS)
REFUSED = (UnknownMemberIdError, IllegalGenerationError)
"""What Kafka answers a commit without a member id while the group has members."""


@pytest.fixture(params=["kafka_broker", "kafka_broker_39"], ids=["newest", "3.9"])
def broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def manager(transport: str, bootstrap: str, group: str, **options: Any) -> Any:
    return open_remote(transport, lambda mod: mod.OffsetManager(bootstrap, group_id=group,
                                                                **options))


def admin(transport: str, bootstrap: str) -> Any:
    return open_remote(transport, lambda mod: mod.ClusterAdmin(bootstrap))


def partition(om: Any, topic: str, p: int) -> Any:
    """``manage_partition`` with the result usable through blocking calls as ``om`` is."""
    pom = om.manage_partition(topic, p)
    return Remote(om._runner, pom) if isinstance(om, Remote) else pom


def next_error(transport: str, pom: Any, timeout: float = 60.0) -> Any:
    """The next item of a partition offset manager's errors stream."""
    if transport == "trio":
        import trio

        async def receive() -> Any:
            with trio.fail_after(timeout):
                return await pom.target.errors.receive()
        return pom._runner.call(receive)
    if transport == "asyncio":
        return pom._runner.call(lambda: pom.target.errors.get(timeout))
    return pom.errors.get(timeout)


def committed(a: Any, group: str, topic: str) -> dict[int, tuple[int, str | None]]:
    offsets = a.list_consumer_group_offsets(group)
    return {p: (b.offset, b.metadata) for p, b in offsets.get(topic, {}).items()}


def eventually(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def names(transport: str, what: str) -> tuple[str, str]:
    stamp = int(time.time() * 1000)
    return f"om-{what}-{transport}-{stamp}", f"om-{what}-group-{transport}-{stamp}"


@each
def test_mark_reset_commit_and_resume(transport: str, broker: Any) -> None:
    topic, group = names(transport, "resume")
    broker.create_topic(topic, partitions=2)
    with manager(transport, broker.bootstrap, group, enable_auto_commit=False) as om, \
            admin(transport, broker.bootstrap) as a:
        p0, p1 = partition(om, topic, 0), partition(om, topic, 1)
        # Nothing committed: where auto_offset_reset (latest) says to start.
        assert p0.next_offset() == (OFFSET_NEWEST, "")
        with pytest.raises(UsageError, match="already managed"):
            om.manage_partition(topic, 0)

        p0.mark_offset(5, "five")
        p0.mark_offset(3, "three")        # a mark never moves back
        assert p0.next_offset() == (5, "five")
        p0.reset_offset(2, "two")          # a reset does
        p0.reset_offset(4, "four")         # but never forward
        assert p0.next_offset() == (2, "two")
        p0.mark_offset(7, "seven")
        p1.mark_offset(1)
        assert committed(a, group, topic) == {}  # no auto-commit: nothing sent yet
        om.commit()
        assert committed(a, group, topic) == {0: (7, "seven"), 1: (1, "")}

        p1.mark_offset(4, "p1")
        p1.close()                          # closing a partition commits its mark
        assert committed(a, group, topic)[1] == (4, "p1")
        with pytest.raises(ObjectClosedError):
            p1.mark_offset(9)
        p0.mark_offset(8, "eight")
    # Closing the manager committed p0's last mark; a new manager resumes from it.
    with manager(transport, broker.bootstrap, group, auto_offset_reset="earliest") as om, \
            admin(transport, broker.bootstrap) as a:
        assert committed(a, group, topic) == {0: (8, "eight"), 1: (4, "p1")}
        p0 = partition(om, topic, 0)
        assert p0.next_offset() == (8, "eight")
        p1 = partition(om, topic, 1)        # managed again after its close
        assert p1.next_offset() == (4, "p1")
    with manager(transport, broker.bootstrap, f"{group}-new", auto_offset_reset="earliest") as om:
        assert partition(om, topic, 0).next_offset() == (OFFSET_OLDEST, "")
        with pytest.raises(ValueError, match="partition"):
            om.manage_partition(topic, -1)
        with pytest.raises(ValueError, match="topic"):
            om.manage_partition("", 0)


@each
def test_auto_commit_on_an_interval(transport: str, broker: Any) -> None:
    topic, group = names(transport, "auto")
    broker.create_topic(topic, partitions=1)
    with manager(transport, broker.bootstrap, group, auto_commit_interval=0.2) as om, \
            admin(transport, broker.bootstrap) as a:
        pom = partition(om, topic, 0)
        pom.mark_offset(11, "auto")
        assert eventually(lambda: committed(a, group, topic) == {0: (11, "auto")}), \
            committed(a, group, topic)
        pom.mark_offset(12)
        assert eventually(lambda: committed(a, group, topic) == {0: (12, "")})


@each
def test_commits_refused_while_the_group_has_members(transport: str, broker: Any) -> None:
    """A group with a live member owns its offsets: a manual commit raises the broker's
    refusal for the partition, an automatic one reports it on the partition's errors stream,
    and the mark stays for later."""
    from confluent_kafka import Consumer

    topic, group = names(transport, "members")
    broker.create_topic(topic, partitions=1)
    member: Any = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                       "session.timeout.ms": 30000})
    try:
        member.subscribe([topic])
        assert eventually(lambda: member.poll(0.2) is None and member.assignment())
        with manager(transport, broker.bootstrap, group, auto_commit_interval=0.2) as om:
            pom = partition(om, topic, 0)
            pom.mark_offset(3)
            error = next_error(transport, pom)
            assert (error.topic, error.partition) == (topic, 0)
            assert isinstance(error.error, REFUSED), error
            with pytest.raises(CommitFailed) as failed:
                om.commit()
            assert isinstance(failed.value.errors[_tp(topic, 0)], REFUSED)
            assert pom.next_offset() == (3, "")
            member.close()  # the group empties: the mark goes through now
            member = None
            om.commit()
        with admin(transport, broker.bootstrap) as a:
            assert committed(a, group, topic) == {0: (3, "")}
    finally:
        if member is not None:
            member.close()


def test_confluent_kafka_sees_the_commits(broker: Any) -> None:
    from confluent_kafka import Consumer, TopicPartition

    import kproto_threads

    topic, group = names("threads", "ck")
    broker.create_topic(topic, partitions=2)
    with kproto_threads.OffsetManager(broker.bootstrap, group_id=group) as om:
        om.manage_partition(topic, 0).mark_offset(21, "from kproto")
        om.manage_partition(topic, 1).mark_offset(2)
    ck = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        got = ck.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=30)
        assert [(tp.partition, tp.offset, tp.metadata) for tp in got] == [
            (0, 21, "from kproto"), (1, 2, None)]
        ck.commit(offsets=[TopicPartition(topic, 1, 17)], asynchronous=False)
    finally:
        ck.close()
    with kproto_threads.OffsetManager(broker.bootstrap, group_id=group) as om:
        assert om.manage_partition(topic, 1).next_offset()[0] == 17


def _tp(topic: str, p: int) -> Any:
    from kproto.group import TopicPartition
    return TopicPartition(topic, p)


def test_closed_manager_refuses_calls(kafka_broker: Any) -> None:
    import kproto_threads

    topic, group = names("threads", "closed")
    kafka_broker.create_topic(topic, partitions=1)
    om = kproto_threads.OffsetManager(kafka_broker.bootstrap, group_id=group)
    pom = om.manage_partition(topic, 0)
    om.close()
    with pytest.raises(ObjectClosedError):
        om.manage_partition(topic, 0)
    with pytest.raises(ObjectClosedError):
        pom.next_offset()
    assert list(pom.errors) == []  # the stream ended with the manager
    om.close()  # closing twice is harmless
