"""The OffsetManager's core against the fake cluster, in-process (tests/fake/driver.py): where
reading resumes, the mark rules, commits by hand, on the interval, on release and at close, a
manage given up while its fetch is in flight, and a failed automatic commit reported per
partition and retried."""

from __future__ import annotations

from typing import Any

import pytest

from kproto.errors import ClosedError, OffsetMetadataTooLargeError, UsageError
from kproto.group.offset_manager import OffsetManagerCore, OffsetManagerError
from kproto.group.offsets import CommitFailed, Committed
from kproto.message_types import OFFSET_NEWEST, OFFSET_OLDEST
from kproto.protocol import apis
from kproto.testing import FakeCluster
from tests.fake.driver import Client, Driver


def setup(**options: Any) -> tuple[Driver, Client, OffsetManagerCore]:
    cluster = FakeCluster(1)
    cluster.create_topic("t", 2)
    driver = Driver(cluster)
    return (driver, *manager(driver, **options))


def manager(driver: Driver, seed: int = 1, **options: Any
            ) -> tuple[Client, OffsetManagerCore]:
    options.setdefault("group_id", "g")
    client = driver.client(seed, **options)
    return client, OffsetManagerCore(client.core, client.config, "g")


def committed(driver: Driver, partition: int) -> tuple[int, str | None]:
    """What the group has committed for t[partition], read by a second manager."""
    client, om = manager(driver, seed=99)
    got: Committed = driver.wait(client, om.manage("t", partition, driver.now))
    return got.offset, got.metadata


def test_resume_where_committed_else_where_configured() -> None:
    d, c, om = setup(enable_auto_commit=False)
    assert d.wait(c, om.manage("t", 0, d.now)) == Committed(-1, -1, "")
    assert om.next_offset("t", 0) == (OFFSET_NEWEST, "")
    with pytest.raises(UsageError, match="already managed"):
        om.manage("t", 0, d.now)
    with pytest.raises(UsageError, match="not managed"):
        om.mark("t", 1, 3, None)

    om.mark("t", 0, 5, "five")
    om.mark("t", 0, 3, "three")       # forward only
    assert om.next_offset("t", 0) == (5, "five")
    om.reset("t", 0, 2, "two")
    om.reset("t", 0, 4, "four")       # backward only
    assert om.next_offset("t", 0) == (2, "two")
    assert committed(d, 0) == (-1, "")
    assert d.wait(c, om.commit(d.now)) is None
    assert committed(d, 0) == (2, "two")

    c2, fresh = manager(d, seed=2, auto_offset_reset="earliest")
    d.wait(c2, fresh.manage("t", 0, d.now))
    d.wait(c2, fresh.manage("t", 1, d.now))
    assert fresh.next_offset("t", 0) == (2, "two")
    assert fresh.next_offset("t", 1) == (OFFSET_OLDEST, "")


def test_release_commits_that_partition_and_close_commits_the_rest() -> None:
    d, c, om = setup(enable_auto_commit=False)
    d.wait(c, om.manage("t", 0, d.now))
    d.wait(c, om.manage("t", 1, d.now))
    om.mark("t", 0, 7, None)
    om.mark("t", 1, 9, None)
    d.wait(c, om.release("t", 1, d.now))
    assert committed(d, 1)[0] == 9 and committed(d, 0)[0] == -1
    d.wait(c, om.manage("t", 1, d.now))  # managed again after its release
    d.wait(c, om.close(d.now))
    assert committed(d, 0)[0] == 7
    with pytest.raises(ClosedError):
        om.manage("t", 0, d.now)
    assert d.wait(c, om.close(d.now)) is None  # twice is harmless


def test_a_manage_given_up_mid_fetch_leaves_the_partition_free() -> None:
    d, c, om = setup()
    d.cluster.faults.delay(2.0, apis.OFFSET_FETCH)
    token = om.manage("t", 0, d.now)
    d.advance(0.5)
    assert c.result(token) is None     # the fetch is still in flight
    om.abandon("t", 0)
    with pytest.raises(ClosedError, match="given up"):
        d.wait(c, token)
    assert "t" not in {tp.topic for tp in om.managed}
    d.wait(c, om.manage("t", 0, d.now))


def test_a_failed_automatic_commit_is_reported_and_retried() -> None:
    d, c, om = setup(auto_commit_interval=1.0)
    d.wait(c, om.manage("t", 0, d.now))
    d.wait(c, om.manage("t", 1, d.now))
    d.cluster.faults.fail(apis.OFFSET_COMMIT, OffsetMetadataTooLargeError.code, 1, topic="t",
                          partition=0)
    om.mark("t", 0, 3, None)
    om.mark("t", 1, 4, None)
    d.advance(1.5)
    [event] = c.take(OffsetManagerError)
    assert (event.topic, event.partition, event.manager) == ("t", 0, om.id)
    assert isinstance(event.error, OffsetMetadataTooLargeError)
    assert committed(d, 1)[0] == 4    # the other partition went through
    assert om.book.dirty() != {}      # the failed mark stays for the next commit
    d.advance(1.5)
    assert committed(d, 0)[0] == 3
    assert c.take(OffsetManagerError) == []


def test_a_commit_asked_for_raises_what_failed() -> None:
    d, c, om = setup(enable_auto_commit=False)
    d.wait(c, om.manage("t", 0, d.now))
    d.cluster.faults.fail(apis.OFFSET_COMMIT, OffsetMetadataTooLargeError.code, 1, topic="t",
                          partition=0)
    om.mark("t", 0, 3, None)
    with pytest.raises(CommitFailed) as failed:
        d.wait(c, om.commit(d.now))
    [(tp, error)] = failed.value.errors.items()
    assert (tp.topic, tp.partition) == ("t", 0)
    assert isinstance(error, OffsetMetadataTooLargeError)
    assert c.take(OffsetManagerError) == []  # raised, not also reported
