"""JoinGroup (key 11): join a classic group; the answer waits for the rebalance.

Theory of operation: after the coordinator check (NOT_COORDINATOR,
COORDINATOR_NOT_AVAILABLE) the request goes to ``GroupCoordinator.join``, which answers at
once (MEMBER_ID_REQUIRED, an error, the current generation) or later through a ``Slot``
filled when the rebalance completes; the connection waits on it (``Pending``).
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
    slot = req.cluster.groups.join(body, req.version, req.header.client_id or "",
                                   req.conn.client_host, req.now)
    if slot.value is not None:
        return _for_version(slot.value, req.version)
    return Pending(lambda _now, _expired: _for_version(slot.value, req.version), None)


def _for_version(resp: Any, version: int) -> Any:
    """Before version 7 the protocol name is not nullable: Kafka writes it empty."""
    if resp is not None and version < 7 and resp.protocol_name is None:
        resp.protocol_name = ""
    return resp


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.JoinGroupResponse(error_code=code, generation_id=-1,
                                      member_id=body.member_id, leader="", members=[],
                                      protocol_name=None if version >= 7 else "")


API = Api(apis.JOIN_GROUP, 2, 9, handle, error_response)
