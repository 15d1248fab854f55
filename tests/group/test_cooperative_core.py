"""Cooperative rebalancing (KIP-429), topic patterns and partition changes in the group core."""

from __future__ import annotations

import re
from typing import Any

from kproto import protocol
from kproto.group.assignors import Assignment, Subscription, TopicPartition
from kproto.group.consumer_protocol import (
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from kproto.group.events import ClaimsStarted, ClaimsStopping, SessionDrained
from kproto.protocol.messages import join_group_response as jg
from tests.group.scripted import COMMIT, HEARTBEAT, JOIN, SYNC, Harness

T = [TopicPartition("t", p) for p in range(6)]


def with_other(h: Harness, other_owned: tuple[TopicPartition, ...] = (),
               generation: int = -1) -> Any:
    """A JoinGroup answer in which this member leads a group with one more member."""
    def build(req: Any, version: int) -> Any:
        h.broker.generation += 1
        other = encode_subscription(Subscription(("t",), owned_partitions=other_owned,
                                                 generation=generation))
        return protocol.JoinGroupResponse(
            error_code=0, generation_id=h.broker.generation, protocol_type="consumer",
            protocol_name=req.protocols[0].name, leader=req.member_id, member_id=req.member_id,
            members=[jg.JoinGroupResponseMember(member_id=req.member_id,
                                                metadata=req.protocols[0].metadata),
                     jg.JoinGroupResponseMember(member_id="z-other", metadata=other)])
    return build


def rebalance(h: Harness) -> None:
    h.broker.script[HEARTBEAT].append(lambda r, v: h.broker.heartbeat(r, v, error=27))
    h.advance(1.0)


def test_cooperative_rebalance_keeps_the_session_and_revokes_only_moved_partitions() -> None:
    h = Harness({"t": 6}, assignors=("cooperative-sticky",))
    info = h.start()
    assert len(info.claims) == 6
    streams = {(c.topic, c.partition): c.stream for c in info.claims}
    h.run(lambda g, now: g.mark_offset(info.session, "t", 4, 40))
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 10))
    # Another member arrives: this one (the leader) keeps three and gives up three.
    h.broker.script[JOIN].append(with_other(h))
    rebalance(h)
    join = h.broker.last(JOIN)
    sub = decode_subscription(join.protocols[0].metadata)
    assert set(sub.owned_partitions) == set(T) and sub.generation == 1
    sync = h.broker.requests(SYNC)[-1][0]
    planned = {a.member_id: decode_assignment(a.assignment).partitions for a in sync.assignments}
    assert planned["z-other"] == (), "moving partitions wait for the follow-up rebalance"
    kept = set(planned["m-1"])
    assert len(kept) == 3
    [stop] = h.of(ClaimsStopping)
    assert stop.reason == "revoked"
    assert set(stop.streams) == {streams[tp] for tp in set(T) - kept}
    assert not h.of(SessionDrained), "the session goes on"
    assert set(h.fetcher.assigned) == {streams[tp] for tp in kept}
    assert h.group.claims(info.session) == {"t": sorted(tp.partition for tp in kept)}
    # The revoked claim loops return: their marks are committed, then the member rejoins.
    joins = h.broker.count(JOIN)
    for s in stop.streams:
        h.run(lambda g, now, s=s: g.claim_finished(info.session, s, now))
    revoked_marks = {p: o for p, o in ((4, 40), (0, 10)) if TopicPartition("t", p) not in kept}
    committed = {(p.partition_index, p.committed_offset) for r, _v in h.broker.requests(COMMIT)
                 for t in r.topics for p in t.partitions}
    assert committed == set(revoked_marks.items())
    assert h.broker.count(JOIN) == joins + 1
    follow = decode_subscription(h.broker.last(JOIN).protocols[0].metadata)
    assert set(follow.owned_partitions) == kept


def test_partitions_added_by_a_cooperative_sync_start_new_claims() -> None:
    h = Harness({"t": 6}, assignors=("cooperative-sticky",))
    h.broker.script[JOIN].extend([h.broker.join, with_other(h, tuple(T[3:]), 1)])
    info = h.start()
    assert {c.partition for c in info.claims} == {0, 1, 2}
    # The other member leaves; the next rebalance hands this one everything.
    rebalance(h)
    [started] = h.of(ClaimsStarted)
    assert started.session == info.session
    assert {c.partition for c in started.claims} == {3, 4, 5}
    assert (info.generation_id, started.generation_id) == (1, 2), \
        "added claims name the generation that gave them, not the session's first"
    assert not h.of(ClaimsStopping)
    assert h.group.claims(info.session) == {"t": [0, 1, 2, 3, 4, 5]}
    assert h.group.generation_id == 2


def test_eager_members_send_no_owned_partitions() -> None:
    h = Harness({"t": 2}, assignors=("sticky", "range"))
    info = h.start()
    rebalance(h)
    for c in info.claims:
        h.run(lambda g, now, c=c: g.claim_finished(info.session, c.stream, now))
    h.run(lambda g, now: g.finish_session(info.session, now))
    h.start()
    sub = decode_subscription(h.broker.last(JOIN).protocols[0].metadata)
    assert sub.owned_partitions == ()
    # The eager sticky assignor carries its history in the user data, as Java's does.
    assert sub.user_data


def test_a_topic_pattern_is_matched_against_the_cluster_and_followed() -> None:
    h = Harness({"orders-eu": 2, "orders-us": 1, "payments": 1}, metadata_max_age=5.0)
    info = h.start(re.compile(r"orders-.*"))
    assert decode_subscription(h.broker.last(JOIN).protocols[0].metadata).topics == (
        "orders-eu", "orders-us")
    assert {(c.topic, c.partition) for c in info.claims} == {
        ("orders-eu", 0), ("orders-eu", 1), ("orders-us", 0)}
    h.broker.topics["orders-asia"] = 1
    h.advance(6.0)
    [stop] = h.of(ClaimsStopping)
    assert "pattern" in stop.reason


def test_the_leader_rebalances_when_partitions_are_added() -> None:
    h = Harness({"t": 2}, metadata_max_age=5.0)
    h.start()
    h.broker.topics["t"] = 4
    h.advance(6.0)
    [stop] = h.of(ClaimsStopping)
    assert "4 partitions" in stop.reason


def test_assignment_bytes_for_other_members_round_trip() -> None:
    a = Assignment((TopicPartition("t", 1),), b"x")
    assert decode_assignment(encode_assignment(a)) == a


def test_a_commit_racing_a_cooperative_rejoin_only_fails_the_commit() -> None:
    from kproto.group.offsets import CommitFailed
    from tests.group.scripted import HOLD
    h = Harness({"t": 2}, assignors=("cooperative-sticky",))
    info = h.start()
    # The rejoin parks at the coordinator; a commit sent meanwhile queues behind it and is
    # answered after it, for the generation the member had when it sent it.
    h.broker.script[JOIN].append(HOLD)
    rebalance(h)
    assert h.group.membership.state == "joining"
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 3))
    h.broker.script[COMMIT].append(HOLD)
    token = h.run(lambda g, now: g.commit(now))
    h.broker.answer_held(h.now, {COMMIT: lambda r, v: h.broker.commit(r, v, error=22)})
    h.step()
    try:
        h.result(token)
        raise AssertionError("the commit should have failed")
    except CommitFailed as exc:
        assert "ILLEGAL_GENERATION" in str(exc)
    assert not h.of(ClaimsStopping), "the member is still in the group"
    assert h.group.membership.state == "stable" and h.group.generation_id == 2


def _lost_in_rejoin(api: int, code: int) -> None:
    """A cooperative member keeps t[0], t[1] through a rejoin that the coordinator answers
    ``code`` (it removed the member meanwhile): the kept partitions are lost, as when a
    heartbeat says so -- stopped, their marks never committed, and the next join claims
    nothing and carries no stale generation."""
    from tests.group.scripted import HOLD
    h = Harness({"t": 2}, assignors=("cooperative-sticky",))
    info = h.start()
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 7))
    commits = h.broker.count(COMMIT)
    if api == JOIN:
        h.broker.script[JOIN].append(lambda r, v: protocol.JoinGroupResponse(error_code=code))
    else:
        h.broker.script[JOIN].append(h.broker.join)
        h.broker.script[SYNC].append(
            lambda r, v: protocol.SyncGroupResponse(error_code=code, protocol_type="consumer",
                                                    protocol_name=r.protocol_name))
    h.broker.script[JOIN].append(HOLD)  # were the join retried at once, it would park here
    rebalance(h)
    [stop] = h.of(ClaimsStopping)
    assert set(stop.streams) == {c.stream for c in info.claims}
    assert "membership was lost" in stop.reason
    for c in info.claims:
        h.run(lambda g, now, c=c: g.claim_finished(info.session, c.stream, now))
    [drained] = h.of(SessionDrained)
    assert drained.session == info.session
    h.run(lambda g, now: g.finish_session(info.session, now))
    assert h.broker.count(COMMIT) == commits, "a lost partition's marks are not committed"
    assert h.group.membership.generation == -1
    assert (h.group.membership.member_id == "") == (code == 25)
    joins = h.broker.count(JOIN)
    h.broker.script[JOIN].clear()
    h.start()
    assert h.broker.count(JOIN) > joins
    sub = decode_subscription(h.broker.requests(JOIN)[joins][0].protocols[0].metadata)
    assert sub.owned_partitions == () and sub.generation == -1


def test_a_cooperative_rejoin_answered_unknown_member_loses_the_kept_partitions() -> None:
    _lost_in_rejoin(JOIN, 25)


def test_a_cooperative_sync_answered_illegal_generation_loses_the_kept_partitions() -> None:
    _lost_in_rejoin(SYNC, 22)


def test_partitions_still_starting_are_owned_and_can_be_revoked_before_they_start() -> None:
    """Simulation seed 920670 (tests/sim/test_regressions.py): partitions a cooperative
    sync added, whose committed offsets were still being fetched, were left out of a
    rejoin's owned partitions; the leader gave them to another member while this one went
    on to consume them."""
    from tests.group.scripted import FETCH_OFFSETS, HOLD
    h = Harness({"t": 6}, assignors=("cooperative-sticky",))
    h.broker.script[JOIN].extend([h.broker.join, with_other(h, tuple(T[3:]), 1)])
    info = h.start()
    assert {c.partition for c in info.claims} == {0, 1, 2}
    # The other member leaves; generation 2's SyncGroup answer (adding t[3..5]) comes in one
    # read with a heartbeat's "rebalancing" (the group moved on meanwhile).
    h.broker.script[SYNC].append(HOLD)
    rebalance(h)
    h.broker.script[HEARTBEAT].append(HOLD)
    h.advance(1.0)
    h.broker.script[FETCH_OFFSETS].append(HOLD)
    h.broker.script[JOIN].append(HOLD)
    h.broker.answer_held(h.now, {HEARTBEAT: lambda r, v: h.broker.heartbeat(r, v, error=27)})
    h.step()
    assert h.group.generation_id == 2 and not h.of(ClaimsStarted)
    sub = decode_subscription(h.broker.last(JOIN).protocols[0].metadata)
    assert set(sub.owned_partitions) == set(T), "the rejoin names those still starting"
    # Their committed offsets are late (the coordinator is loading) and the other member
    # is back, owning t[3..5] under a later generation: this member, the leader, leaves
    # them with it. Revoked before they became claims, they are dropped (no loop to stop)
    # and this member rejoins at once.
    joins = h.broker.count(JOIN)
    h.broker.script[JOIN].extend([with_other(h, tuple(T[3:]), 5)] * 2)
    h.broker.answer_held(h.now, {
        FETCH_OFFSETS: lambda r, v: h.broker.fetch_offsets(r, v, error=14),
        JOIN: with_other(h, tuple(T[3:]), 5)})
    h.advance(1.0)
    assert not h.of(ClaimsStopping)
    assert h.broker.count(JOIN) == joins + 1
    last = decode_subscription(h.broker.last(JOIN).protocols[0].metadata)
    assert set(last.owned_partitions) == set(T[:3])
    assert h.broker.count(FETCH_OFFSETS) >= 3, "the late offsets were fetched again"
    assert not h.of(ClaimsStarted), "offsets fetched for them start nothing"
    assert h.group.claims(info.session) == {"t": [0, 1, 2]}
