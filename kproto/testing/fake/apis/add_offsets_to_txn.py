"""AddOffsetsToTxn (key 25): a group's offsets join the transaction.

Theory of operation: coordinator check on the transactional id, then
``TxnCoordinator.add_offsets`` (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.testing.fake import codes
from kproto.testing.fake.apis import _coord, _txn
from kproto.testing.fake.apis._base import Api, Request


def handle(req: Request) -> Any:
    body = req.body
    code = _coord.check(req, _coord.TRANSACTION, body.transactional_id)
    if not code and not body.group_id:
        code = codes.INVALID_GROUP_ID
    if not code:
        code = req.cluster.txns.add_offsets(body.transactional_id, body.producer_id,
                                            body.producer_epoch, body.group_id, req.now)
    return protocol.AddOffsetsToTxnResponse(error_code=_txn.fenced(code, req.version, 2))


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.AddOffsetsToTxnResponse(error_code=code)


API = Api(apis.ADD_OFFSETS_TO_TXN, 0, 4, handle, error_response)
