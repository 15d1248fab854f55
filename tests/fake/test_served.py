"""The fake cluster served on 127.0.0.1 by each adapter, for clients that are not kproto.

Each broker listens on its own port and Metadata advertises it. confluent-kafka (librdkafka),
kcat and Java's console producer and consumer produce to it and consume from it; a Java
consumer shares a group with kproto members. Every wait is bounded and waits on a condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trio

import kproto_asyncio.fake
import kproto_threads
import kproto_threads.fake
import kproto_trio.fake
from kproto import OFFSET_OLDEST, ProducerMessage
from kproto.testing import FakeCluster
from tests.conformance.drivers import TRANSPORTS

WAIT = 30.0


@contextlib.contextmanager
def served(transport: str, cluster: FakeCluster) -> Iterator[str]:
    """``cluster`` served by ``transport`` (asyncio and trio on a thread of their own)."""
    if transport == "threads":
        with kproto_threads.fake.serve(cluster) as server:
            yield server.bootstrap
        return
    ready: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()

    async def on_asyncio() -> None:
        async with kproto_asyncio.fake.serve(cluster) as server:
            ready.put(server.bootstrap)
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)

    async def on_trio() -> None:
        async with kproto_trio.fake.serve(cluster) as server:
            ready.put(server.bootstrap)
            await trio.to_thread.run_sync(stop.wait)

    def run() -> None:
        try:
            if transport == "asyncio":
                asyncio.run(on_asyncio())
            else:
                trio.run(on_trio)
        except BaseException as exc:  # reported to the test
            ready.put(exc)

    thread = threading.Thread(target=run, name=f"fake-server-{transport}", daemon=True)
    thread.start()
    first = ready.get(timeout=WAIT)
    if isinstance(first, BaseException):
        raise first
    try:
        yield first
    finally:
        stop.set()
        thread.join(WAIT)
        assert not thread.is_alive(), "the server did not stop"
        assert ready.empty(), ready.get()


def until(what: str, predicate: Any, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting {timeout:g}s for {what}"


def lines(n: int, prefix: str) -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_broker_has_its_own_advertised_port(transport: str) -> None:
    cluster = FakeCluster(3, topics={"t": 3})
    with served(transport, cluster) as bootstrap, kproto_threads.Client(bootstrap) as client:
        metadata = client.metadata(["t"])
        ports = {b.port for b in cluster.brokers.values()}
        assert len(ports) == 3
        assert bootstrap == ",".join(f"127.0.0.1:{b.port}" for b in cluster.brokers.values())
        assert {(b.host, b.port) for b in metadata.brokers} == \
            {("127.0.0.1", p) for p in ports}


@pytest.mark.interop
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_confluent_kafka_produces_and_consumes_in_a_group(transport: str) -> None:
    ck = pytest.importorskip("confluent_kafka")
    cluster = FakeCluster(3, topics={"ck": 3})
    with served(transport, cluster) as bootstrap:
        producer = ck.Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                                "compression.type": "lz4"})
        for value in lines(30, "ck"):
            producer.produce("ck", value=value.encode(), key=value[-1:].encode())
        assert producer.flush(WAIT) == 0
        del producer
        consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "ck-group",
                                "auto.offset.reset": "earliest",
                                "enable.auto.commit": False})
        got: list[str] = []
        try:
            consumer.subscribe(["ck"])

            def more() -> bool:
                message = consumer.poll(0.5)
                if message is not None:
                    assert message.error() is None, message.error()
                    got.append(message.value().decode())
                return len(got) >= 30

            until("confluent-kafka to read 30 records", more)
            consumer.commit(asynchronous=False)
        finally:
            consumer.close()
    assert sorted(got) == sorted(lines(30, "ck"))
    log_ends = {("ck", p.index): p.log.log_end_offset for p in cluster.topics["ck"].partitions}
    assert sum(log_ends.values()) == 30
    committed = cluster.groups.groups["ck-group"].offsets
    assert {tp: c.offset for tp, c in committed.items()} == \
        {tp: end for tp, end in log_ends.items() if end}


@pytest.mark.interop
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_kproto_over_the_sockets_reads_what_kproto_wrote(transport: str) -> None:
    cluster = FakeCluster(1, topics={"k": 1})
    with served(transport, cluster) as bootstrap:
        with kproto_threads.SyncProducer(bootstrap) as producer:
            producer.send_messages([ProducerMessage("k", v.encode()) for v in lines(5, "k")])
        with kproto_threads.Consumer(bootstrap) as consumer, \
                consumer.consume_partition("k", 0, OFFSET_OLDEST) as pc:
            got = [pc.messages.get(WAIT).value.decode() for _ in range(5)]
    assert got == lines(5, "k")


KCAT = shutil.which("kcat")


@pytest.mark.interop
@pytest.mark.skipif(KCAT is None, reason="kcat is not on PATH (./dev test installs it)")
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_kcat_produces_and_consumes(transport: str) -> None:
    assert KCAT is not None
    cluster = FakeCluster(3, topics={"kc": 1})
    sent = lines(10, "kcat")
    with served(transport, cluster) as bootstrap:
        subprocess.run([KCAT, "-b", bootstrap, "-P", "-t", "kc", "-p", "0", "-z", "snappy"],
                       input="\n".join(sent) + "\n", text=True, check=True, timeout=WAIT,
                       capture_output=True)
        proc = subprocess.run([KCAT, "-b", bootstrap, "-C", "-t", "kc", "-o", "beginning",
                               "-e", "-q", "-c", "10"], text=True, check=True, timeout=WAIT,
                              capture_output=True)
    assert proc.stdout.split() == sent
    assert cluster.topics["kc"].partitions[0].log.log_end_offset == 10
