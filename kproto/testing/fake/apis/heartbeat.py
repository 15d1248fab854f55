"""Heartbeat (key 12): keep a member alive; learn of a rebalance.

Theory of operation: coordinator check, then ``GroupCoordinator.heartbeat``:
UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS or none,
as Kafka's classicGroupHeartbeat.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.testing.fake.apis import _coord
from kproto.testing.fake.apis._base import Api, Request


def handle(req: Request) -> Any:
    body = req.body
    code = _coord.check(req, _coord.GROUP, body.group_id) or \
        req.cluster.groups.heartbeat(body, req.version, req.now)
    return protocol.HeartbeatResponse(error_code=code)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.HeartbeatResponse(error_code=code)


API = Api(apis.HEARTBEAT, 0, 4, handle, error_response)
