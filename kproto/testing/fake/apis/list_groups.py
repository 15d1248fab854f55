"""ListGroups (key 16): the groups this broker coordinates.

Theory of operation: each broker lists the groups whose coordinator it is, with protocol
type and (version 4+) state, filtered by ``states_filter`` (case-insensitive, as Kafka) and
(version 5+) ``types_filter`` (every group here is "classic").
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import list_groups_response as lg
from kproto.testing.fake.apis._base import Api, Request


def handle(req: Request) -> Any:
    cluster = req.cluster
    body = req.body
    states = {s.lower() for s in body.states_filter} if req.version >= 4 else set()
    types = {t.lower() for t in body.types_filter} if req.version >= 5 else set()
    out = []
    for gid, group in sorted(cluster.groups.groups.items()):
        if cluster.coordinator_for(0, gid) != req.node:
            continue
        if states and group.state.lower() not in states:
            continue
        if types and "classic" not in types:
            continue
        out.append(lg.ListedGroup(group_id=gid, protocol_type=group.protocol_type or "",
                                  group_state=group.state, group_type="classic"))
    return protocol.ListGroupsResponse(error_code=0, groups=out)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.ListGroupsResponse(error_code=code, groups=[])


API = Api(apis.LIST_GROUPS, 0, 5, handle, error_response)
