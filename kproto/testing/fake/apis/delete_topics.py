"""DeleteTopics (key 20): topics go, with their logs.

Theory of operation: by name (``topic_names`` up to version 5, ``topics`` with names or ids
from version 6); an unknown name is UNKNOWN_TOPIC_OR_PARTITION, an unknown id
UNKNOWN_TOPIC_ID, a name and an id together or neither INVALID_REQUEST. Groups keep their
committed offsets, as Kafka's do until they expire.
"""

from __future__ import annotations

import uuid
from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import delete_topics_response as dt
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request

_ZERO = uuid.UUID(int=0)


def handle(req: Request) -> Any:
    cluster = req.cluster
    body = req.body
    asked: list[tuple[str | None, uuid.UUID]] = (
        [(n, _ZERO) for n in body.topic_names] if req.version < 6
        else [(t.name, t.topic_id) for t in body.topics])
    out = []
    for name, topic_id in asked:
        if (name is not None and topic_id != _ZERO) or (name is None and topic_id == _ZERO):
            out.append(dt.DeletableTopicResult(name=name, topic_id=topic_id,
                                               error_code=codes.INVALID_REQUEST))
            continue
        if name is None:
            topic = cluster.topic_by_id(topic_id)
            code = codes.UNKNOWN_TOPIC_ID if topic is None else codes.NONE
        else:
            topic = cluster.topics.get(name)
            code = codes.UNKNOWN_TOPIC_OR_PARTITION if topic is None else codes.NONE
        if topic is not None:
            cluster.delete_topic(topic.name)
            name, topic_id = topic.name, topic.topic_id
        out.append(dt.DeletableTopicResult(name=name, topic_id=topic_id, error_code=code))
    return protocol.DeleteTopicsResponse(responses=out)


def error_response(body: Any, version: int, code: int) -> Any:
    names = list(body.topic_names) if version < 6 else [t.name for t in body.topics]
    return protocol.DeleteTopicsResponse(responses=[
        dt.DeletableTopicResult(name=n, error_code=code) for n in names])


API = Api(apis.DELETE_TOPICS, 1, 6, handle, error_response)
