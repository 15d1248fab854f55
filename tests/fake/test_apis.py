"""Per-API tests of the fake cluster: hand-built requests, Kafka's answers and error codes."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from kproto import protocol
from kproto.protocol.messages import add_partitions_to_txn_request as apr
from kproto.protocol.messages import create_topics_request as ctr
from kproto.protocol.messages import fetch_request as fq
from kproto.protocol.messages import join_group_request as jgr
from kproto.protocol.messages import list_offsets_request as lor
from kproto.protocol.messages import metadata_request as mdr
from kproto.protocol.messages import offset_commit_request as ocr
from kproto.protocol.messages import produce_request as prq
from kproto.protocol.messages import sync_group_request as sgr
from kproto.records import BatchBuilder, Compression
from kproto.testing import FakeCluster, GroupSettings
from kproto.testing.fake import codes
from tests.fake.driver import Raw

TS = 1_700_000_000_000


def batch(values: list[bytes], pid: int = -1, epoch: int = -1, seq: int = -1,
          txn: bool = False, compression: Compression = Compression.NONE,
          ts: int = TS) -> bytes:
    b = BatchBuilder(producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                     transactional=txn, compression=compression)
    for i, v in enumerate(values):
        b.append(ts + i, None, v)
    return b.build()


def produce_req(records: bytes, topic: str = "t", partition: int = 0, acks: int = -1,
                txn: str | None = None) -> Any:
    return protocol.ProduceRequest(
        transactional_id=txn, acks=acks, timeout_ms=1000,
        topic_data=[prq.TopicProduceData(name=topic, partition_data=[
            prq.PartitionProduceData(index=partition, records=records)])])


def part(resp: Any) -> Any:
    return resp.responses[0].partition_responses[0]


def leader_raw(cluster: FakeCluster, topic: str = "t", partition: int = 0) -> Raw:
    return Raw(cluster, cluster.topics[topic].partitions[partition].leader)


# -- framing and refusals --------------------------------------------------------------------

def test_frames_split_and_coalesced_are_served_in_order() -> None:
    cluster = FakeCluster(1)
    raw = Raw(cluster)
    frames = b"".join(protocol.encode_request(protocol.ApiVersionsRequest(), 0, i, "x")
                      for i in (1, 2, 3))
    for i in range(0, len(frames), 7):
        raw.conn.receive_data(frames[i:i + 7], 0.0)
    data = raw.conn.data_to_send()
    corrs = []
    pos = 0
    while pos < len(data):
        size, corr = struct.unpack_from(">ii", data, pos)
        corrs.append(corr)
        pos += 4 + size
    assert corrs == [1, 2, 3]


def test_an_oversized_or_negative_frame_closes_without_buffering() -> None:
    cluster = FakeCluster(1, max_request_bytes=1000)
    raw = Raw(cluster)
    raw.conn.receive_data(struct.pack(">i", 1001), 0.0)
    assert raw.conn.closed and "outside" in raw.conn.close_reason
    raw2 = Raw(cluster)
    raw2.conn.receive_data(struct.pack(">i", -5), 0.0)
    assert raw2.conn.closed


def test_garbage_unknown_keys_and_unserved_versions_close_the_connection() -> None:
    cluster = FakeCluster(1)
    for frame in (struct.pack(">hhi", 999, 0, 1),                  # unknown API key
                  struct.pack(">hhi", 0, 2, 1) + b"\x00" * 20,      # Produce v2: removed
                  struct.pack(">hhi", 3, 1, 1) + b"\xff\xff",       # Metadata body garbage
                  b"\x00\x12"):                                     # shorter than a header
        raw = Raw(cluster)
        raw.conn.receive_data(struct.pack(">i", len(frame)) + frame, 0.0)
        assert raw.conn.closed, frame
        assert raw.conn.data_to_send() == b""


def test_api_versions_above_the_served_range_is_answered_at_v0() -> None:
    cluster = FakeCluster(1)
    raw = Raw(cluster)
    frame = struct.pack(">hhi", 18, 9, 42) + b"\x00\x00"
    raw.conn.receive_data(struct.pack(">i", len(frame)) + frame, 0.0)
    data = raw.conn.data_to_send()
    corr, resp = protocol.decode_response(data[4:], 18, 0)
    assert corr == 42 and resp.error_code == codes.UNSUPPORTED_VERSION
    assert [(k.api_key, k.min_version, k.max_version) for k in resp.api_keys] == [(18, 0, 4)]
    assert not raw.conn.closed


def test_api_versions_advertises_exactly_the_served_apis() -> None:
    cluster = FakeCluster(1)
    resp = Raw(cluster).call(protocol.ApiVersionsRequest(client_software_name="kproto",
                                                         client_software_version="1.0"), 3)
    served = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
    assert served[0] == (3, 11) and served[1] == (4, 17) and served[18] == (0, 4)
    assert set(served) == set(cluster.apis)
    bad = Raw(cluster).call(protocol.ApiVersionsRequest(client_software_name="-bad-",
                                                        client_software_version="1"), 3)
    assert bad.error_code == codes.INVALID_REQUEST


# -- Metadata ----------------------------------------------------------------------------------

def test_metadata_auto_creates_unknown_and_refuses_bad_names() -> None:
    cluster = FakeCluster(3, topics={"t": 2})
    raw = Raw(cluster)
    req = protocol.MetadataRequest(topics=[mdr.MetadataRequestTopic(name=n) for n in
                                           ("t", "new", "bad name")],
                                   allow_auto_topic_creation=True)
    resp = raw.call(req, 12)
    errors = {t.name: t.error_code for t in resp.topics}
    assert errors == {"t": 0, "new": codes.UNKNOWN_TOPIC_OR_PARTITION,
                      "bad name": codes.INVALID_TOPIC_EXCEPTION}
    assert "new" in cluster.topics
    req.allow_auto_topic_creation = False
    req.topics = [mdr.MetadataRequestTopic(name="other")]
    assert raw.call(req, 12).topics[0].error_code == codes.UNKNOWN_TOPIC_OR_PARTITION
    assert {t.name for t in raw.call(protocol.MetadataRequest(topics=[]), 0).topics} == \
        {"t", "new"}
    assert raw.call(protocol.MetadataRequest(topics=[]), 1).topics == []
    cluster.stop_broker(2, 0.0)
    resp = raw.call(protocol.MetadataRequest(topics=None), 12)
    assert sorted(b.node_id for b in resp.brokers) == [1, 3]
    for t in resp.topics:
        for p in t.partitions:
            assert p.leader_id != 2 and 2 not in p.isr_nodes


# -- Produce -----------------------------------------------------------------------------------

def test_produce_refusals_match_kafka() -> None:
    cluster = FakeCluster(3, topics={"t": 1}, auto_create_topics=False)
    raw = leader_raw(cluster)
    ok = batch([b"a"])
    assert part(raw.call(produce_req(ok, topic="nope"), 9)).error_code == \
        codes.UNKNOWN_TOPIC_OR_PARTITION
    corrupt = bytearray(ok)
    corrupt[-1] ^= 0xFF
    assert part(raw.call(produce_req(bytes(corrupt)), 9)).error_code == codes.CORRUPT_MESSAGE
    assert part(raw.call(produce_req(ok + ok), 9)).error_code == codes.INVALID_RECORD
    assert part(raw.call(produce_req(b""), 9)).error_code == codes.INVALID_RECORD
    assert part(raw.call(produce_req(ok, acks=2), 9)).error_code == \
        codes.INVALID_REQUIRED_ACKS
    zstd = batch([b"z"], compression=Compression.ZSTD)
    assert part(raw.call(produce_req(zstd), 6)).error_code == \
        codes.UNSUPPORTED_COMPRESSION_TYPE
    follower = next(n for n in cluster.brokers
                    if n != cluster.topics["t"].partitions[0].leader)
    assert part(Raw(cluster, follower).call(produce_req(ok), 9)).error_code == \
        codes.NOT_LEADER_OR_FOLLOWER
    from kproto.records import set_base_offset
    assert part(raw.call(produce_req(set_base_offset(ok, 5)), 9)).error_code == \
        codes.INVALID_RECORD
    cluster.topics["t"].configs["max.message.bytes"] = "100"
    assert part(raw.call(produce_req(batch([b"x" * 200])), 9)).error_code == \
        codes.MESSAGE_TOO_LARGE
    assert cluster.topics["t"].partitions[0].log.log_end_offset == 0


def test_produce_sequence_rules_follow_kafka() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)

    def send(values: int, seq: int, epoch: int = 0, pid: int = 7) -> tuple[int, int]:
        p = part(raw.call(produce_req(batch([b"v"] * values, pid, epoch, seq)), 9))
        return p.error_code, p.base_offset

    assert send(2, 5) == (0, 0)                 # unknown producer: any first sequence
    assert send(1, 7) == (0, 2)
    assert send(2, 5) == (0, 0)                 # duplicate of a retained batch: its offset
    assert send(1, 9)[0] == codes.OUT_OF_ORDER_SEQUENCE_NUMBER   # a gap
    assert send(1, 3, epoch=1)[0] == codes.OUT_OF_ORDER_SEQUENCE_NUMBER  # new epoch not at 0
    assert send(1, 0, epoch=1) == (0, 3)
    assert send(1, 1, epoch=0)[0] == codes.INVALID_PRODUCER_EPOCH
    for i in range(1, 7):                       # six more: the first of them falls out of 5
        assert send(1, i, epoch=1)[0] == 0
    assert send(1, 1, epoch=1)[0] == codes.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert send(1, 2, epoch=1) == (0, 5)        # still among the last five: a duplicate
    assert cluster.topics["t"].partitions[0].log.log_end_offset == 10


def test_acks_all_waits_for_replication_and_times_out() -> None:
    cluster = FakeCluster(3, topics={"t": 1})
    cluster.hold_replication("t", 0)
    raw = leader_raw(cluster)
    raw.send(produce_req(batch([b"a"])), 9, now=0.0)
    assert raw.responses() == []
    assert cluster.next_deadline() == pytest.approx(1.0)
    cluster.handle_timer(1.0)
    [resp] = raw.responses()
    assert part(resp).error_code == codes.REQUEST_TIMED_OUT
    raw.send(produce_req(batch([b"b"])), 9, now=2.0)
    cluster.release_replication("t", 0, 2.5)
    assert part(raw.responses()[0]).error_code == 0


def test_acks_zero_failing_closes_the_connection() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    raw.send(produce_req(batch([b"a"]), acks=0), 9)
    assert raw.responses() == [] and not raw.conn.closed
    raw.send(produce_req(batch([b"a"]), topic="missing-but-valid", acks=0), 9)
    assert raw.conn.closed


# -- Fetch -------------------------------------------------------------------------------------

def fetch_req(offset: int = 0, session_id: int = 0, epoch: int = -1, min_bytes: int = 1,
              wait_ms: int = 0, topics: list[tuple[str, int]] | None = None,
              isolation: int = 0, leader_epoch: int = -1) -> Any:
    by_topic: dict[str, list[int]] = {}
    for t, p in topics if topics is not None else [("t", 0)]:
        by_topic.setdefault(t, []).append(p)
    return protocol.FetchRequest(
        max_wait_ms=wait_ms, min_bytes=min_bytes, max_bytes=1 << 20,
        isolation_level=isolation, session_id=session_id, session_epoch=epoch,
        topics=[fq.FetchTopic(topic=t, partitions=[
            fq.FetchPartition(partition=p, fetch_offset=offset, current_leader_epoch=leader_epoch,
                              partition_max_bytes=1 << 20) for p in ps])
            for t, ps in by_topic.items()])


def test_fetch_waits_for_min_bytes_until_a_produce_or_max_wait() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    consumer = Raw(cluster)
    producer = Raw(cluster)
    consumer.send(fetch_req(wait_ms=500), 11, now=0.0)
    assert consumer.responses() == []
    assert cluster.next_deadline() == pytest.approx(0.5)
    producer.call(produce_req(batch([b"hello"])), 9, now=0.1)
    [resp] = consumer.responses()
    assert resp.responses[0].partitions[0].high_watermark == 1
    assert resp.responses[0].partitions[0].records
    consumer.send(fetch_req(offset=1, wait_ms=500), 11, now=1.0)
    cluster.handle_timer(1.2)
    assert consumer.responses() == []
    cluster.handle_timer(1.5)
    [resp] = consumer.responses()
    assert resp.responses[0].partitions[0].records == b""


def test_fetch_sessions_follow_kip_227() -> None:
    cluster = FakeCluster(1, topics={"t": 2})
    raw = Raw(cluster)
    raw.call(produce_req(batch([b"a"]), partition=0), 9)
    full = raw.call(fetch_req(epoch=0, topics=[("t", 0), ("t", 1)]), 12)
    sid = full.session_id
    assert sid > 0 and len(full.responses[0].partitions) == 2
    # Nothing changed: an incremental response lists no partition.
    inc = raw.call(fetch_req(offset=1, session_id=sid, epoch=1, topics=[("t", 0)]), 12)
    assert inc.session_id == sid and inc.responses == []
    raw.call(produce_req(batch([b"b"]), partition=1), 9)
    inc = raw.call(fetch_req(offset=1, session_id=sid, epoch=2, topics=[]), 12)
    assert [p.partition_index for p in inc.responses[0].partitions] == [1]
    assert raw.call(fetch_req(session_id=sid, epoch=7), 12).error_code == \
        codes.INVALID_FETCH_SESSION_EPOCH
    assert raw.call(fetch_req(session_id=12345, epoch=1), 12).error_code == \
        codes.FETCH_SESSION_ID_NOT_FOUND
    sessionless = raw.call(fetch_req(session_id=sid, epoch=-1), 12)
    assert sessionless.session_id == 0 and sid not in cluster.fetch_sessions.sessions
    # An incremental fetch that forgets every partition closes its session.
    sid = raw.call(fetch_req(epoch=0), 12).session_id
    forget = fetch_req(session_id=sid, epoch=1, topics=[])
    forget.forgotten_topics_data = [fq.ForgottenTopic(topic="t", partitions=[0])]
    closed = raw.call(forget, 12)
    assert closed.session_id == 0 and sid not in cluster.fetch_sessions.sessions


def test_fetch_partition_errors() -> None:
    cluster = FakeCluster(2, topics={"t": 1})
    leader = cluster.topics["t"].partitions[0].leader
    raw = Raw(cluster, leader)
    raw.call(produce_req(batch([b"a"])), 9)
    assert raw.call(fetch_req(offset=5), 11).responses[0].partitions[0].error_code == \
        codes.OFFSET_OUT_OF_RANGE
    assert raw.call(fetch_req(topics=[("zz", 0)]), 11).responses[0].partitions[0] \
        .error_code == codes.UNKNOWN_TOPIC_OR_PARTITION
    cluster.move_leader("t", 0, 3 - leader, 0.0)
    assert raw.call(fetch_req(), 11).responses[0].partitions[0].error_code == \
        codes.NOT_LEADER_OR_FOLLOWER
    other = Raw(cluster, 3 - leader)
    assert other.call(fetch_req(leader_epoch=0), 11).responses[0].partitions[0] \
        .error_code == codes.FENCED_LEADER_EPOCH
    assert other.call(fetch_req(leader_epoch=5), 11).responses[0].partitions[0] \
        .error_code == codes.UNKNOWN_LEADER_EPOCH


# -- ListOffsets, FindCoordinator --------------------------------------------------------------

def test_list_offsets_earliest_latest_and_by_timestamp() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    raw.call(produce_req(batch([b"a", b"b", b"c"], ts=TS)), 9)

    def lookup(ts: int) -> tuple[int, int]:
        req = protocol.ListOffsetsRequest(replica_id=-1, topics=[lor.ListOffsetsTopic(
            name="t", partitions=[lor.ListOffsetsPartition(partition_index=0, timestamp=ts)])])
        p = raw.call(req, 8).topics[0].partitions[0]
        assert p.error_code == 0
        return p.offset, p.timestamp

    assert lookup(-2)[0] == 0 and lookup(-1)[0] == 3
    assert lookup(TS + 1) == (1, TS + 1)
    assert lookup(TS + 99) == (-1, -1)
    assert lookup(-3) == (2, TS + 2)


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_list_offsets_answers_old_versions_without_a_leader_epoch(version: int) -> None:
    """librdkafka (kcat) asks at v2; the leader epoch only exists from v4."""
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    raw.call(produce_req(batch([b"a", b"b"], ts=TS)), 9)
    req = protocol.ListOffsetsRequest(replica_id=-1, topics=[lor.ListOffsetsTopic(
        name="t", partitions=[lor.ListOffsetsPartition(partition_index=0, timestamp=-1)])])
    p = raw.call(req, version).topics[0].partitions[0]
    assert (p.error_code, p.offset) == (0, 2)
    assert p.leader_epoch == (0 if version >= 4 else -1)


def test_find_coordinator_batches_and_invalid_keys() -> None:
    cluster = FakeCluster(3)
    raw = Raw(cluster)
    resp = raw.call(protocol.FindCoordinatorRequest(key_type=0, coordinator_keys=["g", "h"]), 6)
    for c in resp.coordinators:
        assert c.error_code == 0 and c.node_id == cluster.coordinator_for(0, c.key)
    share = raw.call(protocol.FindCoordinatorRequest(key_type=2, coordinator_keys=["s"]), 6)
    assert share.coordinators[0].error_code == codes.INVALID_REQUEST
    for n in list(cluster.brokers):
        cluster.stop_broker(n, 0.0)
    assert cluster.coordinator_for(0, "g") is None


# -- groups ------------------------------------------------------------------------------------

def join_req(member: str = "", session_ms: int = 10_000, instance: str | None = None) -> Any:
    return protocol.JoinGroupRequest(
        group_id="g", session_timeout_ms=session_ms, rebalance_timeout_ms=10_000,
        member_id=member, group_instance_id=instance, protocol_type="consumer",
        protocols=[jgr.JoinGroupRequestProtocol(name="range", metadata=b"m")])


def group_raw(cluster: FakeCluster) -> Raw:
    node = cluster.coordinator_for(0, "g")
    assert node is not None
    return Raw(cluster, node)


def test_join_sync_heartbeat_and_their_errors() -> None:
    cluster = FakeCluster(1)
    raw = group_raw(cluster)
    assert raw.call(join_req(session_ms=10), 9).error_code == codes.INVALID_SESSION_TIMEOUT
    first = raw.call(join_req(), 9)
    assert first.error_code == codes.MEMBER_ID_REQUIRED and first.member_id
    joined = raw.call(join_req(first.member_id), 9)
    assert joined.error_code == 0 and joined.generation_id == 1
    assert joined.leader == first.member_id and len(joined.members) == 1
    hb = protocol.HeartbeatRequest(group_id="g", generation_id=1, member_id=first.member_id)
    hb.generation_id = 0
    assert raw.call(hb, 4).error_code == codes.ILLEGAL_GENERATION
    hb.generation_id = 1
    hb.member_id = "nobody"
    assert raw.call(hb, 4).error_code == codes.UNKNOWN_MEMBER_ID
    sync = protocol.SyncGroupRequest(group_id="g", generation_id=1, member_id=first.member_id,
                                     protocol_type="consumer", protocol_name="range",
                                     assignments=[sgr.SyncGroupRequestAssignment(
                                         member_id=first.member_id, assignment=b"A")])
    resp = raw.call(sync, 5)
    assert resp.error_code == 0 and resp.assignment == b"A"
    hb.member_id = first.member_id
    assert raw.call(hb, 4).error_code == 0
    # The member stops heartbeating: the session timeout removes it.
    cluster.handle_timer(11.0)
    assert raw.call(hb, 4, now=11.0).error_code == codes.UNKNOWN_MEMBER_ID
    other = Raw(cluster, 1)
    assert other.call(join_req("ghost"), 9).error_code == codes.UNKNOWN_MEMBER_ID


def test_a_static_member_rejoins_without_a_rebalance() -> None:
    cluster = FakeCluster(1, group_settings=GroupSettings(min_session_timeout=1.0))
    raw = group_raw(cluster)
    joined = raw.call(join_req(instance="i-1"), 9)
    assert joined.error_code == 0
    sync = protocol.SyncGroupRequest(group_id="g", generation_id=1, member_id=joined.member_id,
                                     group_instance_id="i-1", assignments=[
                                         sgr.SyncGroupRequestAssignment(
                                             member_id=joined.member_id, assignment=b"A")])
    assert raw.call(sync, 5).assignment == b"A"
    again = Raw(cluster, raw.conn.node_id).call(join_req(instance="i-1"), 9)
    assert again.error_code == 0 and again.generation_id == 1
    assert again.member_id != joined.member_id and again.skip_assignment
    hb = protocol.HeartbeatRequest(group_id="g", generation_id=1, member_id=joined.member_id,
                                   group_instance_id="i-1")
    assert raw.call(hb, 4).error_code == codes.FENCED_INSTANCE_ID


def test_offset_commit_and_fetch() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = group_raw(cluster)
    commit = protocol.OffsetCommitRequest(
        group_id="g", generation_id_or_member_epoch=-1, member_id="", topics=[
            ocr.OffsetCommitRequestTopic(name="t", partitions=[
                ocr.OffsetCommitRequestPartition(partition_index=0, committed_offset=42)])])
    assert raw.call(commit, 8).topics[0].partitions[0].error_code == 0
    commit.generation_id_or_member_epoch = 3
    commit.member_id = "m"
    commit.group_id = "absent"
    assert raw.call(commit, 9).topics[0].partitions[0].error_code == codes.GROUP_ID_NOT_FOUND
    assert raw.call(commit, 8).topics[0].partitions[0].error_code == codes.ILLEGAL_GENERATION
    fetched = raw.call(protocol.OffsetFetchRequest(group_id="g", topics=None), 7)
    assert fetched.topics[0].partitions[0].committed_offset == 42


# -- transactions ------------------------------------------------------------------------------

def test_transaction_errors_follow_the_coordinator() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    init = protocol.InitProducerIdRequest(transactional_id="x", transaction_timeout_ms=60_000)
    first = raw.call(init, 4)
    assert (first.error_code, first.producer_epoch) == (0, 0)
    second = raw.call(init, 4)
    assert second.producer_id == first.producer_id and second.producer_epoch == 1
    init.transaction_timeout_ms = 10_000_000
    assert raw.call(init, 4).error_code == codes.INVALID_TRANSACTION_TIMEOUT
    end = protocol.EndTxnRequest(transactional_id="x", producer_id=first.producer_id,
                                 producer_epoch=1, committed=True)
    assert raw.call(end, 3).error_code == codes.INVALID_TXN_STATE
    end.producer_epoch = 0
    assert raw.call(end, 3).error_code == codes.PRODUCER_FENCED
    assert raw.call(end, 1).error_code == codes.INVALID_PRODUCER_EPOCH
    # A transactional batch for a partition outside the transaction is refused.
    txn_batch = batch([b"a"], first.producer_id, 1, 0, txn=True)
    assert part(raw.call(produce_req(txn_batch, txn="x"), 9)).error_code == \
        codes.INVALID_TXN_STATE
    add = protocol.AddPartitionsToTxnRequest(
        v3_and_below_transactional_id="x", v3_and_below_producer_id=first.producer_id,
        v3_and_below_producer_epoch=1, v3_and_below_topics=[
            apr.AddPartitionsToTxnTopic(name="t", partitions=[0]),
            apr.AddPartitionsToTxnTopic(name="nope", partitions=[0])])
    resp = raw.call(add, 3)
    errors = {r.name: r.results_by_partition[0].partition_error_code
              for r in resp.results_by_topic_v3_and_below}
    assert errors == {"t": codes.OPERATION_NOT_ATTEMPTED,
                      "nope": codes.UNKNOWN_TOPIC_OR_PARTITION}
    add.v3_and_below_topics = add.v3_and_below_topics[:1]
    assert raw.call(add, 3).results_by_topic_v3_and_below[0].results_by_partition[0] \
        .partition_error_code == 0
    assert part(raw.call(produce_req(txn_batch, txn="x"), 9)).error_code == 0
    log = cluster.topics["t"].partitions[0].log
    assert log.last_stable_offset == 0
    end.producer_epoch = 1
    assert raw.call(end, 3).error_code == 0
    assert log.last_stable_offset == 2 and log.entries[-1].batch.is_control
    assert raw.call(end, 3).error_code == 0          # a retried commit
    end.committed = False
    assert raw.call(end, 3).error_code == codes.INVALID_TXN_STATE


def test_init_producer_id_fences_and_resumes_as_kip_360() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)

    def init(pid: int = -1, epoch: int = -1) -> tuple[int, int, int]:
        r = raw.call(protocol.InitProducerIdRequest(
            transactional_id="k", transaction_timeout_ms=60_000, producer_id=pid,
            producer_epoch=epoch), 4)
        return r.error_code, r.producer_id, r.producer_epoch

    _, pid, _ = init()
    assert init(pid, 0) == (0, pid, 1)          # bump from the current epoch
    assert init(pid, 0) == (0, pid, 1)          # a retry of that bump: same answer
    assert init(pid + 1, 1)[0] == codes.PRODUCER_FENCED
    assert init() == (0, pid, 2)                # a new instance fences the old one
    assert init(pid, 1)[0] == codes.PRODUCER_FENCED
    add = protocol.AddPartitionsToTxnRequest(
        v3_and_below_transactional_id="k", v3_and_below_producer_id=pid,
        v3_and_below_producer_epoch=2, v3_and_below_topics=[
            apr.AddPartitionsToTxnTopic(name="t", partitions=[0])])
    raw.call(add, 3)
    raw.call(produce_req(batch([b"a"], pid, 2, 0, txn=True), txn="k"), 9)
    # An open transaction: fenced (epoch 3), aborted, and the caller told to retry.
    assert init()[0] == codes.CONCURRENT_TRANSACTIONS
    log = cluster.topics["t"].partitions[0].log
    assert len(log.aborted) == 1 and log.entries[-1].batch.producer_epoch == 3
    assert init() == (0, pid, 4)


def test_a_transaction_past_its_timeout_is_aborted_and_the_producer_fenced() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    init = raw.call(protocol.InitProducerIdRequest(transactional_id="y",
                                                   transaction_timeout_ms=1000), 4)
    add = protocol.AddPartitionsToTxnRequest(
        v3_and_below_transactional_id="y", v3_and_below_producer_id=init.producer_id,
        v3_and_below_producer_epoch=0, v3_and_below_topics=[
            apr.AddPartitionsToTxnTopic(name="t", partitions=[0])])
    raw.call(add, 3)
    raw.call(produce_req(batch([b"a"], init.producer_id, 0, 0, txn=True), txn="y"), 9)
    cluster.handle_timer(2.0)
    log = cluster.topics["t"].partitions[0].log
    assert len(log.aborted) == 1
    end = protocol.EndTxnRequest(transactional_id="y", producer_id=init.producer_id,
                                 producer_epoch=0, committed=True)
    assert raw.call(end, 3, now=2.0).error_code == codes.PRODUCER_FENCED


# -- topics ------------------------------------------------------------------------------------

def test_create_and_delete_topics_errors() -> None:
    cluster = FakeCluster(3, topics={"t": 1})
    raw = Raw(cluster)

    def create(name: str, partitions: int = 1, rf: int = 1, **kw: Any) -> int:
        req = protocol.CreateTopicsRequest(timeout_ms=1000, topics=[ctr.CreatableTopic(
            name=name, num_partitions=partitions, replication_factor=rf, **kw)])
        return int(raw.call(req, 7).topics[0].error_code)

    assert create("t") == codes.TOPIC_ALREADY_EXISTS
    assert create("a/b") == codes.INVALID_TOPIC_EXCEPTION
    assert create("x", partitions=0) == codes.INVALID_PARTITIONS
    assert create("x", rf=4) == codes.INVALID_REPLICATION_FACTOR
    assert create("x", configs=[ctr.CreatableTopicConfig(name="bogus", value="1")]) == \
        codes.INVALID_CONFIG
    assert create("x", partitions=3, rf=2) == 0
    assert len(cluster.topics["x"].partitions) == 3
    resp = raw.call(protocol.DeleteTopicsRequest(topic_names=["x", "absent"],
                                                 timeout_ms=1000), 5)
    assert [r.error_code for r in resp.responses] == [0, codes.UNKNOWN_TOPIC_OR_PARTITION]
    assert "x" not in cluster.topics


# -- fault hooks at the API level ---------------------------------------------------------------

def test_fault_hooks_error_delay_drop() -> None:
    from kproto.protocol import apis
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    cluster.faults.fail(apis.PRODUCE, codes.NOT_ENOUGH_REPLICAS)
    assert part(raw.call(produce_req(batch([b"a"])), 9)).error_code == \
        codes.NOT_ENOUGH_REPLICAS
    assert cluster.topics["t"].partitions[0].log.log_end_offset == 0
    cluster.faults.delay(2.0, apis.API_VERSIONS)
    raw.send(protocol.ApiVersionsRequest(), 0, now=0.0)
    assert raw.responses() == []
    cluster.handle_timer(2.0)
    assert len(raw.responses()) == 1
    cluster.faults.drop(apis.METADATA)
    raw.send(protocol.MetadataRequest(topics=None), 12)
    assert raw.conn.closed


def test_rebalance_timeout_removes_members_that_do_not_rejoin_or_sync() -> None:
    cluster = FakeCluster(1)
    raw_a, raw_b = group_raw(cluster), group_raw(cluster)
    a = raw_a.call(join_req(), 4).member_id
    assert raw_a.call(join_req(a), 4).generation_id == 1
    sync = protocol.SyncGroupRequest(group_id="g", generation_id=1, member_id=a,
                                     assignments=[])
    assert raw_a.call(sync, 3).error_code == 0
    b = raw_b.call(join_req(), 4, now=1.0).member_id
    raw_b.send(join_req(b), 4, now=1.0)          # waits: A has not rejoined
    assert raw_b.responses() == []
    hb = protocol.HeartbeatRequest(group_id="g", generation_id=1, member_id=a)
    assert raw_a.call(hb, 3, now=2.0).error_code == codes.REBALANCE_IN_PROGRESS
    # A keeps heartbeating but never rejoins: the rebalance timeout (10 s) removes it.
    cluster.handle_timer(11.5)
    [joined] = raw_b.responses()
    assert joined.generation_id == 2 and joined.leader == b
    assert [m.member_id for m in joined.members] == [b]
    assert raw_a.call(hb, 3, now=11.5).error_code == codes.UNKNOWN_MEMBER_ID
    # B never sends SyncGroup: after the rebalance timeout it is removed too.
    cluster.handle_timer(22.0)
    group = cluster.groups.groups["g"]
    assert group.members == {} and group.state == "Empty" and group.generation == 3
