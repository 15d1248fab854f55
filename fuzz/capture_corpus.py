"""Capture the fuzz targets' seed corpora from a real Kafka broker.

Runs a few kproto clients (the threads transport: producers of every codec, a consumer, a
group consumer, an admin client, SASL PLAIN and SCRAM producers) against a broker of the test harness, with the
engine's connection hooked so that every request and response frame, every byte stream and
every SASL exchange is recorded, and writes them as inputs of each target:

- ``fuzz/corpus/protocol/``: response and request frames, a few per API and version;
- ``fuzz/corpus/records/``: the records fields of Produce requests and Fetch responses;
- ``fuzz/corpus/sasl/``: the SCRAM exchanges (client and server side) and PLAIN;
- ``fuzz/corpus/framer/``: what the broker sent to fuzz_framer's own connection, driven over a
  socket (PLAINTEXT, SASL PLAIN and SCRAM-SHA-256), as one piece and cut up;
- ``fuzz/corpus/fake/``: the clients' request streams (the start of each connection).

    .venv/bin/python fuzz/capture_corpus.py                  # starts a harness broker
    .venv/bin/python fuzz/capture_corpus.py --bootstrap 127.0.0.1:9092 \\
        --sasl-bootstrap 127.0.0.1:9093                      # a running harness broker

The directories are replaced; the whole stays well under 2 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import socket
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fuzz_framer  # noqa: E402
import fuzz_protocol  # noqa: E402
import fuzz_sasl  # noqa: E402
from _harness import CORPUS_ROOT, ROOT  # noqa: E402

from kproto import OFFSET_OLDEST, ProducerMessage, protocol  # noqa: E402
from kproto.engine import connection as engine_connection  # noqa: E402
from kproto.engine.sasl import Scram  # noqa: E402

TOPIC = "fuzz-corpus"
PER_API_VERSION = 3
MAX_FILE = 64 * 1024


class Recorder:
    """Hooks BrokerConnection and Scram; keeps what went over the wire."""

    def __init__(self) -> None:
        self.responses: list[tuple[int, int, bytes]] = []
        self.outbound: dict[int, bytearray] = defaultdict(bytearray)
        self.sasl_conn: dict[int, bool] = {}
        self.scram: dict[int, dict[str, Any]] = {}

    def install(self) -> None:
        conn_cls = engine_connection.BrokerConnection
        handle_frame, data_to_send = conn_cls._handle_frame, conn_cls.data_to_send
        first, step = Scram.first, Scram.step
        rec = self

        def _handle_frame(conn: Any, frame: bytes, now: float) -> None:
            if conn._in_flight:
                req = conn._in_flight[0]
                rec.responses.append((req.api_key, req.version, frame))
            handle_frame(conn, frame, now)

        def _data_to_send(conn: Any) -> bytes:
            out: bytes = data_to_send(conn)
            rec.outbound[id(conn)] += out
            rec.sasl_conn[id(conn)] = conn.config.uses_sasl
            return out

        def _first(mech: Any) -> bytes:
            out: bytes = first(mech)
            rec.scram[id(mech)] = {"name": mech.name, "nonce": mech._nonce,
                                   "client": [out], "server": []}
            return out

        def _step(mech: Any, challenge: bytes) -> bytes | None:
            entry = rec.scram.get(id(mech))
            if entry is not None:
                entry["server"].append(bytes(challenge))
            out: bytes | None = step(mech, challenge)
            if entry is not None and out is not None:
                entry["client"].append(out)
            return out

        conn_cls._handle_frame = _handle_frame  # type: ignore[method-assign]
        conn_cls.data_to_send = _data_to_send  # type: ignore[method-assign]
        Scram.first = _first  # type: ignore[method-assign]
        Scram.step = _step  # type: ignore[method-assign]


def _frames(stream: bytes) -> list[bytes]:
    out, pos = [], 0
    while len(stream) - pos >= 4:
        size = int.from_bytes(stream[pos:pos + 4], "big")
        if len(stream) - pos - 4 < size:
            break
        out.append(stream[pos + 4:pos + 4 + size])
        pos += 4 + size
    return out


def run_clients(bootstrap: str, sasl_bootstrap: str) -> None:
    import kproto_threads

    with kproto_threads.ClusterAdmin(bootstrap) as admin:
        admin.list_topics()
        admin.describe_cluster()
    headers = [("trace", b"1"), ("empty", None)]
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        with kproto_threads.SyncProducer(bootstrap, compression=codec) as producer:
            producer.send_messages([
                ProducerMessage(TOPIC, f"{codec} value {i}".encode() * (1 + i),
                                key=f"k{i}".encode(), headers=headers, partition=0)
                for i in range(3)])
    with kproto_threads.Consumer(bootstrap) as consumer:
        with consumer.consume_partition(TOPIC, 0, OFFSET_OLDEST, stop_at_end=True) as pc:
            for _ in pc.messages:
                pass
    with kproto_threads.GroupConsumer(bootstrap, group_id="fuzz-corpus",
                                      auto_offset_reset="earliest") as group:
        group.subscribe([TOPIC])
        group.getone(timeout=60.0)
        group.commit()
    for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        with kproto_threads.SyncProducer(
                sasl_bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                sasl_username=fuzz_sasl.USER, sasl_password=fuzz_sasl.PASSWORD) as producer:
            producer.send_message(ProducerMessage(TOPIC, mechanism.encode(), partition=0))


def drive_framer(mode: int, address: tuple[str, int], timeout: float = 20.0) -> bytes:
    """fuzz_framer's connection over a real socket: what the broker sent it."""
    session = fuzz_framer.Session(mode)
    received = bytearray()
    deadline = time.monotonic() + timeout
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.settimeout(0.5)
        while len(session.completed) < fuzz_framer.QUEUED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"framer session {mode}: {session.completed} completed")
            out = session.conn.data_to_send()
            if out:
                sock.sendall(out)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise ConnectionError(f"framer session {mode}: closed by the broker")
            received += data
            session.feed(data, time.monotonic())
    if session.closed_with is not None:
        raise RuntimeError(f"framer session {mode} failed: {session.closed_with}")
    return bytes(received)


def _write(name: str, inputs: list[bytes]) -> int:
    directory = CORPUS_ROOT / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    total = 0
    for data in inputs:
        if len(data) > MAX_FILE:
            continue
        (directory / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)
        total += len(data)
    print(f"fuzz/corpus/{name}: {len(list(directory.iterdir()))} files, {total} bytes")
    return total


def write_corpora(rec: Recorder, framer: list[bytes]) -> None:
    P = fuzz_protocol
    seen: dict[tuple[int, int, int], int] = defaultdict(int)
    proto: list[bytes] = []
    records: list[bytes] = []

    def add(kind: int, key: int, version: int, frame: bytes) -> None:
        if seen[kind, key, version] < PER_API_VERSION and len(frame) < MAX_FILE:
            seen[kind, key, version] += 1
            proto.append(P.selector(kind, key, version) + frame)

    for key, version, frame in rec.responses:
        add(P.RESPONSE_FRAME, key, version, frame)
        if key == 1:
            _, fetch = protocol.decode_response(frame, key, version)
            records.extend(b"\x02" + bytes(p.records) for t in fetch.responses
                           for p in t.partitions if p.records)
    fake: list[bytes] = []
    for conn, stream in rec.outbound.items():
        frames = _frames(bytes(stream))
        for frame in frames:
            header, request, version = protocol.decode_request(frame)
            add(P.REQUEST_FRAME, header.request_api_key, version, frame)
            if header.request_api_key == 0:
                records.extend(b"\x02" + bytes(p.records) for t in request.topic_data
                               for p in t.partition_data if p.records)
        head = b"".join(len(f).to_bytes(4, "big") + f for f in frames[:12])
        fake.append(bytes([int(rec.sasl_conn[conn]), 0, 0]) + head)
    sasl: list[bytes] = []
    sep = fuzz_sasl.SEP
    for entry in rec.scram.values():
        side = fuzz_sasl.CLIENT_MECHANISMS.index(entry["name"])
        sasl.append(bytes([side]) + sep.join([entry["nonce"].encode(), *entry["server"]]))
        sasl.append(bytes([4 + side]) + sep.join(entry["client"]))
    plain = f"\0{fuzz_sasl.USER}\0{fuzz_sasl.PASSWORD}".encode()
    sasl += [b"\x03" + plain, b"\x02"]
    total = sum(_write(name, inputs) for name, inputs in (
        ("protocol", proto), ("records", records), ("sasl", sasl), ("framer", framer),
        ("fake", fake)))
    print(f"total {total} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--bootstrap", help="PLAINTEXT host:port of a running harness broker")
    parser.add_argument("--sasl-bootstrap", help="its SASL_PLAINTEXT host:port")
    args = parser.parse_args()
    cluster = None
    if args.bootstrap is None:
        sys.path.insert(0, str(ROOT))
        from tests.harness.broker import start_broker
        from tests.harness.jars import chosen_version

        cluster = start_broker(chosen_version())
        bootstrap = cluster.bootstrap
        sasl_bootstrap = cluster.bootstrap_for("SASL_PLAINTEXT")
        cluster.create_topic(TOPIC, 1)
    else:
        bootstrap, sasl_bootstrap = args.bootstrap, args.sasl_bootstrap
    try:
        rec = Recorder()
        rec.install()
        run_clients(bootstrap, sasl_bootstrap)
        framer = []
        for mode, boot in ((0, bootstrap), (1, sasl_bootstrap), (2, sasl_bootstrap)):
            host, _, port = boot.rpartition(":")
            stream = drive_framer(mode, (host, int(port)))
            for cut in (0, 1, 0x1234):
                framer.append(bytes([mode]) + cut.to_bytes(2, "big") + stream)
        write_corpora(rec, framer)
    finally:
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    main()
