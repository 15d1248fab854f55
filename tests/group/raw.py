"""Blocking helpers that talk to a real broker directly: produce test records, read what a
group committed. They use only kproto's codec and record builder, not the clients under test."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

from kproto import protocol
from kproto.protocol import decode_response, encode_request
from kproto.protocol.messages.offset_fetch_request import OffsetFetchRequestTopic
from kproto.protocol.messages.produce_request import PartitionProduceData, TopicProduceData
from kproto.records import BatchBuilder

RETRIABLE = {3, 5, 6}  # UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER
COORDINATOR_LOAD_IN_PROGRESS = 14


class Raw:
    """One socket to one broker; request() sends a message and returns the response."""

    def __init__(self, address: str, timeout: float = 30.0) -> None:
        host, port = address.split(",")[0].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.corr = 0

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _read(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            buf += chunk
        return bytes(buf)

    def request(self, msg: Any, version: int) -> Any:
        self.corr += 1
        self.sock.sendall(encode_request(msg, version, self.corr, "kproto-group-test"))
        (size,) = struct.unpack(">i", self._read(4))
        corr, body = decode_response(self._read(size), msg.API_KEY, version)
        assert corr == self.corr
        return body


def produce(address: str, topic: str, partition: int, values: list[bytes],
            timeout: float = 30.0) -> int:
    """Append ``values`` to one partition (acks=all); returns the base offset. Retries while
    a new partition's leader is still settling in."""
    builder = BatchBuilder()
    now = int(time.time() * 1000)
    for value in values:
        assert builder.append(now, None, value)
    records = builder.build()
    deadline = time.monotonic() + timeout
    while True:
        with Raw(address) as raw:
            resp = raw.request(protocol.ProduceRequest(acks=-1, timeout_ms=30000, topic_data=[
                TopicProduceData(name=topic, partition_data=[
                    PartitionProduceData(index=partition, records=records)])]), 9)
        part = resp.responses[0].partition_responses[0]
        if part.error_code in RETRIABLE and time.monotonic() < deadline:
            time.sleep(0.1)  # the broker is still loading the partition: ask again
            continue
        assert part.error_code == 0, f"produce to {topic}[{partition}] failed: {part.error_code}"
        return int(part.base_offset)


def committed(address: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """What ``group`` committed for each partition of ``topic`` (-1: nothing). The address
    must be the group's coordinator (a single broker is); asked again while it is still
    loading the group's offsets (a coordinator that just took over after another died)."""
    deadline = time.monotonic() + 30.0
    while True:
        with Raw(address) as raw:
            resp = raw.request(protocol.OffsetFetchRequest(group_id=group, topics=[
                OffsetFetchRequestTopic(name=topic, partition_indexes=list(range(partitions)))]), 5)
        if resp.error_code != COORDINATOR_LOAD_IN_PROGRESS or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # the new coordinator is still reading the offsets topic: ask again
    assert resp.error_code == 0, resp.error_code
    return {p.partition_index: p.committed_offset for t in resp.topics for p in t.partitions}


def coordinator(address: str, group: str) -> int:
    """The node id of ``group``'s coordinator, asked of any broker (retried while loading)."""
    deadline = time.monotonic() + 30.0
    while True:
        with Raw(address) as raw:
            resp = raw.request(protocol.FindCoordinatorRequest(key=group, key_type=0), 2)
        if resp.error_code == 0:
            return int(resp.node_id)
        assert time.monotonic() < deadline, f"no coordinator for {group}: {resp.error_code}"
        time.sleep(0.2)  # the coordinator is still loading: ask again
