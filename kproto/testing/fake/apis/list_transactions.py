"""ListTransactions (key 66): the transactions this broker coordinates.

Theory of operation: every transactional id whose coordinator is the broker asked, filtered
as Kafka's TransactionStateManager.listTransactionStates does: by state (a state name Kafka
does not know is returned in ``unknown_state_filters``), by producer id, and from version 1
by duration (an open transaction running at least that many ms; -1: no filter).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import list_transactions_response as lt
from kproto.testing.fake import codes
from kproto.testing.fake.apis import _coord
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.txns import ONGOING

STATES = ("Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit",
          "CompleteAbort", "Dead", "PrepareEpochFence")
"""Kafka's TransactionState names."""


def handle(req: Request) -> Any:
    body = req.body
    states = set(body.state_filters)
    pids = set(body.producer_id_filters)
    duration = body.duration_filter if req.version >= 1 else -1
    out = []
    for tid, txn in sorted(req.cluster.txns.txns.items()):
        if req.cluster.coordinator_for(_coord.TRANSACTION, tid) != req.node:
            continue
        if (states and txn.state not in states) or (pids and txn.producer_id not in pids):
            continue
        if duration >= 0 and not (txn.state == ONGOING and txn.started is not None
                                  and (req.now - txn.started) * 1000 >= duration):
            continue
        out.append(lt.TransactionState(transactional_id=tid, producer_id=txn.producer_id,
                                       transaction_state=txn.state))
    return protocol.ListTransactionsResponse(
        error_code=codes.NONE, unknown_state_filters=sorted(states - set(STATES)),
        transaction_states=out)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.ListTransactionsResponse(error_code=code, unknown_state_filters=[],
                                             transaction_states=[])


API = Api(apis.LIST_TRANSACTIONS, 0, 1, handle, error_response)
