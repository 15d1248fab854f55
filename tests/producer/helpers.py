"""Producer helpers for real-broker tests: producers on every transport, their result
streams read from the test thread, and records read back with raw Fetch requests."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kproto.protocol import FetchRequest, ListOffsetsRequest, decode_response, encode_request
from kproto.protocol.messages.fetch_request import FetchPartition, FetchTopic
from kproto.protocol.messages.list_offsets_request import ListOffsetsPartition, ListOffsetsTopic
from kproto.records import Record, decode_batches, filter_committed, flatten
from tests.conformance.drivers import CALL_TIMEOUT, open_remote


@contextmanager
def producer(transport: str, kind: str, bootstrap: str, **options: Any) -> Iterator[Any]:
    """A SyncProducer or AsyncProducer of ``transport`` with blocking calls."""
    with open_remote(transport, lambda mod: getattr(mod, kind)(bootstrap, **options)) as p:
        yield p


def take(transport: str, p: Any, stream: str, n: int, timeout: float = 60.0) -> list[Any]:
    """The next ``n`` entries of a producer's ``successes`` or ``errors`` stream."""
    try:
        return _take(transport, p, stream, n, timeout)
    except Exception as exc:
        if type(exc).__name__ not in ("TimeoutError", "TooSlowError", "ClientTimeoutError"):
            raise
        state = in_loop(transport, p, lambda obj: (obj.metrics(), len(obj.successes),
                                                   [e for e in list(obj.errors._buf._items)]))
        raise AssertionError(f"{n} {stream} not seen within {timeout}s; producer "
                             f"{state[0]}, successes {state[1]}, errors {state[2][:5]}") from exc


def _take(transport: str, p: Any, stream: str, n: int, timeout: float) -> list[Any]:
    if transport == "threads":
        s = getattr(p, stream)
        return [s.get(timeout) for _ in range(n)]
    obj = p.target

    async def collect() -> list[Any]:
        out: list[Any] = []
        if n == 0:
            return out
        async for item in getattr(obj, stream):
            out.append(item)
            if len(out) == n:
                break
        return out

    return p._runner.call(collect, timeout)  # type: ignore[no-any-return]


def in_loop(transport: str, p: Any, fn: Callable[[Any], Any]) -> Any:
    """Run ``fn(producer)`` where the producer lives (its event loop's thread)."""
    if transport == "threads":
        return fn(p)
    obj = p.target
    return p._runner.call(lambda: fn(obj), CALL_TIMEOUT)


class Raw:
    """Blocking request/response over one socket, framed by kproto.protocol."""

    def __init__(self, address: str, timeout: float = 30.0) -> None:
        host, port = address.split(",")[0].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.corr = 0

    def close(self) -> None:
        self.sock.close()

    def _read(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return bytes(buf)

    def request(self, msg: Any, version: int) -> Any:
        self.corr += 1
        self.sock.sendall(encode_request(msg, version, self.corr, "kproto-producer-test"))
        (size,) = struct.unpack(">i", self._read(4))
        corr, body = decode_response(self._read(size), msg.API_KEY, version)
        assert corr == self.corr
        return body


def end_offset(address: str, topic: str, partition: int) -> int:
    raw = Raw(address)
    try:
        resp = raw.request(ListOffsetsRequest(replica_id=-1, isolation_level=0, topics=[
            ListOffsetsTopic(name=topic, partitions=[
                ListOffsetsPartition(partition_index=partition, timestamp=-1)])]), 7)
    finally:
        raw.close()
    part = resp.topics[0].partitions[0]
    assert part.error_code == 0, part.error_code
    return int(part.offset)


def read_partition(address: str, topic: str, partition: int, *, committed: bool = False,
                   settle: bool = True, timeout: float = 60.0) -> list[Record]:
    """Every record of a partition, up to its current end, read with Fetch v11 from the
    leader at ``address`` (``committed``: read_committed, aborted transactions removed).

    A committed read waits (bounded) until the last stable offset passes that end: a
    coordinator writes a transaction's markers after it has answered EndTxn, so right after
    a commit the partition's last records may still be undecided. ``settle=False`` reads
    only up to the last stable offset as it is (for a transaction left open on purpose)."""
    end = end_offset(address, topic, partition)
    out: list[Record] = []
    offset = 0
    deadline = time.monotonic() + timeout
    raw = Raw(address)
    try:
        while offset < end:
            assert time.monotonic() < deadline, f"read {topic}[{partition}] stuck at {offset}"
            resp = raw.request(FetchRequest(
                replica_id=-1, max_wait_ms=100, min_bytes=1, max_bytes=16 << 20,
                isolation_level=1 if committed else 0, topics=[FetchTopic(
                    topic=topic, partitions=[FetchPartition(
                        partition=partition, fetch_offset=offset,
                        partition_max_bytes=8 << 20)])]), 11)
            part = resp.responses[0].partitions[0]
            assert part.error_code == 0, f"fetch error {part.error_code}"
            batches = decode_batches(part.records or b"").batches
            if committed:
                if not settle and part.last_stable_offset >= 0:
                    end = min(end, part.last_stable_offset)
                records = filter_committed(batches, part.aborted_transactions or [],
                                           min_offset=offset)
            else:
                records = flatten(batches, min_offset=offset)
            if not batches:
                if offset >= end:
                    break
                continue
            out += records
            offset = max(b.base_offset + b.last_offset_delta for b in batches) + 1
    finally:
        raw.close()
    return out
