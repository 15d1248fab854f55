"""InitProducerId (key 22): a producer id and epoch, for idempotence or a transaction.

Theory of operation: without a transactional id any broker answers with a new producer id;
with one, the transaction coordinator does (NOT_COORDINATOR elsewhere), by the rules of
``TxnCoordinator.init_producer_id``.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.testing.fake.apis import _coord, _txn
from kproto.testing.fake.apis._base import Api, Request


def handle(req: Request) -> Any:
    body = req.body
    txn_id = body.transactional_id
    if txn_id:
        code = _coord.check(req, _coord.TRANSACTION, txn_id)
        if code:
            return error_response(body, req.version, code)
    pid, epoch = (body.producer_id, body.producer_epoch) if req.version >= 3 else (-1, -1)
    code, pid, epoch = req.cluster.txns.init_producer_id(
        txn_id, body.transaction_timeout_ms, pid, epoch, req.now)
    return protocol.InitProducerIdResponse(error_code=_txn.fenced(code, req.version, 4),
                                           producer_id=pid, producer_epoch=epoch)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.InitProducerIdResponse(error_code=code, producer_id=-1, producer_epoch=-1)


API = Api(apis.INIT_PRODUCER_ID, 0, 5, handle, error_response)
