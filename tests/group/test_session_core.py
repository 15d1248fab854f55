"""The group core against a scripted coordinator: join, sync, heartbeats, offsets, sessions."""

from __future__ import annotations

import pytest

from kproto.group.assignors import TopicPartition
from kproto.group.consumer_protocol import decode_assignment, decode_subscription
from kproto.group.events import (
    ClaimsStarted,
    ClaimsStopping,
    SessionAbandonedError,
    SessionDrained,
    SessionInfo,
)
from tests.group.scripted import COMMIT, FETCH_OFFSETS, HEARTBEAT, JOIN, LEAVE, SYNC, Harness


def test_join_sync_and_claims_with_the_kip394_member_id_retry() -> None:
    h = Harness({"t": 4})
    info = h.start()
    assert isinstance(info, SessionInfo)
    assert info.member_id == "m-1" and info.generation_id == 1
    joins = h.broker.requests(JOIN)
    assert [r.member_id for r, _v in joins] == ["", "m-1"]
    req, version = joins[-1]
    assert version >= 4 and req.protocol_type == "consumer"
    assert req.session_timeout_ms == 10000 and req.rebalance_timeout_ms == 20000
    assert [p.name for p in req.protocols] == ["range", "roundrobin"]
    assert decode_subscription(req.protocols[0].metadata).topics == ("t",)
    sync = h.broker.last(SYNC)
    assert sync.generation_id == 1 and sync.member_id == "m-1"
    [entry] = sync.assignments
    assert decode_assignment(entry.assignment).partitions == tuple(
        TopicPartition("t", p) for p in range(4))
    assert sorted((c.topic, c.partition) for c in info.claims) == [("t", p) for p in range(4)]
    assert all(c.initial_offset == 100 and c.error is None for c in info.claims)
    assert not h.of(ClaimsStarted)
    # No committed offsets: the default auto_offset_reset (latest) starts at the newest.
    assert {o for (_t, _p, o, _e) in h.fetcher.assigned.values()} == {-1}


def test_claims_start_at_committed_offsets_with_their_leader_epoch() -> None:
    h = Harness({"t": 2}, auto_offset_reset="earliest")
    h.broker.committed[("t", 0)] = 42
    info = h.start()
    starts = {(t, p): o for (t, p, o, _e) in h.fetcher.assigned.values()}
    assert starts == {("t", 0): 42, ("t", 1): -2}
    assert h.broker.last(FETCH_OFFSETS).require_stable
    assert {(c.partition, c.initial_offset) for c in info.claims} == {(0, 42), (1, 100)}


def test_heartbeats_run_on_the_engine_timers() -> None:
    h = Harness()
    h.start()
    before = h.broker.count(HEARTBEAT)
    h.advance(5.5)
    assert h.broker.count(HEARTBEAT) - before == 5
    hb = h.broker.last(HEARTBEAT)
    assert (hb.group_id, hb.member_id, hb.generation_id) == ("g", "m-1", 1)


def drain(h: Harness, info: SessionInfo) -> None:
    """Every claim loop returns, as an adapter reports it."""
    for claim in info.claims:
        h.run(lambda g, now, c=claim: g.claim_finished(info.session, c.stream, now))


def test_rebalance_ends_the_session_heartbeats_continue_final_commit_then_rejoin() -> None:
    h = Harness({"t": 2})
    info = h.start()
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 7))
    h.run(lambda g, now: g.mark_offset(info.session, "t", 1, 3, "meta"))
    h.broker.script[HEARTBEAT].append(lambda r, v: h.broker.heartbeat(r, v, error=27))
    h.advance(1.0)
    [stop] = h.of(ClaimsStopping)
    assert stop.session == info.session and set(stop.streams) == {c.stream for c in info.claims}
    assert "rebalancing" in stop.reason
    assert not h.fetcher.assigned, "fetching stops as soon as the session ends"
    # A slow handler: heartbeats keep the member in the group meanwhile.
    before = h.broker.count(HEARTBEAT)
    h.advance(4.0)
    assert h.broker.count(HEARTBEAT) - before == 4
    assert not h.of(SessionDrained)
    drain(h, info)
    [drained] = h.of(SessionDrained)
    assert drained.abandoned == () and drained.error is None
    token = h.run(lambda g, now: g.finish_session(info.session, now))
    assert h.result(token) is None
    commit = h.broker.last(COMMIT)
    assert (commit.generation_id_or_member_epoch, commit.member_id) == (1, "m-1")
    assert {(p.partition_index, p.committed_offset, p.committed_metadata)
            for t in commit.topics for p in t.partitions} == {(0, 7, None), (1, 3, "meta")}
    quiet = h.broker.count(HEARTBEAT)
    h.advance(3.0)
    assert h.broker.count(HEARTBEAT) == quiet, "no heartbeats between sessions"
    again = h.start()
    assert again.generation_id == 2 and h.broker.last(JOIN).member_id == "m-1"
    assert {(c.partition, c.initial_offset) for c in again.claims} == {(0, 7), (1, 3)}


def test_a_claim_loop_returning_ends_the_session() -> None:
    h = Harness({"t": 3})
    info = h.start()
    first = info.claims[0]
    h.run(lambda g, now: g.claim_finished(info.session, first.stream, now))
    [stop] = h.of(ClaimsStopping)
    assert set(stop.streams) == {c.stream for c in info.claims[1:]}
    assert f"t[{first.partition}]" in stop.reason
    drain(h, info)
    assert len(h.of(SessionDrained)) == 1


def test_slow_claim_loops_are_abandoned_after_the_rebalance_timeout() -> None:
    h = Harness({"t": 2}, rebalance_timeout=6.0)
    info = h.start()
    h.run(lambda g, now: g.stop_session(info.session, "closing", now))
    h.run(lambda g, now: g.claim_finished(info.session, info.claims[0].stream, now))
    h.advance(5.9)
    assert not h.of(SessionDrained)
    h.advance(0.2)
    [drained] = h.of(SessionDrained)
    assert drained.abandoned == (info.claims[1].stream,)
    assert isinstance(drained.error, SessionAbandonedError)
    assert "t[1]" in str(drained.error) and "6s" in str(drained.error)
    assert "cleanup was not called" in str(drained.error)
    token = h.run(lambda g, now: g.finish_session(info.session, now))
    with pytest.raises(SessionAbandonedError):
        h.result(token)


def test_auto_commit_on_the_interval_only_what_changed() -> None:
    h = Harness({"t": 2}, auto_commit_interval=2.0)
    info = h.start()
    h.advance(2.5)
    assert h.broker.count(COMMIT) == 0
    h.run(lambda g, now: g.mark_offset(info.session, "t", 1, 11))
    h.advance(2.0)
    assert h.broker.count(COMMIT) == 1
    assert [(p.partition_index, p.committed_offset) for t in h.broker.last(COMMIT).topics
            for p in t.partitions] == [(1, 11)]
    h.advance(4.0)
    assert h.broker.count(COMMIT) == 1


def test_manual_commit_and_disabled_auto_commit() -> None:
    h = Harness({"t": 1}, enable_auto_commit=False)
    info = h.start()
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 5))
    h.advance(30.0)
    assert h.broker.count(COMMIT) == 0
    token = h.run(lambda g, now: g.commit(now))
    assert h.result(token) is None and h.broker.committed == {("t", 0): 5}


def test_marks_move_forward_resets_move_back() -> None:
    h = Harness({"t": 1}, enable_auto_commit=False)
    h.broker.committed[("t", 0)] = 50
    info = h.start()
    mark = lambda o: h.run(lambda g, now: g.mark_offset(info.session, "t", 0, o))  # noqa: E731
    reset = lambda o: h.run(lambda g, now: g.reset_offset(info.session, "t", 0, o))  # noqa: E731
    mark(40)
    assert h.group.offsets.dirty() == {}
    mark(60)
    mark(55)
    assert h.group.offsets.dirty() == {TopicPartition("t", 0): (60, None)}
    reset(70)
    assert h.group.offsets.dirty() == {TopicPartition("t", 0): (60, None)}
    reset(20)
    assert h.group.offsets.dirty() == {TopicPartition("t", 0): (20, None)}
    # Marks for partitions this session does not hold, or from another session, are ignored.
    h.run(lambda g, now: g.mark_offset(info.session, "other", 0, 9))
    h.run(lambda g, now: g.mark_offset(info.session + 999, "t", 0, 99))
    assert h.group.offsets.dirty() == {TopicPartition("t", 0): (20, None)}


def test_close_while_claim_loops_run_ends_the_session_without_waiting() -> None:
    h = Harness({"t": 2})
    info = h.start()
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 4))
    token = h.run(lambda g, now: g.close(now))
    h.step()
    assert h.result(token) is None
    [stop] = h.of(ClaimsStopping)
    [drained] = h.of(SessionDrained)
    assert set(stop.streams) == set(drained.abandoned) == {c.stream for c in info.claims}
    assert drained.error is None
    assert h.broker.committed == {("t", 0): 4} and h.broker.count(LEAVE) == 1
    # The adapter's consume finishes the session as usual; nothing is left to do.
    done = h.run(lambda g, now: g.finish_session(info.session, now))
    assert h.result(done) is None
