"""A waiting Fetch is re-read only when something it reads may have changed (fetch.py, the
cluster's quiet connections): these check that skipping the other re-reads hides nothing."""

from __future__ import annotations

from kproto import protocol
from kproto.protocol.messages import offset_commit_request as ocr
from kproto.testing import FakeCluster
from kproto.testing.fake import codes
from tests.fake.driver import Raw
from tests.fake.test_apis import batch, fetch_req, produce_req


def test_a_produce_to_another_partition_leaves_it_waiting_and_one_to_its_own_answers() -> None:
    cluster = FakeCluster(1, topics={"t": 2})
    consumer, producer = Raw(cluster), Raw(cluster)
    consumer.send(fetch_req(wait_ms=500), 11, now=0.0)
    assert consumer.responses() == []
    assert producer.call(produce_req(batch([b"x"]), partition=1), 9, now=0.1) is not None
    assert consumer.responses() == []  # still waiting: t-1 is not what it reads
    producer.call(produce_req(batch([b"y"]), partition=0), 9, now=0.2)
    [resp] = consumer.responses()
    [part] = resp.responses[0].partitions
    assert part.high_watermark == 1 and part.records


def test_group_requests_do_not_end_the_wait_and_its_expiry_answers_what_is_there() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    consumer, other = Raw(cluster), Raw(cluster)
    # min_bytes far above one small batch: a write changes what it reads without ending it.
    consumer.send(fetch_req(wait_ms=500, min_bytes=1 << 20), 11, now=0.0)
    other.call(produce_req(batch([b"a"])), 9, now=0.1)
    commit = protocol.OffsetCommitRequest(
        group_id="g", generation_id_or_member_epoch=-1, member_id="",
        topics=[ocr.OffsetCommitRequestTopic(name="t", partitions=[
            ocr.OffsetCommitRequestPartition(partition_index=0, committed_offset=1)])])
    [committed] = other.call(commit, 8, now=0.2).topics
    assert committed.partitions[0].error_code == codes.NONE
    cluster.handle_timer(0.3)
    assert consumer.responses() == []
    cluster.handle_timer(0.5)
    [resp] = consumer.responses()
    [part] = resp.responses[0].partitions
    # The expiry answer holds the write made while it waited (its last read).
    assert part.high_watermark == 1 and part.records


def test_a_leader_move_answers_a_quiet_fetch_at_once() -> None:
    cluster = FakeCluster(2, topics={"t": 1})
    p = cluster.topics["t"].partitions[0]
    consumer = Raw(cluster, p.leader)
    consumer.send(fetch_req(wait_ms=500), 11, now=0.0)
    cluster.handle_timer(0.1)  # polled, nothing new: quiet
    assert consumer.responses() == []
    other = next(n for n in cluster.brokers if n != p.leader)
    cluster.move_leader("t", 0, other, now=0.2)
    [resp] = consumer.responses()
    assert resp.responses[0].partitions[0].error_code == codes.NOT_LEADER_OR_FOLLOWER
