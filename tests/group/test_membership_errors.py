"""Every error path of the group protocol, against a scripted coordinator."""

from __future__ import annotations

from typing import Any

import pytest

from kproto import errors, protocol
from kproto.group.assignors import Subscription, TopicPartition
from kproto.group.consumer_protocol import (
    decode_assignment,
    decode_subscription,
    encode_subscription,
)
from kproto.group.core import NoCommittedOffsetError
from kproto.group.events import ClaimsStopping, GroupError
from kproto.group.offsets import CommitFailed
from kproto.protocol.messages import join_group_response as jg
from tests.group.scripted import (
    COMMIT,
    FETCH_OFFSETS,
    FIND,
    HEARTBEAT,
    HOLD,
    JOIN,
    LEAVE,
    METADATA,
    SYNC,
    FakeFetcher,
    Harness,
)


def join_error(code: int) -> Any:
    return protocol.JoinGroupResponse(error_code=code)


def sync_error(code: int) -> Any:
    return protocol.SyncGroupResponse(error_code=code)


def heartbeat_error(h: Harness, code: int) -> None:
    h.broker.script[HEARTBEAT].append(lambda r, v: h.broker.heartbeat(r, v, error=code))


def finish(h: Harness, info: Any) -> Any:
    for c in info.claims:
        h.run(lambda g, now, c=c: g.claim_finished(info.session, c.stream, now))
    return h.run(lambda g, now: g.finish_session(info.session, now))


def test_find_coordinator_retries_while_the_coordinator_is_not_available() -> None:
    h = Harness()
    for _ in range(3):
        h.broker.script[FIND].append(lambda r, v: h.broker.find(r, v, error=15))
    token = h.run(lambda g, now: g.consume(["t"], now))
    h.advance(0.05)
    assert h.broker.count(FIND) == 1  # the first retry waits retry_backoff (0.1s +-20%)
    h.advance(0.1)
    assert h.broker.count(FIND) == 2
    h.advance(2.0)
    assert h.broker.count(FIND) == 4
    assert h.result(token).generation_id == 1


def test_join_follows_the_coordinator_when_it_moves() -> None:
    h = Harness()
    h.broker.script[JOIN].append(join_error(16))  # NOT_COORDINATOR
    token = h.run(lambda g, now: g.consume(["t"], now))
    h.advance(1.0)
    assert h.broker.count(FIND) == 2
    assert h.result(token).member_id == "m-1"


def test_join_retries_while_the_coordinator_loads() -> None:
    h = Harness()
    h.broker.script[JOIN].extend([join_error(14), join_error(14)])
    token = h.run(lambda g, now: g.consume(["t"], now))
    h.advance(1.0)
    assert h.broker.count(FIND) == 1 and h.broker.count(JOIN) == 4
    assert h.result(token).generation_id == 1


@pytest.mark.parametrize("code,cls", [
    (23, errors.InconsistentGroupProtocolError),
    (30, errors.GroupAuthorizationFailedError),
    (26, errors.InvalidSessionTimeoutError),
    (81, errors.GroupMaxSizeReachedError),
    (24, errors.InvalidGroupIdError),
])
def test_fatal_join_errors_fail_consume(code: int, cls: type) -> None:
    h = Harness()
    h.broker.script[JOIN].append(join_error(code))
    token = h.run(lambda g, now: g.consume(["t"], now))
    h.advance(1.0)
    with pytest.raises(cls):
        h.result(token)
    assert h.broker.count(JOIN) == 1 and h.broker.count(HEARTBEAT) == 0
    assert h.group.session is None


def test_unknown_member_id_on_join_starts_over_without_an_id() -> None:
    h = Harness()
    h.broker.script[JOIN].extend([h.broker.join, join_error(25)])
    token = h.run(lambda g, now: g.consume(["t"], now))
    h.advance(1.0)
    assert [r.member_id for r, _v in h.broker.requests(JOIN)] == ["", "m-1", "", "m-2"]
    assert h.result(token).member_id == "m-2"


@pytest.mark.parametrize("code", [27, 22, 25])
def test_sync_errors_rejoin(code: int) -> None:
    h = Harness()
    h.broker.script[SYNC].append(sync_error(code))
    token = h.run(lambda g, now: g.consume(["t"], now))
    h.advance(1.0)
    info = h.result(token)
    assert h.broker.count(SYNC) == 2
    ids = [r.member_id for r, _v in h.broker.requests(JOIN)]
    if code == 25:  # UNKNOWN_MEMBER_ID: a new id
        assert ids[-2:] == ["", "m-2"] and info.member_id == "m-2"
    else:
        assert ids[-1] == "m-1" and info.generation_id == 2


def test_illegal_generation_on_heartbeat_loses_the_partitions() -> None:
    h = Harness({"t": 2})
    info = h.start()
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 9))
    heartbeat_error(h, 22)
    h.advance(1.0)
    [stop] = h.of(ClaimsStopping)
    assert "ILLEGAL_GENERATION" in stop.reason
    assert any(isinstance(e.error, errors.IllegalGenerationError) for e in h.of(GroupError))
    token = finish(h, info)
    assert h.result(token) is None
    assert h.broker.count(COMMIT) == 0, "a member that lost its partitions does not commit"
    assert any("not committed" in str(e.error) for e in h.of(GroupError))
    h.advance(5.0)
    again = h.start()
    join = h.broker.last(JOIN)
    assert join.member_id == "m-1"
    assert decode_subscription(join.protocols[0].metadata).generation == -1
    assert again.generation_id == 2


def test_unknown_member_id_on_heartbeat_forgets_the_member_id() -> None:
    h = Harness()
    info = h.start()
    heartbeat_error(h, 25)
    h.advance(1.0)
    assert h.of(ClaimsStopping)
    h.result(finish(h, info))
    assert h.start().member_id == "m-2"
    assert h.broker.requests(JOIN)[-2][0].member_id == ""


def test_fenced_instance_id_is_fatal() -> None:
    h = Harness(group_instance_id="box-1")
    info = h.start()
    heartbeat_error(h, 82)
    h.advance(1.0)
    token = finish(h, info)
    with pytest.raises(errors.FencedInstanceIdError):
        h.result(token)


def test_heartbeat_not_coordinator_finds_it_again_and_carries_on() -> None:
    h = Harness()
    h.start()
    heartbeat_error(h, 16)
    h.advance(1.0)
    assert h.broker.count(FIND) == 1
    h.advance(1.0)
    assert h.broker.count(FIND) == 2
    before = h.broker.count(HEARTBEAT)
    h.advance(2.0)
    assert h.broker.count(HEARTBEAT) == before + 2
    assert not h.of(ClaimsStopping)


def test_a_dropped_coordinator_connection_reconnects_or_finds_it_again() -> None:
    h = Harness()
    h.start()
    # Nothing in flight: the next heartbeat reconnects to the same coordinator.
    h.broker.drop(h.broker.coordinator_conn(), h.now)
    h.advance(1.0)
    assert h.broker.count(FIND) == 1 and h.broker.log[-1][0] == "Heartbeat"
    # A heartbeat in flight fails with the connection: the coordinator is looked up again.
    h.broker.script[HEARTBEAT].append(HOLD)
    h.advance(1.0)
    h.broker.drop(h.broker.coordinator_conn(), h.now)
    h.advance(2.0)
    assert h.broker.count(FIND) == 2 and h.broker.log[-1][0] == "Heartbeat"
    assert not h.of(ClaimsStopping)


def test_no_heartbeat_answer_for_a_session_means_the_member_is_out() -> None:
    h = Harness(session_timeout=4.0, heartbeat_interval=1.0, request_timeout=30.0)
    info = h.start()
    h.broker.hold.add(HEARTBEAT)
    h.advance(3.5)
    assert not h.of(ClaimsStopping)
    h.advance(1.0)
    [stop] = h.of(ClaimsStopping)
    assert "no heartbeat was answered within session_timeout (4s)" in stop.reason
    token = finish(h, info)
    assert h.result(token) is None and h.broker.count(COMMIT) == 0
    h.broker.hold.discard(HEARTBEAT)
    h.broker.answer_held(h.now)  # late answers (a broker answers in order) change nothing
    again = h.start()
    assert h.broker.count(FIND) == 2 and again.generation_id == 2


def test_join_waits_longer_than_the_request_timeout_during_a_long_rebalance() -> None:
    h = Harness(rebalance_timeout=40.0, request_timeout=10.0)
    h.broker.script[JOIN].extend([h.broker.join, HOLD])  # MEMBER_ID_REQUIRED, then park
    token = h.run(lambda g, now: g.consume(["t"], now))
    h.advance(35.0)
    assert h.broker.count(JOIN) == 2 and h.broker.count(FIND) == 1
    h.broker.answer_held(h.now)
    h.step()
    assert h.result(token).generation_id == 1


def test_no_session_within_the_deadline_fails_consume() -> None:
    h = Harness(rebalance_timeout=10.0, request_timeout=5.0)
    h.broker.hold.add(JOIN)
    token = h.run(lambda g, now: g.consume(["t"], now))
    h.advance(16.0)
    with pytest.raises(errors.ClientTimeoutError, match="no session"):
        h.result(token)
    assert h.group.session is None


def test_static_membership() -> None:
    h = Harness(group_instance_id="box-1")
    info = h.start()
    [(join, version)] = h.broker.requests(JOIN)
    assert version >= 5 and join.group_instance_id == "box-1" and join.member_id == ""
    assert info.member_id == "static-box-1"
    h.advance(1.0)
    assert h.broker.last(HEARTBEAT).group_instance_id == "box-1"
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 1))
    token = h.run(lambda g, now: g.commit(now))
    h.result(token)
    commit, version = h.broker.requests(COMMIT)[-1]
    assert commit.group_instance_id == "box-1"
    h.result(finish(h, info))
    close = h.run(lambda g, now: g.close(now))
    h.step()
    h.result(close)
    assert h.broker.count(LEAVE) == 0, "a static member lets its session expire"


def test_a_dynamic_member_leaves_on_close() -> None:
    h = Harness()
    info = h.start()
    h.run(lambda g, now: g.mark_offset(info.session, "t", 2, 4))
    h.result(finish(h, info))
    token = h.run(lambda g, now: g.close(now))
    h.step()
    h.result(token)
    leave, version = h.broker.requests(LEAVE)[-1]
    assert version >= 3 and [m.member_id for m in leave.members] == ["m-1"]
    assert h.broker.committed[("t", 2)] == 4
    assert h.fetcher.closed


def test_close_during_a_session_commits_then_leaves() -> None:
    h = Harness()
    info = h.start()
    h.run(lambda g, now: g.mark_offset(info.session, "t", 1, 8))
    token = h.run(lambda g, now: g.close(now))
    h.step()
    h.result(token)
    assert h.broker.committed == {("t", 1): 8}
    names = [n for n, *_ in h.broker.log]
    assert names.index("OffsetCommit") < names.index("LeaveGroup")


def two_member_join(h: Harness, other_topics: tuple[str, ...]) -> Any:
    def build(req: Any, version: int) -> Any:
        h.broker.generation += 1
        other = encode_subscription(Subscription(other_topics))
        return protocol.JoinGroupResponse(
            error_code=0, generation_id=h.broker.generation, protocol_type="consumer",
            protocol_name=req.protocols[0].name, leader=req.member_id, member_id=req.member_id,
            members=[jg.JoinGroupResponseMember(member_id=req.member_id,
                                                metadata=req.protocols[0].metadata),
                     jg.JoinGroupResponseMember(member_id="z-other", metadata=other)])
    return build


def test_the_leader_fetches_metadata_for_topics_only_others_want() -> None:
    h = Harness({"t": 2, "u": 3})
    h.broker.script[JOIN].extend([h.broker.join, two_member_join(h, ("t", "u"))])
    info = h.start()
    metas = [r for r, _v in h.broker.requests(METADATA)]
    assert any(r.topics and "u" in {t.name for t in r.topics} for r in metas)
    names = [n for n, *_ in h.broker.log]
    assert names.index("SyncGroup") > max(i for i, n in enumerate(names) if n == "Metadata")
    sync = h.broker.last(SYNC)
    got = {a.member_id: decode_assignment(a.assignment).partitions for a in sync.assignments}
    assert got["m-1"] == (TopicPartition("t", 0),)
    assert got["z-other"] == (TopicPartition("t", 1), *(TopicPartition("u", p) for p in range(3)))
    assert [(c.topic, c.partition) for c in info.claims] == [("t", 0)]


def test_commit_errors_are_reported_with_their_partitions() -> None:
    h = Harness({"t": 2})
    info = h.start()
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 5))
    h.broker.script[COMMIT].append(lambda r, v: h.broker.commit(r, v, error=12))
    token = h.run(lambda g, now: g.commit(now))
    with pytest.raises(CommitFailed, match=r"t\[0\]: OFFSET_METADATA_TOO_LARGE"):
        h.result(token)


def test_commit_retries_on_a_moved_coordinator_with_the_newest_marks() -> None:
    h = Harness({"t": 1})
    info = h.start()
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 5))
    h.broker.script[COMMIT].append(lambda r, v: h.broker.commit(r, v, error=16))
    token = h.run(lambda g, now: g.commit(now))
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 6))
    h.advance(1.0)
    assert h.result(token) is None
    assert [p.committed_offset for r, _v in h.broker.requests(COMMIT)
            for t in r.topics for p in t.partitions] == [5, 6]
    assert h.broker.committed == {("t", 0): 6} and h.broker.count(FIND) == 2


def test_commit_saying_the_member_is_unknown_ends_the_session() -> None:
    h = Harness({"t": 1})
    info = h.start()
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 5))
    h.broker.script[COMMIT].append(lambda r, v: h.broker.commit(r, v, error=25))
    token = h.run(lambda g, now: g.commit(now))
    with pytest.raises(CommitFailed, match="UNKNOWN_MEMBER_ID"):
        h.result(token)
    assert h.of(ClaimsStopping)
    h.result(finish(h, info))
    assert h.start().member_id == "m-2"


def test_unstable_offsets_are_fetched_again() -> None:
    h = Harness({"t": 1})
    h.broker.committed[("t", 0)] = 3
    h.broker.script[FETCH_OFFSETS].append(lambda r, v: h.broker.fetch_offsets(r, v, error=88))
    token = h.run(lambda g, now: g.consume(["t"], now))
    h.advance(1.0)
    assert h.broker.count(FETCH_OFFSETS) == 2
    assert h.result(token).claims[0].initial_offset == 3


def test_no_committed_offset_with_reset_none_is_a_claim_error() -> None:
    h = Harness({"t": 2}, auto_offset_reset="none")
    h.broker.committed[("t", 1)] = 4
    info = h.start()
    by_partition = {c.partition: c for c in info.claims}
    assert isinstance(by_partition[0].error, NoCommittedOffsetError)
    assert by_partition[1].error is None and by_partition[1].initial_offset == 4
    assert [(e.topic, e.partition) for e in h.of(GroupError)] == [("t", 0)]


def test_a_partition_that_cannot_start_is_a_claim_error() -> None:
    fetcher = FakeFetcher(auto_start=False)
    h = Harness({"t": 2}, fetcher=fetcher)
    token = h.run(lambda g, now: g.consume(["t"], now))
    h.step()
    assert not h.settled(token)
    streams = fetcher.by_tp()
    fetcher.start(streams[("t", 0)], 17)
    fetcher.start(streams[("t", 1)], -1, errors.OffsetOutOfRangeError("gone"))
    h.step()
    info = h.result(token)
    by_partition = {c.partition: c for c in info.claims}
    assert by_partition[0].initial_offset == 17 and by_partition[0].error is None
    assert isinstance(by_partition[1].error, errors.OffsetOutOfRangeError)


def test_pause_and_resume_carry_over_to_new_claims() -> None:
    h = Harness({"t": 3})
    h.run(lambda g, now: g.pause({"t": [1]}, now))
    info = h.start()
    streams = h.fetcher.by_tp()
    assert h.fetcher.paused == {streams[("t", 1)]}
    h.run(lambda g, now: g.pause_all(now))
    assert h.fetcher.paused == set(streams.values())
    h.run(lambda g, now: g.resume([("t", 0)], now))
    assert h.fetcher.paused == set(streams.values()), "resume of one while all are paused"
    h.run(lambda g, now: g.resume_all(now))
    assert h.fetcher.paused == set()
    h.run(lambda g, now: g.pause([("t", 2)], now))
    assert h.fetcher.paused == {streams[("t", 2)]}
    assert {c.partition for c in info.claims} == {0, 1, 2}


def test_consume_twice_at_once_is_refused() -> None:
    h = Harness()
    h.start()
    token = h.run(lambda g, now: g.consume(["t"], now))
    with pytest.raises(errors.ConfigurationError, match="already running"):
        h.result(token)


def test_a_static_leader_coming_back_skips_the_assignment() -> None:
    from kproto.group.assignors import Assignment
    from kproto.group.consumer_protocol import encode_assignment
    h = Harness({"t": 2}, group_instance_id="box-1")

    def join(req: Any, version: int) -> Any:
        assert version >= 9
        # KIP-814: the leader's old assignment stands; it must not compute a new one.
        return protocol.JoinGroupResponse(
            error_code=0, generation_id=5, protocol_type="consumer", protocol_name="range",
            leader="static-box-1", member_id="static-box-1", skip_assignment=True,
            members=[jg.JoinGroupResponseMember(member_id="static-box-1",
                                                group_instance_id="box-1",
                                                metadata=req.protocols[0].metadata)])

    h.broker.script[JOIN].append(join)
    h.broker.leader_assignments["static-box-1"] = encode_assignment(
        Assignment((TopicPartition("t", 1),)))
    info = h.start()
    assert h.broker.last(SYNC).assignments == []
    assert info.generation_id == 5 and [(c.topic, c.partition) for c in info.claims] == [("t", 1)]


def test_a_group_needs_a_group_id() -> None:
    with pytest.raises(errors.ConfigurationError, match="group_id"):
        Harness(group_id=None)


def test_a_failing_custom_assignor_fails_consume_and_leaves() -> None:
    from kproto.group.assignors import Assignor

    class Broken(Assignor):
        name = "broken"

        def assign(self, partitions: Any, members: Any) -> Any:
            raise RuntimeError("no idea")

    h = Harness(assignors=(Broken(),))
    token = h.run(lambda g, now: g.consume(["t"], now))
    h.advance(0.5)
    with pytest.raises(errors.ConfigurationError, match="assignor 'broken' raised") as info:
        h.result(token)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert h.broker.count(SYNC) == 0 and h.broker.count(LEAVE) == 1
