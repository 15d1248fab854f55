"""DescribeProducers (key 61): the producers a partition's leader has state for.

Theory of operation: per partition, UNKNOWN_TOPIC_OR_PARTITION or NOT_LEADER_OR_FOLLOWER as
for a Produce; otherwise one entry per producer id the log tracks (idempotent and
transactional batches), with its epoch, last sequence and the first offset of its open
transaction (-1: none). The fake keeps no coordinator epoch or batch timestamp: -1.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import describe_producers_response as dp
from kproto.testing.fake.apis._base import Api, Request


def handle(req: Request) -> Any:
    cluster = req.cluster
    topics = []
    for t in req.body.topics:
        parts = []
        for index in t.partition_indexes:
            p = cluster.partition(t.name, index)
            code = req.partition_fault(t.name, index) or cluster.leader_check(p, req.node)
            active = []
            if not code and p is not None:
                for pid, state in sorted(p.log.producers.items()):
                    first = state.txn_first_offset
                    active.append(dp.ProducerState(
                        producer_id=pid, producer_epoch=state.epoch,
                        last_sequence=state.last_seq, last_timestamp=-1, coordinator_epoch=-1,
                        current_txn_start_offset=-1 if first is None else first))
            parts.append(dp.PartitionResponse(partition_index=index, error_code=code,
                                              active_producers=active))
        topics.append(dp.TopicResponse(name=t.name, partitions=parts))
    return protocol.DescribeProducersResponse(topics=topics)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.DescribeProducersResponse(topics=[
        dp.TopicResponse(name=t.name, partitions=[
            dp.PartitionResponse(partition_index=i, error_code=code, active_producers=[])
            for i in t.partition_indexes]) for t in body.topics])


API = Api(apis.DESCRIBE_PRODUCERS, 0, 0, handle, error_response)
