"""SyncGroup (key 14): the leader hands out assignments; every member gets its own.

Theory of operation: after the coordinator check, ``GroupCoordinator.sync`` answers at once
(an error, or the assignment in a Stable group) or through a ``Slot`` filled when the
leader's SyncGroup arrives (or with REBALANCE_IN_PROGRESS when a new rebalance starts).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.testing.fake.apis import _coord
from kproto.testing.fake.apis._base import Api, Pending, Request


def handle(req: Request) -> Any:
    body = req.body
    code = _coord.check(req, _coord.GROUP, body.group_id)
    if code:
        return error_response(body, req.version, code)
    slot = req.cluster.groups.sync(body, req.version, req.now)
    if slot.value is not None:
        return slot.value
    return Pending(lambda _now, _expired: slot.value, None)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.SyncGroupResponse(error_code=code, assignment=b"")


API = Api(apis.SYNC_GROUP, 0, 5, handle, error_response)
