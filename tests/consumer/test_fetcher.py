"""The fetch engine against a scripted cluster: requests composed, responses applied."""

from __future__ import annotations

from typing import Any

import pytest

from kproto.consumer import (
    ConsumerCore,
    FetchError,
    LogTruncationError,
    RecordBatchTooLargeError,
    RecordsFetched,
)
from kproto.errors import (
    AuthenticationError,
    ClientTimeoutError,
    ConfigurationError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
)
from kproto.events import OperationCompleted, OperationFailed
from kproto.message_types import OFFSET_NEWEST, OFFSET_OLDEST
from kproto.records import Compression
from tests.consumer.scripted import (
    FETCH,
    LIST_OFFSETS,
    OFFSET_FOR_LEADER_EPOCH,
    Cluster,
    PartitionReply,
    Req,
    batch,
    epoch_response,
    fetch_response,
    list_offsets_response,
    make_core,
    marker,
)


class Rig:
    """A ConsumerCore on a scripted cluster, with shortcuts for the usual exchanges."""

    def __init__(self, topics: dict[str, list[int]] | None = None,
                 brokers: dict[int, str] | None = None, versions: Any = None,
                 **options: Any) -> None:
        self.core = make_core(**options)
        self.cluster = Cluster(self.core, brokers=brokers or {1: "b1"},
                               topics=topics or {"t": [1]}, versions=versions or {})
        self.consumer = ConsumerCore(self.core)
        self.fetcher = self.consumer.fetcher
        self.now = 0.0

    def step(self, dt: float = 0.0) -> list[Req]:
        self.now += dt
        return self.cluster.step(self.now)

    def advance(self, seconds: float) -> list[Req]:
        """Let time pass, firing every timer due on the way."""
        end = self.now + seconds
        reqs: list[Req] = []
        while (deadline := self.core.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self.core.handle_timer(self.now)
            reqs += self.cluster.step(self.now)
        self.now = end
        self.core.handle_timer(self.now)
        return reqs + self.cluster.step(self.now)

    def consume(self, topic: str, partition: int, offset: int) -> int:
        return self.consumer.consume_partition(topic, partition, offset, self.now)

    def events(self) -> list[Any]:
        return self.cluster.take_events()

    def fetches(self, reqs: list[Req]) -> list[Req]:
        return [r for r in reqs if r.api_key == FETCH]

    def one_fetch(self, reqs: list[Req], node: int | None = None) -> Req:
        fetches = [r for r in self.fetches(reqs) if node is None or r.node == node]
        assert len(fetches) == 1, reqs
        return fetches[0]

    def parts(self, req: Req) -> dict[tuple[str, int], Any]:
        return req.fetch_partitions(self.cluster.names)

    def answer(self, req: Req, replies: dict[tuple[str, int], PartitionReply],
               **kw: Any) -> list[Req]:
        req.reply(fetch_response(req, self.cluster, replies, **kw), self.now)
        return self.step()


def records_of(events: list[Any]) -> list[tuple[str, int, int, bytes | None]]:
    return [(m.topic, m.partition, m.offset, m.value)
            for e in events if isinstance(e, RecordsFetched) for m in e.messages]


def completed(events: list[Any], token: int) -> Any:
    [done] = [e for e in events if isinstance(e, (OperationCompleted, OperationFailed))
              and e.token == token]
    if isinstance(done, OperationFailed):
        raise done.error
    return done.value


def vals(n: int, start: int = 0) -> list[bytes]:
    return [b"v%d" % i for i in range(start, start + n)]


# -- request composition ---------------------------------------------------------------------

def test_one_fetch_per_leader_carrying_all_its_partitions() -> None:
    rig = Rig(topics={"t": [1, 2, 1, 2], "u": [2]}, brokers={1: "b1", 2: "b2"},
              fetch_min_bytes=10, fetch_max_bytes=5_000_000, fetch_max_wait=0.25,
              max_partition_fetch_bytes=65536)
    for p in range(4):
        rig.consume("t", p, 10 + p)
    rig.consume("u", 0, 7)
    reqs = rig.fetches(rig.step())
    assert sorted(r.node for r in reqs) == [1, 2]
    by_node = {r.node: r for r in reqs}
    assert set(rig.parts(by_node[1])) == {("t", 0), ("t", 2)}
    assert set(rig.parts(by_node[2])) == {("t", 1), ("t", 3), ("u", 0)}
    for req in reqs:
        body = req.body
        assert req.version >= 13 and body.replica_id == -1
        assert (body.min_bytes, body.max_bytes, body.max_wait_ms) == (10, 5_000_000, 250)
        assert body.isolation_level == 0
        assert (body.session_id, body.session_epoch) == (0, 0)  # a full fetch opening a session
        assert all(t.topic_id == rig.cluster.topic_ids[t.topic or rig.cluster.names[t.topic_id]]
                   for t in body.topics)
        for (topic, p), fp in rig.parts(req).items():
            assert fp.fetch_offset == (7 if topic == "u" else 10 + p)
            assert fp.partition_max_bytes == 65536
            assert fp.current_leader_epoch == 0


def test_topic_names_below_fetch_v13_and_the_request_timeout_covers_the_long_poll() -> None:
    rig = Rig(versions={1: (0, 12)}, fetch_max_wait=2.0, request_timeout=5.0)
    rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    assert req.version == 12
    assert [t.topic for t in req.body.topics] == ["t"]
    # No answer for longer than request_timeout, shorter than fetch_max_wait + request_timeout.
    assert rig.advance(6.5) == [] and rig.events() == []
    # The deadline passes: the connection is dropped and fetching resumes.
    reqs = rig.advance(1.0) + rig.advance(2.0)
    assert rig.parts(rig.one_fetch(reqs))[("t", 0)].fetch_offset == 0


def test_records_are_delivered_and_the_next_fetch_starts_after_them() -> None:
    rig = Rig()
    token = rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    data = batch(0, vals(3)) + batch(3, vals(2, 3), keys=[b"k", None])
    reqs = rig.answer(req, {("t", 0): PartitionReply(data, high_watermark=9)})
    events = rig.events()
    assert completed(events, token) == token
    [ev] = [e for e in events if isinstance(e, RecordsFetched)]
    assert ev.stream == token and ev.high_watermark == 9 and ev.size == len(data)
    assert [(m.offset, m.key, m.value) for m in ev.messages] == [
        (0, None, b"v0"), (1, None, b"v1"), (2, None, b"v2"), (3, b"k", b"v3"), (4, None, b"v4")]
    first = ev.messages[0]
    assert (first.topic, first.partition, first.timestamp, first.timestamp_type) == ("t", 0, 1000, 0)
    assert first.headers == (("h", b"x"),)
    assert rig.parts(rig.one_fetch(reqs))[("t", 0)].fetch_offset == 5
    assert rig.fetcher.high_water_mark(token) == 9
    assert rig.fetcher.position(token) == 5


def test_an_offset_inside_a_batch_skips_the_earlier_records() -> None:
    rig = Rig()
    rig.consume("t", 0, 3)
    req = rig.one_fetch(rig.step())
    rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(6), compression=Compression.GZIP))})
    assert [o for _, _, o, _ in records_of(rig.events())] == [3, 4, 5]


def test_legacy_message_sets_decode_with_their_timestamp_types() -> None:
    rig = Rig()
    rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    data = batch(0, vals(2), magic=0) + batch(2, vals(2, 2), magic=1,
                                                compression=Compression.SNAPPY)
    rig.answer(req, {("t", 0): PartitionReply(data)})
    [ev] = [e for e in rig.events() if isinstance(e, RecordsFetched)]
    assert [(m.offset, m.value, m.timestamp_type) for m in ev.messages] == [
        (0, b"v0", -1), (1, b"v1", -1), (2, b"v2", 0), (3, b"v3", 0)]
    assert [m.timestamp for m in ev.messages][2:] == [1000, 1001]


# -- start positions -------------------------------------------------------------------------

@pytest.mark.parametrize(("offset", "timestamp"), [(OFFSET_OLDEST, -2), (OFFSET_NEWEST, -1)])
def test_oldest_and_newest_are_resolved_with_list_offsets(offset: int, timestamp: int) -> None:
    rig = Rig()
    token = rig.consume("t", 0, offset)
    [req] = rig.step()
    assert req.api_key == LIST_OFFSETS and req.body.replica_id == -1
    [topic] = req.body.topics
    [p] = topic.partitions
    assert (topic.name, p.partition_index, p.timestamp, p.current_leader_epoch) == (
        "t", 0, timestamp, 0)
    req.reply(list_offsets_response({("t", 0): (0, 42)}), rig.now)
    reqs = rig.step()
    assert completed(rig.events(), token) == token
    assert rig.parts(rig.one_fetch(reqs))[("t", 0)].fetch_offset == 42
    if offset == OFFSET_NEWEST:
        assert rig.fetcher.high_water_mark(token) == 42


def test_consuming_a_partition_twice_is_a_clear_error() -> None:
    rig = Rig()
    rig.consume("t", 0, 0)
    again = rig.consume("t", 0, 5)
    with pytest.raises(ConfigurationError, match=r"t\[0\] is already being consumed"):
        completed(rig.events(), again)


def test_a_partition_the_topic_does_not_have_fails_to_start() -> None:
    rig = Rig(topics={"t": [1, 1]})
    token = rig.consume("t", 5, 0)
    rig.step()
    with pytest.raises(UnknownTopicOrPartitionError, match="has 2 partition"):
        completed(rig.events(), token)
    assert rig.fetcher.streams() == []


def test_an_unknown_topic_fails_to_start_within_the_deadline() -> None:
    rig = Rig(request_timeout=3.0, connect_timeout=1.0)
    token = rig.consume("nope", 0, 0)
    rig.step()
    assert not [e for e in rig.events() if isinstance(e, OperationFailed)]
    rig.advance(4.5)
    with pytest.raises(UnknownTopicOrPartitionError):
        completed(rig.events(), token)


# -- offset reset ----------------------------------------------------------------------------

@pytest.mark.parametrize(("policy", "timestamp"), [("earliest", -2), ("latest", -1)])
def test_offset_out_of_range_resets_per_policy(policy: str, timestamp: int) -> None:
    rig = Rig(auto_offset_reset=policy)
    token = rig.consume("t", 0, 1000)
    req = rig.one_fetch(rig.step())
    [lreq] = rig.answer(req, {("t", 0): PartitionReply(error=1, high_watermark=50)})
    assert lreq.api_key == LIST_OFFSETS
    assert lreq.body.topics[0].partitions[0].timestamp == timestamp
    lreq.reply(list_offsets_response({("t", 0): (0, 50 if policy == "latest" else 4)}), rig.now)
    reqs = rig.step()
    assert completed(rig.events(), token) == token
    assert rig.parts(rig.one_fetch(reqs))[("t", 0)].fetch_offset == (
        50 if policy == "latest" else 4)


def test_offset_out_of_range_with_no_policy_fails_the_start() -> None:
    rig = Rig(auto_offset_reset="none")
    token = rig.consume("t", 0, 1000)
    req = rig.one_fetch(rig.step())
    reqs = rig.answer(req, {("t", 0): PartitionReply(error=1)})
    # The Fetch error carries no log bounds: the oldest and newest offsets are looked up.
    assert [r.body.topics[0].partitions[0].timestamp for r in reqs] == [-2, -1]
    for r, offset in zip(reqs, (7, 50), strict=True):
        r.reply(list_offsets_response({("t", 0): (0, offset)}), rig.now)
    assert [r for r in rig.step() if r.api_key != 3] == []
    with pytest.raises(OffsetOutOfRangeError,
                       match=r"offset 1000 is out of range \(log start 7, high water mark 50\)"):
        completed(rig.events(), token)


def test_offset_out_of_range_later_with_no_policy_stops_the_partition() -> None:
    rig = Rig(auto_offset_reset="none")
    token = rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(2)))}))
    reqs = rig.answer(req, {("t", 0): PartitionReply(error=1)})
    for r in reqs:
        r.reply(list_offsets_response({("t", 0): (0, 0)}), rig.now)
    assert [r for r in rig.step() if r.api_key != 3] == []
    [err] = [e for e in rig.events() if isinstance(e, FetchError)]
    assert err.stream == token and err.stopped
    assert isinstance(err.error, OffsetOutOfRangeError) and "offset 2" in str(err.error)


def test_an_authentication_failure_reaches_running_partition_consumers() -> None:
    rig = Rig(security_protocol="SSL")
    token = rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(2)))})
    assert [e for e in rig.events() if isinstance(e, FetchError)] == []
    # The leader's connection breaks and the next handshake fails verification: an
    # authentication error, which retrying does not cure, so the consumer hears of it now.
    rig.cluster.tls_fails = {1}
    rig.cluster.drop(1, rig.now)
    rig.advance(2.0)
    errors = [e for e in rig.events() if isinstance(e, FetchError)]
    assert errors and errors[0].stream == token and not errors[0].stopped
    assert isinstance(errors[0].error, AuthenticationError)


# -- sessions --------------------------------------------------------------------------------

def test_incremental_fetches_carry_only_changes_and_forget_what_is_not_fetched() -> None:
    rig = Rig(topics={"t": [1, 1, 1]})
    streams = [rig.consume("t", p, 0) for p in range(3)]
    req = rig.one_fetch(rig.step())
    assert (req.body.session_id, req.body.session_epoch) == (0, 0)
    assert len(rig.parts(req)) == 3
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(2)))},
                                   session_id=77))
    # Epoch 1 of session 77: only partition 0 moved; 1 and 2 stay in the session unchanged.
    assert (req.body.session_id, req.body.session_epoch) == (77, 1)
    assert {tp: p.fetch_offset for tp, p in rig.parts(req).items()} == {("t", 0): 2}
    assert req.forgotten(rig.cluster.names) == set()
    rig.fetcher.pause([streams[1]], rig.now)
    req = rig.one_fetch(rig.answer(req, {}, session_id=77))
    assert (req.body.session_id, req.body.session_epoch) == (77, 2)
    assert rig.parts(req) == {}
    assert req.forgotten(rig.cluster.names) == {("t", 1)}
    rig.fetcher.resume([streams[1]], rig.now)
    req = rig.one_fetch(rig.answer(req, {}, session_id=77))
    assert (req.body.session_id, req.body.session_epoch) == (77, 3)
    assert {tp: p.fetch_offset for tp, p in rig.parts(req).items()} == {("t", 1): 0}


@pytest.mark.parametrize(("code", "next_id"), [(70, 0), (71, 77)])
def test_a_session_error_starts_over_with_a_full_fetch(code: int, next_id: int) -> None:
    rig = Rig(topics={"t": [1, 1]})
    rig.consume("t", 0, 0)
    rig.consume("t", 1, 5)
    req = rig.one_fetch(rig.step())
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(1)))},
                                   session_id=77))
    assert req.body.session_epoch == 1 and len(rig.parts(req)) == 1
    req = rig.one_fetch(rig.answer(req, {}, error=code))
    assert (req.body.session_id, req.body.session_epoch) == (next_id, 0)
    assert {tp: p.fetch_offset for tp, p in rig.parts(req).items()} == {
        ("t", 0): 1, ("t", 1): 5}


def test_sessions_off_sends_full_sessionless_fetches() -> None:
    rig = Rig(use_fetch_sessions=False)
    rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    req = rig.one_fetch(rig.answer(req, {}, session_id=5))
    assert (req.body.session_id, req.body.session_epoch) == (0, -1)
    assert len(rig.parts(req)) == 1


def test_a_lost_connection_resumes_from_the_position_with_a_full_fetch() -> None:
    rig = Rig(retry_backoff=0.1)
    token = rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(4)))},
                                   session_id=9))
    rig.cluster.drop(1, rig.now)
    assert rig.fetches(rig.step()) == []
    reqs = rig.advance(1.0)
    req = rig.one_fetch(reqs)
    assert (req.body.session_id, req.body.session_epoch) == (9, 0)
    assert rig.parts(req)[("t", 0)].fetch_offset == 4
    rig.answer(req, {("t", 0): PartitionReply(batch(4, vals(1, 4)))})
    assert [o for *_, o, _ in records_of(rig.events())] == [0, 1, 2, 3, 4]
    assert rig.fetcher.position(token) == 5


# -- leaders ---------------------------------------------------------------------------------

def test_not_leader_refreshes_metadata_and_validates_with_the_new_leader() -> None:
    rig = Rig(brokers={1: "b1", 2: "b2"})
    token = rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(3), epoch=0))}))
    rig.cluster.topics["t"] = [2]
    rig.cluster.epochs[("t", 0)] = 1
    before = rig.cluster.metadata_requests
    reqs = rig.answer(req, {("t", 0): PartitionReply(error=6)})
    assert rig.cluster.metadata_requests > before
    reqs += rig.advance(0.5)
    [vreq] = [r for r in reqs if r.api_key == OFFSET_FOR_LEADER_EPOCH]
    assert vreq.node == 2 and vreq.version >= 3 and vreq.body.replica_id == -1
    [p] = vreq.body.topics[0].partitions
    assert (p.partition, p.current_leader_epoch, p.leader_epoch) == (0, 1, 0)
    assert rig.fetches(reqs) == []  # no fetching until the position is validated
    vreq.reply(epoch_response({("t", 0): (0, 0, 3)}), rig.now)
    req = rig.one_fetch(rig.step(), node=2)
    fp = rig.parts(req)[("t", 0)]
    assert (fp.fetch_offset, fp.current_leader_epoch) == (3, 1)
    assert rig.fetcher.position(token) == 3


@pytest.mark.parametrize("policy", ["earliest", "none"])
def test_truncation_is_detected_after_a_leader_change(policy: str) -> None:
    rig = Rig(brokers={1: "b1", 2: "b2"}, auto_offset_reset=policy)
    token = rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(5), epoch=0))}))
    rig.cluster.topics["t"] = [2]
    rig.cluster.epochs[("t", 0)] = 1
    reqs = rig.answer(req, {("t", 0): PartitionReply(error=74)}) + rig.advance(0.5)
    [vreq] = [r for r in reqs if r.api_key == OFFSET_FOR_LEADER_EPOCH]
    vreq.reply(epoch_response({("t", 0): (0, 0, 3)}), rig.now)  # the new leader ends epoch 0 at 3
    reqs = rig.step()
    [err] = [e for e in rig.events() if isinstance(e, FetchError)]
    assert isinstance(err.error, LogTruncationError) and err.error.offset == 3
    assert err.stream == token
    if policy == "none":
        assert err.stopped and rig.fetches(reqs) == []
    else:
        assert not err.stopped
        assert rig.parts(rig.one_fetch(reqs, node=2))[("t", 0)].fetch_offset == 3


def test_a_broker_without_offset_for_leader_epoch_v3_skips_validation() -> None:
    rig = Rig(brokers={1: "b1", 2: "b2"}, versions={23: (0, 2)})
    rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(2)))}))
    rig.cluster.topics["t"] = [2]
    rig.cluster.epochs[("t", 0)] = 3
    reqs = rig.answer(req, {("t", 0): PartitionReply(error=6)}) + rig.advance(0.5)
    assert not [r for r in reqs if r.api_key == OFFSET_FOR_LEADER_EPOCH]
    assert rig.parts(rig.one_fetch(reqs, node=2))[("t", 0)].fetch_offset == 2


def test_a_preferred_read_replica_serves_the_next_fetches() -> None:
    rig = Rig(brokers={1: "b1", 2: "b2"}, rack="r2")
    rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    assert req.body.rack_id == "r2"
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(preferred_read_replica=2)}),
                        node=2)
    assert rig.parts(req)[("t", 0)].fetch_offset == 0
    # The follower falls out of sync: back to the leader.
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(error=6)}), node=1)
    assert rig.parts(req)[("t", 0)].fetch_offset == 0


# -- flow control ----------------------------------------------------------------------------

def test_a_full_buffer_stops_fetching_the_partition_until_released() -> None:
    rig = Rig(topics={"t": [1, 1]}, partition_buffer_bytes=100)
    s0 = rig.consume("t", 0, 0)
    rig.consume("t", 1, 0)
    req = rig.one_fetch(rig.step())
    data = batch(0, [b"x" * 200])
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(data)}, session_id=3))
    assert rig.fetcher.buffered(s0) == len(data)
    assert req.forgotten(rig.cluster.names) == {("t", 0)}
    [ev] = [e for e in rig.events() if isinstance(e, RecordsFetched)]
    rig.fetcher.release(s0, ev.size - 150, rig.now)
    assert rig.fetcher.buffered(s0) == 150  # still above the bound: nothing new
    req = rig.one_fetch(rig.answer(req, {}, session_id=3))
    assert ("t", 0) not in rig.parts(req)
    rig.fetcher.release(s0, 150, rig.now)
    req = rig.one_fetch(rig.answer(req, {}, session_id=3))
    assert rig.parts(req)[("t", 0)].fetch_offset == 1


def test_pausing_keeps_the_position_and_drops_data_already_in_flight() -> None:
    rig = Rig()
    s = rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(2)))}))
    rig.events()
    rig.consumer.pause({"t": [0]}, rig.now)
    assert rig.fetcher.is_paused(s)
    reqs = rig.answer(req, {("t", 0): PartitionReply(batch(2, vals(3, 2)))})
    assert rig.fetches(reqs) == [] and records_of(rig.events()) == []
    assert rig.fetcher.position(s) == 2
    rig.consumer.resume_all(rig.now)
    req = rig.one_fetch(rig.step())
    assert rig.parts(req)[("t", 0)].fetch_offset == 2
    rig.answer(req, {("t", 0): PartitionReply(batch(2, vals(3, 2)))})
    assert [o for *_, o, _ in records_of(rig.events())] == [2, 3, 4]


def test_a_partial_trailing_batch_is_fetched_again_with_room_for_it() -> None:
    rig = Rig(max_partition_fetch_bytes=1024)
    rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    big = batch(0, [b"y" * 3000])
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(big[:1024])}))
    fp = rig.parts(req)[("t", 0)]
    assert (fp.fetch_offset, fp.partition_max_bytes) == (0, len(big))
    assert records_of(rig.events()) == []
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(big + batch(1, vals(1))[:30])}))
    assert [o for *_, o, _ in records_of(rig.events())] == [0]
    fp = rig.parts(req)[("t", 0)]
    assert (fp.fetch_offset, fp.partition_max_bytes) == (1, 1024)


def test_a_batch_beyond_the_frame_limit_stops_the_partition() -> None:
    rig = Rig(max_frame_size=200_000, fetch_max_bytes=100_000,
              max_partition_fetch_bytes=50_000)
    rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(1)))}))
    # The start of a batch at offset 1 announcing 400,000 bytes.
    head = (1).to_bytes(8, "big") + (400_000).to_bytes(4, "big") + b"\0" * 100
    reqs = rig.answer(req, {("t", 0): PartitionReply(head)})
    assert rig.fetches(reqs) == []
    [err] = [e for e in rig.events() if isinstance(e, FetchError)]
    assert err.stopped and isinstance(err.error, RecordBatchTooLargeError)
    assert "400012 bytes" in str(err.error)


def test_a_corrupt_batch_delivers_what_came_before_then_stops() -> None:
    rig = Rig()
    rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    bad = bytearray(batch(2, vals(2, 2)))
    bad[-1] ^= 0xFF
    reqs = rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(2)) + bytes(bad))})
    events = rig.events()
    assert [o for *_, o, _ in records_of(events)] == [0, 1]
    [err] = [e for e in events if isinstance(e, FetchError)]
    assert err.stopped and "CRC" in str(err.error)
    assert rig.fetches(reqs) == []


# -- isolation -------------------------------------------------------------------------------

def test_read_committed_drops_aborted_transactions_and_stops_at_the_last_stable_offset() -> None:
    rig = Rig(isolation_level="read_committed")
    s = rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    assert req.body.isolation_level == 1
    data = (batch(0, vals(2)) +                                                # plain 0-1
            batch(2, [b"a1", b"a2"], producer_id=7, transactional=True) +      # aborted 2-3
            batch(4, [b"c1"], producer_id=8, transactional=True) +             # committed 4
            marker(5, 7, commit=False) + marker(6, 8, commit=True) +           # markers 5, 6
            batch(7, [b"open"], producer_id=9, transactional=True))            # past the LSO
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(
        data, high_watermark=8, last_stable_offset=7, aborted=[(7, 2)])}))
    assert [(o, v) for *_, o, v in records_of(rig.events())] == [
        (0, b"v0"), (1, b"v1"), (4, b"c1")]
    assert rig.parts(req)[("t", 0)].fetch_offset == 7
    assert rig.fetcher.last_stable_offset(s) == 7


def test_read_uncommitted_shows_everything_but_control_records() -> None:
    rig = Rig()
    rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    data = batch(0, [b"a1"], producer_id=7, transactional=True) + marker(1, 7, commit=False) \
        + batch(2, [b"n"])
    rig.answer(req, {("t", 0): PartitionReply(data, aborted=[(7, 0)])})
    assert [(o, v) for *_, o, v in records_of(rig.events())] == [(0, b"a1"), (2, b"n")]


# -- lifecycle -------------------------------------------------------------------------------

def test_closing_a_partition_drops_its_data_and_stops_its_events() -> None:
    rig = Rig(topics={"t": [1, 1]})
    s0 = rig.consume("t", 0, 0)
    rig.consume("t", 1, 0)
    req = rig.one_fetch(rig.step())
    rig.consumer.close_partition(s0, rig.now)
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(2))),
                                         ("t", 1): PartitionReply(batch(0, vals(1)))}))
    assert [(p, o) for _, p, o, _ in records_of(rig.events())] == [(1, 0)]
    assert set(rig.parts(req)) == {("t", 1)}


def test_close_ends_fetching_and_fails_partitions_still_starting() -> None:
    rig = Rig()
    token = rig.consume("t", 0, OFFSET_OLDEST)
    rig.step()
    rig.consumer.close(rig.now)
    with pytest.raises(Exception, match="unassigned"):
        completed(rig.events(), token)
    assert rig.fetcher.streams() == []


def test_high_water_marks_of_every_partition_consumer() -> None:
    rig = Rig(topics={"t": [1, 1]})
    rig.consume("t", 0, 0)
    rig.consume("t", 1, 0)
    req = rig.one_fetch(rig.step())
    assert rig.consumer.high_water_marks() == {"t": {0: -1, 1: -1}}
    rig.answer(req, {("t", 0): PartitionReply(high_watermark=12),
                     ("t", 1): PartitionReply(high_watermark=3)})
    assert rig.consumer.high_water_marks() == {"t": {0: 12, 1: 3}}


def test_a_start_that_never_resolves_times_out() -> None:
    rig = Rig(request_timeout=2.0, connect_timeout=1.0)
    rig.cluster.topics["t"] = [-1]
    token = rig.consume("t", 0, 0)
    rig.advance(3.5)
    with pytest.raises(ClientTimeoutError, match="no leader"):
        completed(rig.events(), token)


def test_stale_metadata_after_not_leader_is_retried_after_a_backoff_not_in_a_loop() -> None:
    rig = Rig(retry_backoff=0.2, retry_backoff_max=1.0)
    rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    before = rig.cluster.metadata_requests
    reqs = rig.answer(req, {("t", 0): PartitionReply(error=6)})  # metadata still says node 1
    assert rig.fetches(reqs) == []
    reqs = rig.advance(0.3)
    req = rig.one_fetch(reqs)
    assert rig.parts(req)[("t", 0)].fetch_offset == 0
    assert rig.cluster.metadata_requests - before <= 2


def test_a_leaderless_partition_polls_metadata_with_a_growing_backoff() -> None:
    rig = Rig(retry_backoff=0.1, retry_backoff_max=1.0)
    rig.cluster.topics["t"] = [-1]
    rig.consume("t", 0, 0)
    rig.step()
    before = rig.cluster.metadata_requests
    assert rig.fetches(rig.advance(5.0)) == []
    assert rig.cluster.metadata_requests - before <= 10
    rig.cluster.topics["t"] = [1]
    reqs = rig.advance(1.5)
    assert rig.parts(rig.one_fetch(reqs))[("t", 0)].fetch_offset == 0


def test_a_partition_that_leaves_the_metadata_is_reported_and_waited_for() -> None:
    rig = Rig(retry_backoff=0.1, metadata_max_age=1.0)
    s = rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    req = rig.one_fetch(rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(1)))}))
    del rig.cluster.topics["t"]
    reqs = rig.answer(req, {("t", 0): PartitionReply(error=3)}) + rig.advance(1.5)
    assert rig.fetches(reqs) == []
    errors = [e for e in rig.events() if isinstance(e, FetchError)]
    assert len(errors) == 1 and not errors[0].stopped and errors[0].stream == s
    assert "no longer in the cluster's metadata" in str(errors[0].error)
    rig.cluster.topics["t"] = [1]
    reqs = rig.advance(2.0)
    assert rig.parts(rig.one_fetch(reqs))[("t", 0)].fetch_offset == 1
