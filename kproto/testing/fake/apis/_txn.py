"""Helpers shared by the transaction APIs.

Theory of operation: Kafka answers PRODUCER_FENCED only to request versions that know it
(InitProducerId 4+, EndTxn, AddOffsetsToTxn and AddPartitionsToTxn 2+) and
INVALID_PRODUCER_EPOCH to older ones; ``fenced`` applies that mapping.
"""

from __future__ import annotations

from kproto.testing.fake import codes


def fenced(code: int, version: int, since: int) -> int:
    if code == codes.PRODUCER_FENCED and version < since:
        return codes.INVALID_PRODUCER_EPOCH
    return code
