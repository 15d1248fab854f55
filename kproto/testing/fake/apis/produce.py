"""Produce (key 0): validate each partition's batch and append it to the leader's log.

Theory of operation: for each partition, in Kafka's order (KafkaApis.handleProduceRequest,
ProduceRequest.validateRecords, ReplicaManager, LogValidator, UnifiedLog):

- unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION;
- not exactly one batch of magic 2: INVALID_RECORD; zstd below version 7:
  UNSUPPORTED_COMPRESSION_TYPE; a batch that does not parse (every codec is decompressed,
  within a bound): CORRUPT_MESSAGE;
- acks other than -1, 0, 1: INVALID_REQUIRED_ACKS;
- this broker is not the leader: NOT_LEADER_OR_FOLLOWER; acks=-1 with fewer in-sync
  replicas than min.insync.replicas: NOT_ENOUGH_REPLICAS;
- a base offset other than 0: INVALID_RECORD; a batch above the topic's max.message.bytes:
  MESSAGE_TOO_LARGE; a CRC that does not match: CORRUPT_MESSAGE; a control batch, or a
  record count that disagrees with the last offset delta: INVALID_RECORD;
- a transactional batch for a partition not added to its transaction, or a plain batch from
  a producer with a transaction open there: INVALID_TXN_STATE;
- then the producer-state checks of ``PartitionLog.append`` (duplicates, epochs,
  sequences).

acks=0 gets no response (the connection closes if a partition failed, as Kafka does). acks=-1 waits until the high watermark covers the batch (at once,
unless a test holds replication back), else REQUEST_TIMED_OUT after the request timeout;
if the batch is lost meanwhile (unclean leader change) the answer is NOT_LEADER_OR_FOLLOWER.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.errors import KprotoError
from kproto.protocol import apis
from kproto.protocol.messages import produce_response as pr
from kproto.records import Compression, batch_v2, decode_batches
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import CLOSE, NO_RESPONSE, Api, Pending, Request

MAX_DECOMPRESSED = 64 * 1024 * 1024


def _part(index: int, code: int, base: int = -1, log_start: int = -1,
          message: str | None = None) -> Any:
    return pr.PartitionProduceResponse(index=index, error_code=code, base_offset=base,
                                       log_append_time_ms=-1, log_start_offset=log_start,
                                       error_message=message)


def _append(req: Request, topic: str, index: int, records: bytes | None,
            acks: int) -> tuple[Any, tuple[Any, int] | None]:
    """(partition response, (partition, end offset) to wait for with acks=-1)."""
    cluster = req.cluster
    p = cluster.partition(topic, index)
    if p is None:
        return _part(index, codes.UNKNOWN_TOPIC_OR_PARTITION), None
    fault = req.partition_fault(topic, index)
    if fault:
        return _part(index, fault), None
    data = records or b""
    # ProduceRequest.validateRecords (KafkaApis): the batch structure, CRCs unchecked.
    try:
        decoded = decode_batches(data, check_crcs=False,
                                 max_decompressed_bytes=MAX_DECOMPRESSED)
    except KprotoError as exc:
        return _part(index, codes.CORRUPT_MESSAGE, message=str(exc)), None
    batches = decoded.batches
    if not batches or decoded.trailing_bytes:
        return _part(index, codes.INVALID_RECORD, message=(
            f"Produce requests with version {req.version} must have at least one record "
            "batch per partition")), None
    batch = batches[0]
    if batch.magic != 2:
        return _part(index, codes.INVALID_RECORD, message=(
            f"Produce requests with version {req.version} are only allowed to contain "
            "record batches with magic version 2")), None
    if req.version < 7 and batch.compression == Compression.ZSTD:
        return _part(index, codes.UNSUPPORTED_COMPRESSION_TYPE), None
    if len(batches) > 1:
        return _part(index, codes.INVALID_RECORD, message=(
            f"Produce requests with version {req.version} are only allowed to contain "
            "exactly one record batch per partition")), None
    # ReplicaManager.appendRecords, Partition.appendRecordsToLeader.
    if acks not in (-1, 0, 1):
        return _part(index, codes.INVALID_REQUIRED_ACKS), None
    code = cluster.leader_check(p, req.node)
    if code:
        return _part(index, code), None
    topic_obj = cluster.topics[topic]
    if acks == -1 and len(p.isr) < int(topic_obj.config("min.insync.replicas")):
        return _part(index, codes.NOT_ENOUGH_REPLICAS), None
    # UnifiedLog.analyzeAndValidateRecords, then LogValidator.
    if batch.base_offset != 0:
        return _part(index, codes.INVALID_RECORD, message=(
            f"The baseOffset of the record batch in the append to {topic}-{index} should "
            f"be 0, but it is {batch.base_offset}")), None
    if len(data) > int(topic_obj.config("max.message.bytes")):
        return _part(index, codes.MESSAGE_TOO_LARGE), None
    stored = int.from_bytes(data[17:21], "big")
    if batch_v2.crc32c(memoryview(data)[21:]) != stored:
        return _part(index, codes.CORRUPT_MESSAGE, message=(
            f"Record is corrupt (stored crc = {stored}) in topic partition "
            f"{topic}-{index}")), None
    if batch.is_control:
        return _part(index, codes.INVALID_RECORD, message=(
            "Clients are not allowed to write control records in topic partition "
            f"{topic}-{index}")), None
    if batch.record_count != batch.last_offset_delta + 1 or batch.record_count <= 0:
        return _part(index, codes.INVALID_RECORD, message="Inner record count mismatch"), None
    if batch.producer_id >= 0:
        in_txn = cluster.txns.in_transaction(batch.producer_id, (topic, index))
        if batch.is_transactional and not in_txn:
            return _part(index, codes.INVALID_TXN_STATE,
                         message="Partition was not added to the transaction"), None
        if not batch.is_transactional and p.log.open_transaction(batch.producer_id):
            return _part(index, codes.INVALID_TXN_STATE), None
    result = p.log.append(batch, data, p.leader_epoch)
    if result.error:
        return _part(index, result.error, message=result.message), None
    resp = _part(index, codes.NONE, result.base_offset, p.log.log_start_offset)
    end = result.base_offset + batch.last_offset_delta + 1
    return resp, ((p, end) if acks == -1 and not result.duplicate else None)


def handle(req: Request) -> Any:
    body = req.body
    acks = body.acks
    topics = []
    waits: list[tuple[Any, Any, int]] = []
    for t in body.topic_data:
        parts = []
        for pd in t.partition_data:
            resp, wait = _append(req, t.name, pd.index, pd.records, acks)
            parts.append(resp)
            if wait is not None:
                waits.append((resp, wait[0], wait[1]))
        topics.append(pr.TopicProduceResponse(name=t.name, partition_responses=parts))
    response = protocol.ProduceResponse(responses=topics)
    if acks == 0:
        # Kafka closes the connection when an acks=0 produce fails, so that the client
        # notices (KafkaApis.handleProduceRequest).
        failed = any(p.error_code for t in topics for p in t.partition_responses)
        return CLOSE if failed else NO_RESPONSE
    if not waits or all(p.log.high_watermark >= end for _, p, end in waits):
        return response

    def poll(now: float, expired: bool) -> Any:
        done = True
        for resp, p, end in waits:
            if p.log.log_end_offset < end or p.leader != req.node:
                resp.error_code = codes.NOT_LEADER_OR_FOLLOWER
                resp.base_offset = -1
            elif p.log.high_watermark < end:
                done = False
                if expired:
                    resp.error_code = codes.REQUEST_TIMED_OUT
        return response if done or expired else None

    return Pending(poll, req.now + body.timeout_ms / 1000)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.ProduceResponse(responses=[
        pr.TopicProduceResponse(name=t.name, partition_responses=[
            _part(pd.index, code) for pd in t.partition_data]) for t in body.topic_data])


API = Api(apis.PRODUCE, 3, 11, handle, error_response)
