"""OffsetDelete (key 47): delete a group's committed offsets of some partitions.

Theory of operation: Kafka's GroupCoordinator: a request to a broker that does not
coordinate the group is NOT_COORDINATOR, an unknown (or dead) group GROUP_ID_NOT_FOUND, a
group with members that is not a consumer group NON_EMPTY_GROUP (all top-level). Then per
partition: a topic some member of a consumer group subscribes to is
GROUP_SUBSCRIBED_TO_TOPIC and keeps its offset; any other offset goes (none committed is
no error).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.group.consumer_protocol import decode_subscription
from kproto.protocol import apis
from kproto.protocol.messages import offset_delete_response as od
from kproto.testing.fake import codes
from kproto.testing.fake.apis import _coord
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.groups import DEAD, EMPTY, ClassicGroup


def subscribed_topics(group: ClassicGroup) -> set[str]:
    """The topics the members of a consumer group subscribe to (their join metadata)."""
    out: set[str] = set()
    for m in group.members.values():
        try:
            out.update(decode_subscription(m.metadata(group.protocol_name)).topics)
        except Exception:  # a member's bad metadata subscribes it to nothing
            continue
    return out


def handle(req: Request) -> Any:
    gid = req.body.group_id
    code = _coord.check(req, _coord.GROUP, gid)
    group = req.cluster.groups.groups.get(gid)
    if not code and (group is None or group.state == DEAD):
        code = codes.GROUP_ID_NOT_FOUND
    if not code and group is not None and group.state != EMPTY \
            and group.protocol_type != "consumer":
        code = codes.NON_EMPTY_GROUP
    if code or group is None:
        return error_response(req.body, req.version, code)
    subscribed = subscribed_topics(group) if group.state != EMPTY else set()
    topics = []
    for t in req.body.topics:
        parts = []
        for p in t.partitions:
            pcode = codes.GROUP_SUBSCRIBED_TO_TOPIC if t.name in subscribed else codes.NONE
            if not pcode:
                group.offsets.pop((t.name, p.partition_index), None)
            parts.append(od.OffsetDeleteResponsePartition(partition_index=p.partition_index,
                                                          error_code=pcode))
        topics.append(od.OffsetDeleteResponseTopic(name=t.name, partitions=parts))
    return protocol.OffsetDeleteResponse(error_code=codes.NONE, topics=topics)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.OffsetDeleteResponse(error_code=code, topics=[])


API = Api(apis.OFFSET_DELETE, 0, 0, handle, error_response)
