"""CreateTopics (key 19): new topics, checked as Kafka's controller checks them.

Theory of operation: per topic, in ReplicationControlManager's order: a name given twice in
one request is INVALID_REQUEST; a bad name INVALID_TOPIC_EXCEPTION; an existing topic
TOPIC_ALREADY_EXISTS; both a partition count or replication factor and manual assignments
INVALID_REQUEST; a partition count below 1 (other than -1, the default) INVALID_PARTITIONS;
a replication factor below 1 (other than -1) or above the broker count
INVALID_REPLICATION_FACTOR; an assignment naming an unknown broker, the same broker twice or
not numbered 0..n-1 INVALID_REPLICA_ASSIGNMENT; a config Kafka's topics do not have
INVALID_CONFIG. ``validate_only`` checks without creating. Version 5+ answers the topic id,
partition count, replication factor and configs.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import create_topics_response as ct
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.state import TOPIC_DEFAULTS, topic_name_error


def _check(req: Request, t: Any, seen: dict[str, int]) -> tuple[int, str | None]:
    cluster = req.cluster
    if seen[t.name] > 1:
        return codes.INVALID_REQUEST, "Duplicate topic name."
    code = topic_name_error(t.name)
    if code:
        return code, f"Topic name {t.name!r} is illegal."
    if t.name in cluster.topics:
        return codes.TOPIC_ALREADY_EXISTS, f"Topic '{t.name}' already exists."
    if t.assignments:
        if t.num_partitions != -1 or t.replication_factor != -1:
            return codes.INVALID_REQUEST, (
                "A manual partition assignment was specified, but numPartitions or "
                "replicationFactor was not set to -1.")
        indexes = sorted(a.partition_index for a in t.assignments)
        if indexes != list(range(len(indexes))):
            return codes.INVALID_REPLICA_ASSIGNMENT, "Partitions must be numbered 0..n-1."
        for a in t.assignments:
            if not a.broker_ids or len(set(a.broker_ids)) != len(a.broker_ids):
                return codes.INVALID_REPLICA_ASSIGNMENT, "Invalid replica list."
            if any(b not in cluster.brokers for b in a.broker_ids):
                return codes.INVALID_REPLICA_ASSIGNMENT, "Unknown broker in the assignment."
    else:
        if t.num_partitions < 1 and t.num_partitions != -1:
            return codes.INVALID_PARTITIONS, "Number of partitions was set to an invalid " \
                "non-positive value."
        if t.replication_factor < 1 and t.replication_factor != -1:
            return codes.INVALID_REPLICATION_FACTOR, "Replication factor must be larger " \
                "than 0, or -1 to use the default value."
        if t.replication_factor > len(cluster.brokers):
            return codes.INVALID_REPLICATION_FACTOR, (
                f"Unable to replicate the partition {t.replication_factor} time(s): The "
                f"target replication factor of {t.replication_factor} cannot be reached "
                f"because only {len(cluster.brokers)} broker(s) are registered.")
    for c in t.configs:
        if c.name not in TOPIC_DEFAULTS:
            return codes.INVALID_CONFIG, f"Unknown topic config name: {c.name}"
    return codes.NONE, None


def handle(req: Request) -> Any:
    cluster = req.cluster
    body = req.body
    seen: dict[str, int] = {}
    for t in body.topics:
        seen[t.name] = seen.get(t.name, 0) + 1
    results = []
    for t in body.topics:
        code, message = _check(req, t, seen)
        result = ct.CreatableTopicResult(name=t.name, error_code=code, error_message=message,
                                         num_partitions=-1, replication_factor=-1,
                                         configs=None)
        results.append(result)
        if code or (req.version >= 1 and body.validate_only):
            continue
        configs = {c.name: c.value for c in t.configs if c.value is not None}
        if t.assignments:
            ordered = sorted(t.assignments, key=lambda a: a.partition_index)
            topic = cluster.create_topic(t.name, configs=configs,
                                         assignments=[a.broker_ids for a in ordered])
        else:
            count = cluster.default_partitions if t.num_partitions == -1 else t.num_partitions
            rf = None if t.replication_factor == -1 else t.replication_factor
            topic = cluster.create_topic(t.name, count, rf, configs)
        result.topic_id = topic.topic_id
        result.num_partitions = len(topic.partitions)
        result.replication_factor = len(topic.partitions[0].replicas) if topic.partitions \
            else -1
        result.configs = [ct.CreatableTopicConfigs(name=n, value=topic.config(n),
                                                   read_only=False,
                                                   config_source=1 if n in configs else 5,
                                                   is_sensitive=False)
                          for n in sorted(TOPIC_DEFAULTS)]
    return protocol.CreateTopicsResponse(topics=results)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.CreateTopicsResponse(topics=[
        ct.CreatableTopicResult(name=t.name, error_code=code, num_partitions=-1,
                                replication_factor=-1, configs=None) for t in body.topics])


API = Api(apis.CREATE_TOPICS, 2, 7, handle, error_response)
