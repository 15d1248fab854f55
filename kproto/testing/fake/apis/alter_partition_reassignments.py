"""AlterPartitionReassignments (key 45): move a partition's replicas.

Theory of operation: Kafka's ReplicationControlManager checks, then the reassignment
completes at once (the fake's followers are always caught up), so ListPartitionReassignments
never shows one in progress. Per partition: an unknown one is UNKNOWN_TOPIC_OR_PARTITION;
null replicas cancels, which with nothing in progress is NO_REASSIGNMENT_IN_PROGRESS; an
empty list, a repeated broker or one the cluster does not have is
INVALID_REPLICA_ASSIGNMENT. The replicas become the target; the ISR its running brokers;
a leader outside the target (or down) gives way to the target's first running broker,
with a new leader epoch.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import alter_partition_reassignments_response as ap
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.state import Partition


def _check(req: Request, p: Partition | None, replicas: list[int] | None) -> tuple[int, str | None]:
    if p is None:
        return codes.UNKNOWN_TOPIC_OR_PARTITION, None
    if replicas is None:
        return codes.NO_REASSIGNMENT_IN_PROGRESS, None
    if not replicas:
        return codes.INVALID_REPLICA_ASSIGNMENT, "The manual partition assignment includes " \
            "an empty replica list."
    if len(set(replicas)) != len(replicas):
        return codes.INVALID_REPLICA_ASSIGNMENT, "The manual partition assignment includes " \
            "duplicate replicas."
    for r in replicas:
        if r not in req.cluster.brokers:
            return codes.INVALID_REPLICA_ASSIGNMENT, "The manual partition assignment " \
                f"includes broker {r}, but no such broker is registered."
    return codes.NONE, None


def _reassign(req: Request, p: Partition, replicas: list[int]) -> None:
    brokers = req.cluster.brokers
    p.replicas = list(replicas)
    p.isr = [r for r in replicas if brokers[r].up]
    if p.leader not in p.isr:
        if p.isr:
            req.cluster.move_leader(p.topic, p.index, p.isr[0], req.now)
        else:
            p.leader = -1


def handle(req: Request) -> Any:
    out = []
    for t in req.body.topics:
        parts = []
        for rp in t.partitions:
            p = req.cluster.partition(t.name, rp.partition_index)
            replicas = None if rp.replicas is None else list(rp.replicas)
            code, message = _check(req, p, replicas)
            if not code and p is not None and replicas is not None:
                _reassign(req, p, replicas)
            parts.append(ap.ReassignablePartitionResponse(partition_index=rp.partition_index,
                                                          error_code=code,
                                                          error_message=message))
        out.append(ap.ReassignableTopicResponse(name=t.name, partitions=parts))
    return protocol.AlterPartitionReassignmentsResponse(error_code=codes.NONE, responses=out)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.AlterPartitionReassignmentsResponse(error_code=code, responses=[
        ap.ReassignableTopicResponse(name=t.name, partitions=[
            ap.ReassignablePartitionResponse(partition_index=p.partition_index,
                                             error_code=code) for p in t.partitions])
        for t in body.topics])


API = Api(apis.ALTER_PARTITION_REASSIGNMENTS, 0, 0, handle, error_response)
