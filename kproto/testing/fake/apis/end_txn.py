"""EndTxn (key 26): commit or abort; the coordinator writes the markers.

Theory of operation: coordinator check, then ``TxnCoordinator.end_txn``, which writes a
COMMIT or ABORT control batch to every partition of the transaction (moving their last
stable offsets) and commits or drops the transaction's group offsets before answering.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.testing.fake.apis import _coord, _txn
from kproto.testing.fake.apis._base import Api, Request


def handle(req: Request) -> Any:
    body = req.body
    code = _coord.check(req, _coord.TRANSACTION, body.transactional_id) or \
        req.cluster.txns.end_txn(body.transactional_id, body.producer_id,
                                 body.producer_epoch, body.committed, req.now)
    return protocol.EndTxnResponse(error_code=_txn.fenced(code, req.version, 2))


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.EndTxnResponse(error_code=code)


API = Api(apis.END_TXN, 0, 4, handle, error_response)
