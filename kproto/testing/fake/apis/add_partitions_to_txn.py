"""AddPartitionsToTxn (key 24), client versions 0-3: partitions join the transaction.

Theory of operation: coordinator check; unknown topic partitions are
UNKNOWN_TOPIC_OR_PARTITION and every other partition of the request OPERATION_NOT_ATTEMPTED
(KafkaApis); otherwise ``TxnCoordinator.add_partitions`` gives one error for all
(INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED). Versions 4+ are broker-to-broker and not
served.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import add_partitions_to_txn_response as ap
from kproto.testing.fake import codes
from kproto.testing.fake.apis import _coord, _txn
from kproto.testing.fake.apis._base import Api, Request


def _response(body: Any, code_of: dict[tuple[str, int], int]) -> Any:
    return protocol.AddPartitionsToTxnResponse(results_by_topic_v3_and_below=[
        ap.AddPartitionsToTxnTopicResult(name=t.name, results_by_partition=[
            ap.AddPartitionsToTxnPartitionResult(partition_index=p,
                                                 partition_error_code=code_of[(t.name, p)])
            for p in t.partitions]) for t in body.v3_and_below_topics])


def handle(req: Request) -> Any:
    body = req.body
    txn_id = body.v3_and_below_transactional_id
    wanted = [(t.name, p) for t in body.v3_and_below_topics for p in t.partitions]
    code = _coord.check(req, _coord.TRANSACTION, txn_id)
    if code:
        return error_response(body, req.version, code)
    errors = {tp: req.partition_fault(*tp) for tp in wanted}
    for tp in wanted:
        if not errors[tp] and req.cluster.partition(*tp) is None:
            errors[tp] = codes.UNKNOWN_TOPIC_OR_PARTITION
    if any(errors.values()):
        return _response(body, {tp: errors[tp] or codes.OPERATION_NOT_ATTEMPTED
                                for tp in wanted})
    code = req.cluster.txns.add_partitions(txn_id, body.v3_and_below_producer_id,
                                           body.v3_and_below_producer_epoch, set(wanted),
                                           req.now)
    code = _txn.fenced(code, req.version, 2)
    return _response(body, dict.fromkeys(wanted, code))


def error_response(body: Any, version: int, code: int) -> Any:
    return _response(body, {(t.name, p): code for t in body.v3_and_below_topics
                            for p in t.partitions})


API = Api(apis.ADD_PARTITIONS_TO_TXN, 0, 3, handle, error_response)
