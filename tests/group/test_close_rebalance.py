"""A member closed (or its join given up) while a rebalance runs: every close is bounded.

The hang these tests pin down: a join given up while its claims were starting (the group
closing, consume cancelled, the join timing out or failing) unassigned those claims, and
unassigning a claim that has not started reports its start as failed. That completed the
claims' batch, so the session *started* (its consume got a SessionInfo) although the core had
just dropped it: its claim loops ended unheard, no drain ever came, the consume waited for
ever and a close waited out its whole bound. A rebalance makes the window wide: a member
rejoins right after a session ended, and claims start while the others catch up.

Core tests script the coordinator (``tests.group.scripted``) and a fetcher whose partitions
start only when told; the transport tests run every adapter against the in-process fake
cluster (``fake://``) with the partitions' ListOffsets held by a fault rule, so the claims
are starting, deterministically, when close is called.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kproto.errors import ClientTimeoutError, ClosedError, FencedInstanceIdError
from kproto.events import OperationCompleted
from kproto.group.events import SessionInfo
from kproto.protocol import apis
from kproto.testing import FakeCluster
from kproto.testing.fake import codes
from tests.conformance.drivers import TRANSPORTS, open_remote
from tests.group.members import Ledger, Member
from tests.group.scripted import COMMIT, FETCH_OFFSETS, HOLD, LEAVE, Harness
from tests.group.test_group_consumer_core import StartingFetcher

BOUND = 10.0
"""How long a close may take here; the hang waited out rebalance_timeout + request_timeout
+ 5 s (with the options below, 17 s) and then left the consume waiting for ever."""

OPTIONS: dict[str, Any] = dict(group_id="g", session_timeout=6.0, heartbeat_interval=0.2,
                               rebalance_timeout=2.0, request_timeout=10.0,
                               auto_offset_reset="earliest")


# == the core ==============================================================================

def starting(**options: Any) -> tuple[Harness, StartingFetcher, int]:
    """A member whose join is done and whose two claims are starting (none started)."""
    fetcher = StartingFetcher(auto_start=False)
    h = Harness({"t": 2}, fetcher=fetcher, **options)
    token = h.run(lambda g, now: g.consume(("t",), now))
    h.step()
    assert len(fetcher.assigned) == 2 and not h.settled(token)
    return h, fetcher, token


def gives_up(h: Harness, token: int, what: type[BaseException]) -> None:
    """The join's token failed with ``what``, no session started and nothing of it is left."""
    with pytest.raises(what):
        h.result(token)
    assert not [ev for ev in h.events if isinstance(ev, OperationCompleted)
                and isinstance(ev.value, SessionInfo)], "a dropped session started"
    assert h.group.session is None
    assert h.group._auto_timer is None
    assert not h.fetcher.assigned


GIVE_UPS: dict[str, tuple[Callable[[Harness], None], type[BaseException]]] = {
    # The adapter's close or a cancelled consume: GroupBase._request_stop -> abort.
    "stop": (lambda h: h.run(lambda g, now: g.abort("the consumer group is closing", now)),
             ClosedError),
    "join timed out": (lambda h: (h.advance(2.0 + 10.0 + 0.5), None)[1], ClientTimeoutError),
    "membership failed": (lambda h: h.run(lambda g, now: g.membership_failed(
        FencedInstanceIdError("fenced"), now)), FencedInstanceIdError),
}


@pytest.mark.parametrize("how", list(GIVE_UPS))
def test_a_join_given_up_while_its_claims_start_does_not_start_the_session(how: str) -> None:
    h, fetcher, token = starting(rebalance_timeout=2.0, request_timeout=10.0)
    first = min(fetcher.assigned)
    fetcher.start(first, 5)  # one claim started, the other is still starting
    give_up, error = GIVE_UPS[how]
    give_up(h)
    h.step()
    gives_up(h, token, error)


def test_the_core_closing_while_claims_start_commits_nothing_and_leaves() -> None:
    h, _fetcher, token = starting()
    close = h.run(lambda g, now: g.close(now))
    h.step()
    assert h.result(close) is None
    gives_up(h, token, ClosedError)
    assert h.broker.count(COMMIT) == 0 and h.broker.count(LEAVE) == 1


def test_offsets_fetched_after_the_core_closed_start_no_claims() -> None:
    fetcher = StartingFetcher(auto_start=False)
    h = Harness({"t": 2}, fetcher=fetcher)
    h.broker.script[FETCH_OFFSETS].append(HOLD)
    token = h.run(lambda g, now: g.consume(("t",), now))
    h.step()
    assert h.broker.held and not fetcher.assigned
    close = h.run(lambda g, now: g.close(now))
    h.step()
    h.broker.answer_held(h.now)
    h.step()
    assert h.result(close) is None
    gives_up(h, token, ClosedError)


# == every transport against the in-process fake cluster ===================================

@contextlib.contextmanager
def claims_starting(cluster: FakeCluster) -> Iterator[None]:
    """Hold every ListOffsets to the brokers other than the group's coordinator (the
    coordinator's connection stays free for the close's commit and LeaveGroup): claims of
    partitions those brokers lead cannot start."""
    coordinator = cluster.coordinator_for(0, OPTIONS["group_id"])
    rules = [cluster.faults.stall(apis.LIST_OFFSETS, -1, node=n)
             for n in cluster.brokers if n != coordinator]
    leaders = {p.leader for p in cluster.topics["t"].partitions}
    assert leaders - {coordinator}, "some partition must be led by another broker"
    try:
        yield
    finally:
        for rule in rules:
            cluster.faults.rules.remove(rule)


def until(what: str, predicate: Callable[[], bool], timeout: float = BOUND) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting {timeout:g}s for {what}"
        threading.Event().wait(0.01)


def timed(fn: Callable[[], Any]) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_consumer_group_closed_while_its_claims_start_closes_at_once(transport: str) -> None:
    cluster = FakeCluster(3, topics={"t": 3})
    ledger = Ledger()
    with claims_starting(cluster), open_remote(
            transport, lambda mod: mod.ConsumerGroup(cluster.bootstrap, **OPTIONS)) as group:
        m = Member(transport, group, ["t"], ledger, "a")
        until("the claims to start fetching", lambda: cluster.faults.injected > 0)
        m._stop.set()
        took = timed(group.close)
        m.thread.join(BOUND)
        assert not m.thread.is_alive(), "consume() did not end after close"
        assert took < BOUND, f"close took {took:.1f}s"
    assert not ledger.starts, "claim loops ran for a session that was given up"
    assert all(isinstance(e, ClosedError) for e in m.errors), m.errors


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_group_consumer_closed_while_its_claims_start_closes_at_once(transport: str) -> None:
    cluster = FakeCluster(3, topics={"t": 3})
    with claims_starting(cluster), open_remote(
            transport, lambda mod: mod.GroupConsumer(cluster.bootstrap, **OPTIONS)) as c:
        c.subscribe(["t"])
        deadline = time.monotonic() + BOUND
        while cluster.faults.injected == 0:  # polls join; the claims are starting after it
            assert time.monotonic() < deadline, "the claims did not start fetching"
            assert c.getmany(timeout=0.05) == {}
        took = timed(c.close)
        assert took < BOUND, f"close took {took:.1f}s"
        assert c.assignment() == set()
    group = cluster.groups.groups[OPTIONS["group_id"]]
    assert not group.members



def hold(api_key: int) -> Callable[[FakeCluster, Ledger], Any]:
    """Answer the member's next ``api_key`` request only long after the test is over."""
    return lambda cluster, ledger: cluster.faults.delay(600.0, api_key)


def rebalancing(cluster: FakeCluster, ledger: Ledger) -> Any:
    """Once the session runs, a heartbeat answers REBALANCE_IN_PROGRESS: claims stop."""
    ledger.wait("the session to hold every partition", lambda: len(ledger.held_by("a")) == 3,
                BOUND)
    return cluster.faults.fail(apis.HEARTBEAT, codes.REBALANCE_IN_PROGRESS)


STAGES: dict[str, Callable[[FakeCluster, Ledger], Any]] = {
    "JoinGroup in flight": hold(apis.JOIN_GROUP),
    "SyncGroup in flight": hold(apis.SYNC_GROUP),
    "OffsetFetch in flight": hold(apis.OFFSET_FETCH),
    "heartbeat answering REBALANCE_IN_PROGRESS": rebalancing,
}
LEAVE_BOUND = OPTIONS["request_timeout"] + 5.0
"""The coordinator answers a connection's requests in order (as Kafka does): a LeaveGroup
sent behind a held JoinGroup, SyncGroup or OffsetFetch waits until its request timeout."""


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_consumer_group_closed_at_each_step_of_a_join_closes_bounded(transport: str,
                                                                      stage: str) -> None:
    cluster = FakeCluster(3, topics={"t": 3})
    ledger = Ledger()
    with open_remote(transport,
                     lambda mod: mod.ConsumerGroup(cluster.bootstrap, **OPTIONS)) as group:
        running = stage.startswith("heartbeat")  # (else the rule must catch the first join)
        rule = None if running else STAGES[stage](cluster, ledger)
        m = Member(transport, group, ["t"], ledger, "a")
        rule = rule or STAGES[stage](cluster, ledger)
        until(f"the {stage} to happen", lambda: rule.count == 0)
        m._stop.set()
        took = timed(group.close)
        m.thread.join(BOUND)
        assert not m.thread.is_alive(), "consume() did not end after close"
        assert took < LEAVE_BOUND, f"close took {took:.1f}s"
    assert all(isinstance(e, ClosedError) for e in m.errors), m.errors


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_group_consumer_closed_at_each_step_of_a_join_closes_bounded(transport: str,
                                                                      stage: str) -> None:
    cluster = FakeCluster(3, topics={"t": 3})
    running = stage.startswith("heartbeat")
    rule = None if running else STAGES[stage](cluster, Ledger())
    with open_remote(transport,
                     lambda mod: mod.GroupConsumer(cluster.bootstrap, **OPTIONS)) as c:
        c.subscribe(["t"])
        deadline = time.monotonic() + BOUND

        def poll_until(done: Callable[[], bool]) -> None:
            while not done():
                assert time.monotonic() < deadline, f"gave up waiting for the {stage}"
                c.getmany(timeout=0.05)

        if running:
            poll_until(lambda: len(c.assignment()) == 3)
            rule = cluster.faults.fail(apis.HEARTBEAT, codes.REBALANCE_IN_PROGRESS)
        assert rule is not None
        poll_until(lambda: rule.count == 0)
        took = timed(c.close)
        assert took < LEAVE_BOUND, f"close took {took:.1f}s"
