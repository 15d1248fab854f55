"""Coordinator checks shared by the group and transaction APIs.

Theory of operation: a group or transactional request sent to a broker that does not
coordinate its key is NOT_COORDINATOR, and COORDINATOR_NOT_AVAILABLE when no broker is up to
coordinate it (Kafka's answers while the coordinator partition has no leader).
"""

from __future__ import annotations

from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Request

GROUP, TRANSACTION = 0, 1


def check(req: Request, key_type: int, key: str) -> int:
    node = req.cluster.coordinator_for(key_type, key)
    if node is None:
        return codes.COORDINATOR_NOT_AVAILABLE
    if node != req.node:
        return codes.NOT_COORDINATOR
    return codes.NONE
