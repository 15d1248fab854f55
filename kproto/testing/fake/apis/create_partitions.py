"""CreatePartitions (key 37): grow a topic's partition count.

Theory of operation: per topic, as Kafka's ReplicationControlManager.createPartitions: a
topic named twice is INVALID_REQUEST; an unknown one UNKNOWN_TOPIC_OR_PARTITION; a count
that is not above the current one INVALID_PARTITIONS; assignments whose number is not the
number of new partitions, or that name unknown brokers or one broker twice,
INVALID_REPLICA_ASSIGNMENT. ``validate_only`` checks without creating.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import create_partitions_response as cp
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request


def _check(req: Request, t: Any, seen: dict[str, int]) -> tuple[int, str | None]:
    cluster = req.cluster
    if seen[t.name] > 1:
        return codes.INVALID_REQUEST, "Duplicate topic name."
    topic = cluster.topics.get(t.name)
    if topic is None:
        return codes.UNKNOWN_TOPIC_OR_PARTITION, None
    have = len(topic.partitions)
    if t.count < have:
        return codes.INVALID_PARTITIONS, (
            f"The topic {t.name} currently has {have} partition(s); {t.count} would not be "
            "an increase.")
    if t.count == have:
        return codes.INVALID_PARTITIONS, f"Topic already has {have} partition(s)."
    if t.assignments is not None:
        if len(t.assignments) != t.count - have:
            return codes.INVALID_REPLICA_ASSIGNMENT, (
                f"Attempted to add {t.count - have} additional partition(s), but only "
                f"{len(t.assignments)} assignment(s) were specified.")
        for a in t.assignments:
            ids = list(a.broker_ids)
            if not ids or len(set(ids)) != len(ids) or any(b not in cluster.brokers
                                                           for b in ids):
                return codes.INVALID_REPLICA_ASSIGNMENT, "Invalid replica assignment."
    return codes.NONE, None


def handle(req: Request) -> Any:
    body = req.body
    seen: dict[str, int] = {}
    for t in body.topics:
        seen[t.name] = seen.get(t.name, 0) + 1
    results = []
    for t in body.topics:
        code, message = _check(req, t, seen)
        if not code and not body.validate_only:
            assignments = None if t.assignments is None else [list(a.broker_ids)
                                                              for a in t.assignments]
            req.cluster.add_partitions(t.name, t.count, assignments)
        results.append(cp.CreatePartitionsTopicResult(name=t.name, error_code=code,
                                                      error_message=message))
    return protocol.CreatePartitionsResponse(results=results)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.CreatePartitionsResponse(results=[
        cp.CreatePartitionsTopicResult(name=t.name, error_code=code) for t in body.topics])


API = Api(apis.CREATE_PARTITIONS, 0, 3, handle, error_response)
