"""FindCoordinator (key 10): which broker coordinates a group or a transactional id.

Theory of operation: key type 0 (group) or 1 (transaction); up to version 3 one key in
``key``, from version 4 a batch in ``coordinator_keys``. Any key string is placed (Kafka
does not check it here); a key type other than group or transaction (share groups are not
served) is INVALID_REQUEST; no broker up is COORDINATOR_NOT_AVAILABLE. The coordinator is ``FakeCluster.coordinator_for``.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import find_coordinator_response as fc
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request


def _lookup(req: Request, key_type: int, key: str) -> tuple[int, int, str, int]:
    if key_type not in (0, 1) or (key_type == 1 and req.version == 0):
        return codes.INVALID_REQUEST, -1, "", -1
    node = req.cluster.coordinator_for(key_type, key)
    if node is None:
        return codes.COORDINATOR_NOT_AVAILABLE, -1, "", -1
    host, port = req.cluster.brokers[node].address(req.conn.listener)
    return codes.NONE, node, host, port


def handle(req: Request) -> Any:
    body = req.body
    key_type = body.key_type if req.version >= 1 else 0
    if req.version >= 4:
        out = []
        for key in body.coordinator_keys:
            code, node, host, port = _lookup(req, key_type, key)
            out.append(fc.Coordinator(key=key, node_id=node, host=host, port=port,
                                      error_code=code))
        return protocol.FindCoordinatorResponse(coordinators=out)
    code, node, host, port = _lookup(req, key_type, body.key)
    return protocol.FindCoordinatorResponse(error_code=code, node_id=node, host=host,
                                            port=port)


def error_response(body: Any, version: int, code: int) -> Any:
    if version >= 4:
        return protocol.FindCoordinatorResponse(coordinators=[
            fc.Coordinator(key=k, node_id=-1, host="", port=-1, error_code=code)
            for k in body.coordinator_keys])
    return protocol.FindCoordinatorResponse(error_code=code, node_id=-1, host="", port=-1)


API = Api(apis.FIND_COORDINATOR, 0, 6, handle, error_response)
