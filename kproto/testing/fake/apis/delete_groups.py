"""DeleteGroups (key 42): remove empty groups and their offsets.

Theory of operation: per group, coordinator check; a group with members is NON_EMPTY_GROUP,
an unknown one GROUP_ID_NOT_FOUND, as Kafka's GroupMetadataManager.validateDeleteGroup.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import delete_groups_response as dg
from kproto.testing.fake.apis import _coord
from kproto.testing.fake.apis._base import Api, Request


def handle(req: Request) -> Any:
    out = []
    for gid in req.body.groups_names:
        code = _coord.check(req, _coord.GROUP, gid) or req.cluster.groups.delete(gid)
        out.append(dg.DeletableGroupResult(group_id=gid, error_code=code))
    return protocol.DeleteGroupsResponse(results=out)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.DeleteGroupsResponse(results=[
        dg.DeletableGroupResult(group_id=g, error_code=code) for g in body.groups_names])


API = Api(apis.DELETE_GROUPS, 0, 2, handle, error_response)
