"""OffsetForLeaderEpoch (key 23): where a leader epoch ended, to detect truncation.

Theory of operation: per partition, after UNKNOWN_TOPIC_OR_PARTITION, the leader check and
the current leader epoch check (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH), the answer is
``PartitionLog.epoch_end_offset`` (Kafka's LeaderEpochFileCache.endOffsetFor).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import offset_for_leader_epoch_response as ofl
from kproto.testing.fake.apis._base import Api, Request


def handle(req: Request) -> Any:
    cluster = req.cluster
    topics = []
    for t in req.body.topics:
        parts = []
        for lp in t.partitions:
            p = cluster.partition(t.topic, lp.partition)
            code = req.partition_fault(t.topic, lp.partition) or \
                cluster.leader_check(p, req.node)
            if not code and p is not None:
                code = cluster.epoch_check(p, lp.current_leader_epoch)
            if code or p is None:
                parts.append(ofl.EpochEndOffset(error_code=code, partition=lp.partition,
                                                leader_epoch=-1, end_offset=-1))
                continue
            epoch, end = p.log.epoch_end_offset(lp.leader_epoch)
            parts.append(ofl.EpochEndOffset(error_code=0, partition=lp.partition,
                                            leader_epoch=epoch, end_offset=end))
        topics.append(ofl.OffsetForLeaderTopicResult(topic=t.topic, partitions=parts))
    return protocol.OffsetForLeaderEpochResponse(topics=topics)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.OffsetForLeaderEpochResponse(topics=[
        ofl.OffsetForLeaderTopicResult(topic=t.topic, partitions=[
            ofl.EpochEndOffset(error_code=code, partition=p.partition, leader_epoch=-1,
                               end_offset=-1) for p in t.partitions]) for t in body.topics])


API = Api(apis.OFFSET_FOR_LEADER_EPOCH, 2, 4, handle, error_response)
