"""OffsetCommit (key 8): store a group's committed offsets.

Theory of operation: coordinator check; an empty group id is INVALID_GROUP_ID; then
``GroupCoordinator.validate_commit`` (Kafka's validateOffsetCommit: a simple commit with
generation -1 to an empty or missing group, else a known member of the current generation,
REBALANCE_IN_PROGRESS while the group completes a rebalance, GROUP_ID_NOT_FOUND from
version 9 for a missing group) gives one error for every partition. Per partition: metadata
above 4096 bytes is OFFSET_METADATA_TOO_LARGE (offset.metadata.max.bytes); an unknown topic
or partition UNKNOWN_TOPIC_OR_PARTITION.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import offset_commit_response as oc
from kproto.testing.fake import codes
from kproto.testing.fake.apis import _coord
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.groups import Committed

MAX_METADATA = 4096


def handle(req: Request) -> Any:
    body = req.body
    v = req.version
    if not body.group_id:
        return error_response(body, v, codes.INVALID_GROUP_ID)
    code = _coord.check(req, _coord.GROUP, body.group_id)
    if code:
        return error_response(body, v, code)
    generation = body.generation_id_or_member_epoch if v >= 1 else -1
    member = body.member_id if v >= 1 else ""
    instance = body.group_instance_id if v >= 7 else None
    groups = req.cluster.groups
    code = groups.validate_commit(body.group_id, member, instance, generation, False, v)
    if code:
        return error_response(body, v, code)
    group = groups.group_for_offsets(body.group_id)
    topics = []
    for t in body.topics:
        parts = []
        for p in t.partitions:
            pcode = req.partition_fault(t.name, p.partition_index)
            if not pcode and req.cluster.partition(t.name, p.partition_index) is None:
                pcode = codes.UNKNOWN_TOPIC_OR_PARTITION
            meta = p.committed_metadata
            if not pcode and meta is not None and len(meta.encode()) > MAX_METADATA:
                pcode = codes.OFFSET_METADATA_TOO_LARGE
            if not pcode:
                req.cluster.groups.offset_writes += 1
                group.offsets[(t.name, p.partition_index)] = Committed(
                    p.committed_offset, p.committed_leader_epoch if v >= 6 else -1, meta,
                    req.cluster.wall_ms(req.now))
            parts.append(oc.OffsetCommitResponsePartition(partition_index=p.partition_index,
                                                          error_code=pcode))
        topics.append(oc.OffsetCommitResponseTopic(name=t.name, partitions=parts))
    return protocol.OffsetCommitResponse(topics=topics)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.OffsetCommitResponse(topics=[
        oc.OffsetCommitResponseTopic(name=t.name, partitions=[
            oc.OffsetCommitResponsePartition(partition_index=p.partition_index,
                                             error_code=code) for p in t.partitions])
        for t in body.topics])


API = Api(apis.OFFSET_COMMIT, 2, 9, handle, error_response)
