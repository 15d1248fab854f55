"""Metadata (key 3): brokers, controller, topics, partitions, leaders and epochs.

Theory of operation: lists the live brokers (a stopped broker is left out, as KRaft fences
it) and the asked topics (all of them for a null list, or at version 0 an empty one; an
empty list asks for none from version 1). A
partition whose leader is gone has leader -1 and LEADER_NOT_AVAILABLE; replicas on stopped
brokers are listed as offline. An unknown topic is UNKNOWN_TOPIC_OR_PARTITION, or, when the
request allows it (always before version 4) and the cluster auto-creates topics, it is
created with the default partition count and answered UNKNOWN_TOPIC_OR_PARTITION this once,
as KRaft's AutoTopicCreationManager does while its CreateTopics is in flight; a bad name is
INVALID_TOPIC_EXCEPTION. From version 10 a
topic may be asked by id (UNKNOWN_TOPIC_ID when unknown).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import metadata_response as md
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.state import Topic, topic_name_error

if TYPE_CHECKING:
    from kproto.testing.fake.cluster import FakeCluster

_ZERO = uuid.UUID(int=0)


def _topic(cluster: FakeCluster, t: Topic) -> Any:
    parts = []
    for p in t.partitions:
        offline = [r for r in p.replicas if not cluster.brokers[r].up]
        parts.append(md.MetadataResponsePartition(
            error_code=codes.LEADER_NOT_AVAILABLE if p.leader < 0 else codes.NONE,
            partition_index=p.index, leader_id=p.leader, leader_epoch=p.leader_epoch,
            replica_nodes=list(p.replicas), isr_nodes=list(p.isr), offline_replicas=offline))
    return md.MetadataResponseTopic(error_code=codes.NONE, name=t.name, topic_id=t.topic_id,
                                    is_internal=False, partitions=parts)


def handle(req: Request) -> Any:
    cluster = req.cluster
    body = req.body
    topics = []
    if body.topics is None or (req.version == 0 and not body.topics):
        # Version 0 has no null list: an empty one asks for every topic.
        topics = [_topic(cluster, t) for t in cluster.topics.values()]
    else:
        allow = body.allow_auto_topic_creation if req.version >= 4 else True
        for asked in body.topics:
            name = asked.name
            if name is None:
                topic_id = asked.topic_id
                found = cluster.topic_by_id(topic_id) if topic_id != _ZERO else None
                if found is None:
                    topics.append(md.MetadataResponseTopic(
                        error_code=codes.UNKNOWN_TOPIC_ID, name=None, topic_id=topic_id,
                        partitions=[]))
                else:
                    topics.append(_topic(cluster, found))
                continue
            t = cluster.topics.get(name)
            if t is not None:
                topics.append(_topic(cluster, t))
                continue
            code = topic_name_error(name)
            if code == codes.NONE:
                if allow and cluster.auto_create_topics:
                    cluster.create_topic(name, cluster.default_partitions)
                code = codes.UNKNOWN_TOPIC_OR_PARTITION
            topics.append(md.MetadataResponseTopic(error_code=code, name=name,
                                                   topic_id=_ZERO, partitions=[]))
    live = [b for b in cluster.brokers.values() if b.up]
    return protocol.MetadataResponse(
        brokers=[md.MetadataResponseBroker(node_id=b.node_id, host=host, port=port,
                                           rack=b.rack)
                 for b in live for host, port in [b.address(req.conn.listener)]],
        cluster_id=cluster.cluster_id,
        controller_id=min(b.node_id for b in live) if live else -1,
        topics=topics)


def error_response(body: Any, version: int, code: int) -> Any:
    names = [t.name for t in body.topics or []]
    return protocol.MetadataResponse(
        brokers=[], cluster_id=None, controller_id=-1,
        topics=[md.MetadataResponseTopic(error_code=code, name=n, partitions=[])
                for n in names])


API = Api(apis.METADATA, 0, 12, handle, error_response)
