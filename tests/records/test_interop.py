"""Record batches against a real broker and other clients.

* Batches the Java console producer writes with each codec decode in kproto to the same keys,
  values and headers (fetched with a raw Fetch request).
* Batches kproto builds with each codec, sent with a raw Produce request, are read back the
  same by the Java console consumer and by kcat.
* Legacy message sets: kproto's magic 0/1 sets are accepted by a 3.9 broker (Produce v1/v2)
  and read back by the Java consumer; the 3.9 broker's down-converted magic 0/1 sets of
  Java-written batches (Fetch v1/v3) decode in kproto, including the magic 0 LZ4 framing.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import time
import uuid
from typing import Any

import pytest

from kproto.protocol import (
    FetchRequest,
    FetchResponse,
    ProduceRequest,
    ProduceResponse,
    decode_response,
    encode_request,
)
from kproto.protocol.messages.fetch_request import FetchPartition, FetchTopic
from kproto.protocol.messages.produce_request import PartitionProduceData, TopicProduceData
from kproto.records import BatchBuilder, Compression, Record, decode_batches, flatten

pytestmark = pytest.mark.interop

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
LEGACY_CODECS = ["none", "gzip", "snappy", "lz4"]
SEP = "|"
NULL = "<null>"

Row = tuple[bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...]]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


# ------------------------------------------------------------------- a raw connection


class RawConnection:
    """Blocking request/response over one socket, framed by kproto.protocol."""

    def __init__(self, bootstrap: str, timeout: float = 30.0) -> None:
        host, port = bootstrap.split(",")[0].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.correlation_id = 0

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
        self.correlation_id += 1
        self.sock.sendall(encode_request(msg, version, self.correlation_id, "kproto-records-test"))
        (size,) = struct.unpack(">i", self._read(4))
        cid, body = decode_response(self._read(size), msg.API_KEY, version)
        assert cid == self.correlation_id
        return body


def produce(bootstrap: str, topic: str, records: bytes, version: int = 8) -> Any:
    conn = RawConnection(bootstrap)
    try:
        req = ProduceRequest(
            acks=-1,
            timeout_ms=30000,
            topic_data=[
                TopicProduceData(
                    name=topic, partition_data=[PartitionProduceData(index=0, records=records)]
                )
            ],
        )
        resp = conn.request(req, version)
    finally:
        conn.close()
    assert isinstance(resp, ProduceResponse)
    (part,) = resp.responses[0].partition_responses
    assert part.error_code == 0, f"produce error {part.error_code}: {part.error_message}"
    return part


def fetch(bootstrap: str, topic: str, version: int = 11, offset: int = 0) -> Any:
    conn = RawConnection(bootstrap)
    try:
        req = FetchRequest(
            max_wait_ms=500,
            min_bytes=1,
            max_bytes=64 << 20,
            isolation_level=0,
            topics=[
                FetchTopic(
                    topic=topic,
                    partitions=[
                        FetchPartition(
                            partition=0, fetch_offset=offset, partition_max_bytes=32 << 20
                        )
                    ],
                )
            ],
        )
        resp = conn.request(req, version)
    finally:
        conn.close()
    assert isinstance(resp, FetchResponse)
    (part,) = resp.responses[0].partitions
    assert part.error_code == 0, f"fetch error {part.error_code}"
    return part


def fetch_all(bootstrap: str, topic: str, count: int, version: int = 11) -> list[Any]:
    """Batches of the topic's partition 0 until `count` records were seen."""
    batches: list[Any] = []
    offset = 0
    deadline = time.monotonic() + 30
    while sum(len(b.records) for b in batches) < count:
        assert time.monotonic() < deadline, "records did not arrive"
        part = fetch(bootstrap, topic, version, offset)
        result = decode_batches(part.records or b"")
        new = [b for b in result.batches if b.next_offset > offset]
        batches += new
        if new:
            offset = new[-1].next_offset
    return batches


# ------------------------------------------------------------------------------ the data


def rows(magic: int = 2) -> list[Row]:
    """Varied records: null keys and values, empty values, headers, non-ASCII, fillers."""
    out: list[Row] = [
        (b"k1", b"v1", (("h1", b"a"), ("h2", b"b"))),
        (None, b"no key", (("h", b""),)),
        (b"k3", b"", ()),
        (b"k4", None, (("n", None), ("x", b"y"))),
        ("clé".encode(), "☃ snow".encode(), (("ключ", "значение".encode()),)),
    ]
    out += [(b"key-%d" % i, b"value %d " % i * 8, (("i", b"%d" % i),)) for i in range(60)]
    if magic < 2:
        out = [(k, v, ()) for k, v, _ in out]
    return out


def ascii_rows(magic: int = 2) -> list[Row]:
    # What the console consumer prints through the platform encoding: keep it ASCII.
    return [
        r
        for r in rows(magic)
        if all(b is None or b.isascii() for b in (r[0], r[1])) and all(k.isascii() for k, _ in r[2])
    ]


def _field(b: bytes | None) -> str:
    return NULL if b is None else b.decode()


def producer_lines(data: list[Row]) -> str:
    lines = []
    for key, value, headers in data:
        hs = ",".join(f"{k}:{_field(v)}" for k, v in headers) if headers else NULL
        lines.append(f"{hs}\t{_field(key)}{SEP}{_field(value)}")
    return "\n".join(lines) + "\n"


def as_rows(records: list[Record]) -> list[Row]:
    return [(r.key, r.value, r.headers) for r in records]


def new_topic(broker: Any, prefix: str) -> str:
    name = f"records-{prefix}-{uuid.uuid4().hex[:8]}"
    broker.create_topic(name, partitions=1)
    return name


def now_ms() -> int:
    return int(time.time() * 1000)


def kproto_batch(data: list[Row], codec: str, magic: int = 2) -> bytes:
    b = BatchBuilder(magic=magic, compression=Compression[codec.upper()], max_bytes=1 << 24)
    ts = now_ms()
    for i, (key, value, headers) in enumerate(data):
        assert b.append(ts + i, key, value, headers)
    return b.build()


# ---------------------------------------------------------------------- the Java tools


def java_produce(broker: Any, topic: str, data: list[Row], codec: str) -> None:
    proc = broker.java_tool(
        "console-producer",
        "--bootstrap-server",
        broker.bootstrap,
        "--topic",
        topic,
        "--compression-codec",
        codec,
        "--property",
        "parse.key=true",
        "--property",
        f"key.separator={SEP}",
        "--property",
        "parse.headers=true",
        "--property",
        f"null.marker={NULL}",
        "--producer-property",
        "linger.ms=200",
        "--producer-property",
        "batch.size=1000000",
        input=producer_lines(data),
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def parse_consumer_line(line: str) -> tuple[int, Row]:
    offset_field, headers, key, value = line.split(SEP, 3)
    offset = int(offset_field.removeprefix("Offset:"))
    hs: list[tuple[str, bytes | None]] = []
    if headers != "NO_HEADERS":
        for pair in headers.split(","):
            k, v = pair.split(":", 1)
            hs.append((k, None if v == NULL else v.encode()))
    return offset, (
        None if key == NULL else key.encode(),
        None if value == NULL else value.encode(),
        tuple(hs),
    )


def java_consume(broker: Any, topic: str, count: int) -> list[tuple[int, Row]]:
    proc = broker.java_tool(
        "console-consumer",
        "--bootstrap-server",
        broker.bootstrap,
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        str(count),
        "--timeout-ms",
        "60000",
        "--property",
        "print.offset=true",
        "--property",
        "print.key=true",
        "--property",
        "print.headers=true",
        "--property",
        f"key.separator={SEP}",
        "--property",
        f"null.literal={NULL}",
        timeout=180,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("Offset:")]
    assert len(lines) == count, (
        f"rc={proc.returncode} stdout={proc.stdout[-2000:]} stderr={proc.stderr[-3000:]}"
    )
    return [parse_consumer_line(ln) for ln in lines]


def kcat_path() -> str:
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if path is None:
        if in_ci():
            pytest.fail("kcat is not installed (./dev test installs the Debian package kcat)")
        pytest.skip("kcat is not installed (the Debian package kcat; ./dev test installs it)")
    return path


def kcat_consume(bootstrap: str, topic: str) -> list[tuple[int, Row]]:
    # Lengths (%K, %S: -1 for null) tell null from empty; \x1f and \x1e delimit fields.
    fmt = "%o\x1f%h\x1f%K\x1f%k\x1f%S\x1f%s\x1e"
    proc = subprocess.run(
        [
            kcat_path(),
            "-C",
            "-b",
            bootstrap,
            "-t",
            topic,
            "-p",
            "0",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            fmt,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    out = []
    for item in proc.stdout.split(b"\x1e"):
        if not item:
            continue
        offset, headers, key_len, key, value_len, value = item.split(b"\x1f")
        hs: list[tuple[str, bytes | None]] = []
        if headers:
            for pair in headers.split(b","):
                k, _, v = pair.partition(b"=")
                hs.append((k.decode(), v))
        row = (
            None if int(key_len) < 0 else key,
            None if int(value_len) < 0 else value,
            tuple(hs),
        )
        out.append((int(offset), row))
    return out


# ------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("codec", CODECS)
def test_java_producer_batches_decode_in_kproto(kafka_broker: Any, codec: str) -> None:
    topic = new_topic(kafka_broker, f"java-{codec}")
    data = rows()
    java_produce(kafka_broker, topic, data, codec)
    batches = fetch_all(kafka_broker.bootstrap, topic, len(data))
    assert as_rows(flatten(batches)) == data
    assert [r.offset for r in flatten(batches)] == list(range(len(data)))
    for batch in batches:
        assert batch.magic == 2
        assert batch.compression == Compression[codec.upper()]
        assert batch.has_producer_id  # the Java producer is idempotent by default
    # Large batches: compression really happened.
    if codec != "none":
        assert sum(b.size_in_bytes for b in batches) < sum(len(v or b"") for _, v, _ in data)


@pytest.mark.parametrize("codec", CODECS)
def test_kproto_batches_read_by_java_consumer(kafka_broker: Any, codec: str) -> None:
    topic = new_topic(kafka_broker, f"tojava-{codec}")
    data = ascii_rows()
    resp = produce(kafka_broker.bootstrap, topic, kproto_batch(data, codec))
    assert resp.base_offset == 0
    got = java_consume(kafka_broker, topic, len(data))
    assert [o for o, _ in got] == list(range(len(data)))
    assert [r for _, r in got] == data
    # And the broker stored the codec kproto used (the topic keeps the producer's).
    (batch,) = decode_batches(fetch(kafka_broker.bootstrap, topic).records).batches
    assert batch.compression == Compression[codec.upper()]


@pytest.mark.parametrize("codec", CODECS)
def test_kproto_batches_read_by_kcat(kafka_broker: Any, codec: str) -> None:
    kcat_path()
    topic = new_topic(kafka_broker, f"tokcat-{codec}")
    data = [r for r in rows() if all(v is not None for _, v in r[2])]  # kcat prints no null headers
    produce(kafka_broker.bootstrap, topic, kproto_batch(data, codec))
    got = kcat_consume(kafka_broker.bootstrap, topic)
    assert [o for o, _ in got] == list(range(len(data)))
    assert [r for _, r in got] == data


# --------------------------------------------------------------- legacy message sets


@pytest.mark.parametrize("codec", LEGACY_CODECS)
@pytest.mark.parametrize(("magic", "produce_version"), [(0, 1), (1, 2)])
def test_kproto_legacy_sets_accepted_by_a_39_broker(
    kafka_broker_39: Any, magic: int, produce_version: int, codec: str
) -> None:
    topic = new_topic(kafka_broker_39, f"legacy{magic}-{codec}")
    data = ascii_rows(magic)
    produce(kafka_broker_39.bootstrap, topic, kproto_batch(data, codec, magic), produce_version)
    got = java_consume(kafka_broker_39, topic, len(data))
    assert [r for _, r in got] == data
    assert [o for o, _ in got] == list(range(len(data)))


@pytest.mark.parametrize("codec", LEGACY_CODECS)
@pytest.mark.parametrize(("magic", "fetch_version"), [(0, 1), (1, 3)])
def test_down_converted_java_batches_decode_in_kproto(
    kafka_broker_39: Any, magic: int, fetch_version: int, codec: str
) -> None:
    topic = new_topic(kafka_broker_39, f"down{magic}-{codec}")
    data = rows()
    java_produce(kafka_broker_39, topic, data, codec)
    batches = fetch_all(kafka_broker_39.bootstrap, topic, len(data), version=fetch_version)
    assert {b.magic for b in batches} == {magic}
    assert {b.compression for b in batches} == {Compression[codec.upper()]}
    records = flatten(batches)
    # Down-conversion drops headers; keys, values and offsets survive.
    assert [(r.key, r.value) for r in records] == [(k, v) for k, v, _ in data]
    assert [r.offset for r in records] == list(range(len(data)))
    if magic == 1:
        assert all(r.timestamp > 0 for r in records)
    else:
        assert all(r.timestamp == -1 for r in records)
