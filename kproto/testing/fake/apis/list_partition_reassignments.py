"""ListPartitionReassignments (key 46): the reassignments in progress -- never any.

Theory of operation: the fake completes a reassignment as it accepts it (see
AlterPartitionReassignments), so the answer lists no topic, for named partitions and for
all alike (Kafka lists only partitions with a reassignment in progress).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request


def handle(req: Request) -> Any:
    return protocol.ListPartitionReassignmentsResponse(error_code=codes.NONE, topics=[])


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.ListPartitionReassignmentsResponse(error_code=code, topics=[])


API = Api(apis.LIST_PARTITION_REASSIGNMENTS, 0, 0, handle, error_response)
