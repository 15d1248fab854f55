"""DescribeGroups (key 15): state, protocol and members of classic groups.

Theory of operation: per group, coordinator check (NOT_COORDINATOR); an unknown group is
described as Dead with no members (Kafka's answer before version 6, the versions served
here); members carry their metadata for the chosen protocol and their assignment once the
group is Stable.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import describe_groups_response as dg
from kproto.testing.fake.apis import _coord
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.groups import STABLE


def handle(req: Request) -> Any:
    out = []
    for gid in req.body.groups:
        code = _coord.check(req, _coord.GROUP, gid)
        group = req.cluster.groups.groups.get(gid)
        if code or group is None:
            out.append(dg.DescribedGroup(error_code=code, group_id=gid, group_state="Dead",
                                         protocol_type="", protocol_data="", members=[]))
            continue
        members = [dg.DescribedGroupMember(
            member_id=m.member_id, group_instance_id=m.instance_id, client_id=m.client_id,
            client_host=m.client_host, member_metadata=m.metadata(group.protocol_name),
            member_assignment=m.assignment if group.state == STABLE else b"")
            for m in group.members.values()]
        out.append(dg.DescribedGroup(error_code=0, group_id=gid, group_state=group.state,
                                     protocol_type=group.protocol_type or "",
                                     protocol_data=group.protocol_name or "",
                                     members=members))
    return protocol.DescribeGroupsResponse(groups=out)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.DescribeGroupsResponse(groups=[
        dg.DescribedGroup(error_code=code, group_id=g, group_state="", protocol_type="",
                          protocol_data="", members=[]) for g in body.groups])


API = Api(apis.DESCRIBE_GROUPS, 0, 5, handle, error_response)
