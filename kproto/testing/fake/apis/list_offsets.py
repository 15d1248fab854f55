"""ListOffsets (key 2): the offset for a timestamp, the earliest, the latest, the max.

Theory of operation: per partition, after UNKNOWN_TOPIC_OR_PARTITION, the leader check and
the leader epoch check (as Fetch): -2 (earliest) and -4 (earliest local, version 8+) give
the log start offset; -1 (latest) the high watermark, or the last stable offset for
read_committed; -3 (max timestamp, version 7+) the record with the largest timestamp; -5
(earliest tiered, version 9+) -1 since nothing is tiered; any other timestamp the first
record at or after it below the high watermark (or -1). The answer carries the current
leader epoch.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import list_offsets_response as lo
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request

LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL, EARLIEST_TIERED = -1, -2, -3, -4, -5


def _part(index: int, code: int, offset: int = -1, timestamp: int = -1,
          epoch: int = -1) -> Any:
    return lo.ListOffsetsPartitionResponse(partition_index=index, error_code=code,
                                           timestamp=timestamp, offset=offset,
                                           leader_epoch=epoch)


def handle(req: Request) -> Any:
    cluster = req.cluster
    body = req.body
    committed = req.version >= 2 and body.isolation_level == 1
    topics = []
    for t in body.topics:
        parts = []
        for lp in t.partitions:
            p = cluster.partition(t.name, lp.partition_index)
            code = req.partition_fault(t.name, lp.partition_index) or \
                cluster.leader_check(p, req.node)
            if not code and p is not None and req.version >= 4:
                code = cluster.epoch_check(p, lp.current_leader_epoch)
            if code or p is None:
                parts.append(_part(lp.partition_index, code))
                continue
            log = p.log
            ts = lp.timestamp
            upper = log.last_stable_offset if committed else log.high_watermark
            if ts in (EARLIEST, EARLIEST_LOCAL):
                offset, found_ts = log.log_start_offset, -1
            elif ts == LATEST:
                offset, found_ts = upper, -1
            elif ts == MAX_TIMESTAMP:
                offset, found_ts = log.max_timestamp()
            elif ts == EARLIEST_TIERED:
                offset, found_ts = -1, -1
            else:
                offset, found_ts = log.offset_for_timestamp(ts)
                if offset >= upper:
                    offset, found_ts = -1, -1
            parts.append(_part(lp.partition_index, codes.NONE, offset, found_ts,
                               p.leader_epoch if req.version >= 4 else -1))  # v4 has it
        topics.append(lo.ListOffsetsTopicResponse(name=t.name, partitions=parts))
    return protocol.ListOffsetsResponse(topics=topics)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.ListOffsetsResponse(topics=[
        lo.ListOffsetsTopicResponse(name=t.name, partitions=[
            _part(p.partition_index, code) for p in t.partitions]) for t in body.topics])


API = Api(apis.LIST_OFFSETS, 1, 10, handle, error_response)
