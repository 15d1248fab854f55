"""LeaveGroup (key 13): members leave; the group rebalances without them.

Theory of operation: up to version 2 one ``member_id``; from version 3 a batch of members by
id or by group instance id, each answered on its own (UNKNOWN_MEMBER_ID,
FENCED_INSTANCE_ID), as Kafka's classicGroupLeave.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import leave_group_response as lg
from kproto.testing.fake.apis import _coord
from kproto.testing.fake.apis._base import Api, Request


def handle(req: Request) -> Any:
    body = req.body
    code = _coord.check(req, _coord.GROUP, body.group_id)
    if code:
        return error_response(body, req.version, code)
    if req.version < 3:
        top, results = req.cluster.groups.leave(body.group_id, [(body.member_id, None)],
                                                req.now)
        return protocol.LeaveGroupResponse(error_code=top or (results[0] if results else 0))
    members = [(m.member_id, m.group_instance_id) for m in body.members]
    top, results = req.cluster.groups.leave(body.group_id, members, req.now)
    return protocol.LeaveGroupResponse(error_code=top, members=[
        lg.MemberResponse(member_id=m.member_id, group_instance_id=m.group_instance_id,
                          error_code=r) for m, r in zip(body.members, results, strict=False)])


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.LeaveGroupResponse(error_code=code, members=[])


API = Api(apis.LEAVE_GROUP, 0, 5, handle, error_response)
