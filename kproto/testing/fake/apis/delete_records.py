"""DeleteRecords (key 21): move a partition's log start offset (retention by request).

Theory of operation: per partition, after UNKNOWN_TOPIC_OR_PARTITION and the leader check,
offset -1 means the high watermark; an offset above the high watermark (or below -1) is
OFFSET_OUT_OF_RANGE; otherwise batches wholly below it go and the answer is the new low
watermark.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import delete_records_response as dr
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request


def handle(req: Request) -> Any:
    cluster = req.cluster
    topics = []
    for t in req.body.topics:
        parts = []
        for rp in t.partitions:
            p = cluster.partition(t.name, rp.partition_index)
            code = req.partition_fault(t.name, rp.partition_index) or \
                cluster.leader_check(p, req.node)
            low = -1
            if not code and p is not None:
                offset = p.log.high_watermark if rp.offset == -1 else rp.offset
                code = p.log.delete_records(offset)
                low = p.log.log_start_offset if code == codes.NONE else -1
            parts.append(dr.DeleteRecordsPartitionResult(partition_index=rp.partition_index,
                                                         low_watermark=low, error_code=code))
        topics.append(dr.DeleteRecordsTopicResult(name=t.name, partitions=parts))
    return protocol.DeleteRecordsResponse(topics=topics)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.DeleteRecordsResponse(topics=[
        dr.DeleteRecordsTopicResult(name=t.name, partitions=[
            dr.DeleteRecordsPartitionResult(partition_index=p.partition_index,
                                            low_watermark=-1, error_code=code)
            for p in t.partitions]) for t in body.topics])


API = Api(apis.DELETE_RECORDS, 0, 2, handle, error_response)
