"""TxnOffsetCommit (key 28): offsets that commit with the transaction.

Theory of operation: sent to the group coordinator (NOT_COORDINATOR elsewhere). The
producer must have added the group to its transaction (Kafka's coordinator checks the
producer id and epoch through the transaction: INVALID_PRODUCER_ID_MAPPING,
PRODUCER_FENCED); from version 3 the member and generation are checked as an OffsetCommit's
(ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID). The offsets stay pending per
producer id until EndTxn commits (they become visible) or aborts (they are dropped).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import txn_offset_commit_response as tc
from kproto.testing.fake import codes
from kproto.testing.fake.apis import _coord
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.groups import Committed


def handle(req: Request) -> Any:
    body = req.body
    v = req.version
    code = _coord.check(req, _coord.GROUP, body.group_id)
    if not code:
        code = req.cluster.txns.check(body.transactional_id, body.producer_id,
                                      body.producer_epoch)
        if code == codes.PRODUCER_FENCED:
            code = codes.INVALID_PRODUCER_EPOCH
    if not code and v >= 3:
        code = req.cluster.groups.validate_commit(
            body.group_id, body.member_id, body.group_instance_id, body.generation_id,
            True, v)
    if code:
        return error_response(body, v, code)
    group = req.cluster.groups.group_for_offsets(body.group_id)
    pending = group.pending_txn_offsets.setdefault(body.producer_id, {})
    topics = []
    for t in body.topics:
        parts = []
        for p in t.partitions:
            pcode = req.partition_fault(t.name, p.partition_index)
            if not pcode and req.cluster.partition(t.name, p.partition_index) is None:
                pcode = codes.UNKNOWN_TOPIC_OR_PARTITION
            if not pcode:
                pending[(t.name, p.partition_index)] = Committed(
                    p.committed_offset, p.committed_leader_epoch if v >= 2 else -1,
                    p.committed_metadata, req.cluster.wall_ms(req.now))
            parts.append(tc.TxnOffsetCommitResponsePartition(
                partition_index=p.partition_index, error_code=pcode))
        topics.append(tc.TxnOffsetCommitResponseTopic(name=t.name, partitions=parts))
    return protocol.TxnOffsetCommitResponse(topics=topics)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.TxnOffsetCommitResponse(topics=[
        tc.TxnOffsetCommitResponseTopic(name=t.name, partitions=[
            tc.TxnOffsetCommitResponsePartition(partition_index=p.partition_index,
                                                error_code=code) for p in t.partitions])
        for t in body.topics])


API = Api(apis.TXN_OFFSET_COMMIT, 0, 4, handle, error_response)
