"""DescribeTransactions (key 65): the state of transactional ids this broker coordinates.

Theory of operation: per id, NOT_COORDINATOR (or COORDINATOR_NOT_AVAILABLE) as for the
other transaction APIs, TRANSACTIONAL_ID_NOT_FOUND for an id the coordinator never saw;
otherwise its state, timeout, producer id and epoch, the start of its open transaction (-1
when none is open) and the partitions the transaction holds, grouped by topic.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import describe_transactions_response as dt
from kproto.testing.fake import codes
from kproto.testing.fake.apis import _coord
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.txns import ONGOING


def _state(tid: str, code: int) -> Any:
    return dt.TransactionState(error_code=code, transactional_id=tid, transaction_state="",
                               transaction_timeout_ms=0, transaction_start_time_ms=-1,
                               producer_id=-1, producer_epoch=-1, topics=[])


def handle(req: Request) -> Any:
    out = []
    for tid in req.body.transactional_ids:
        code = _coord.check(req, _coord.TRANSACTION, tid)
        txn = req.cluster.txns.txns.get(tid)
        if not code and txn is None:
            code = codes.TRANSACTIONAL_ID_NOT_FOUND
        if code or txn is None:
            out.append(_state(tid, code))
            continue
        topics: dict[str, list[int]] = {}
        if txn.state == ONGOING:
            for topic, index in sorted(txn.partitions):
                topics.setdefault(topic, []).append(index)
        started = (req.cluster.wall_ms(txn.started)
                   if txn.state == ONGOING and txn.started is not None else -1)
        out.append(dt.TransactionState(
            error_code=codes.NONE, transactional_id=tid, transaction_state=txn.state,
            transaction_timeout_ms=txn.timeout_ms, transaction_start_time_ms=started,
            producer_id=txn.producer_id, producer_epoch=txn.epoch,
            topics=[dt.TopicData(topic=t, partitions=ps) for t, ps in topics.items()]))
    return protocol.DescribeTransactionsResponse(transaction_states=out)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.DescribeTransactionsResponse(
        transaction_states=[_state(tid, code) for tid in body.transactional_ids])


API = Api(apis.DESCRIBE_TRANSACTIONS, 0, 0, handle, error_response)
