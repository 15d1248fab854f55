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
import socket
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
from kproto.testing import FakeCluster, changing
from tests.conformance.drivers import TRANSPORTS
from tests.conftest import in_ci

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


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_stopped_broker_drops_its_sockets_and_refuses_new_ones(transport: str) -> None:
    cluster = FakeCluster(3)
    cluster.create_topic("t", 1, replication_factor=3)
    with served(transport, cluster) as bootstrap, \
            kproto_threads.SyncProducer(bootstrap, retry_backoff=0.01) as producer:
        assert producer.send_message(ProducerMessage("t", b"a")) == (0, 0)
        leader = cluster.partition("t", 0).leader  # type: ignore[union-attr]
        with changing(cluster) as now:
            cluster.stop_broker(leader, now)
        assert producer.send_message(ProducerMessage("t", b"b")) == (0, 1)
        host, port = cluster.brokers[leader].host, cluster.brokers[leader].port
        with socket.create_connection((host, port), timeout=WAIT) as sock:
            sock.settimeout(WAIT)
            assert sock.recv(1) == b""  # accepted by the OS, closed by the stopped broker
        with changing(cluster) as now:
            cluster.start_broker(leader, now)
            cluster.move_leader("t", 0, leader, now)
        assert producer.send_message(ProducerMessage("t", b"c")) == (0, 2)


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


# -- Java's console tools ---------------------------------------------------------------------

def java_version() -> str:
    """The Kafka version whose Java tools run (skipped outside CI when Java is missing)."""
    from tests.harness.jars import MissingTool, chosen_version
    from tests.harness.java import find_java, tool_class

    version = chosen_version()
    try:
        find_java()
        tool_class(version, "console-consumer")
    except MissingTool as exc:
        if in_ci():
            raise
        pytest.skip(f"the Java tools cannot run here: {exc}")
    return version


def java_tool(name: str, *args: str, input: str | None = None) -> str:
    from tests.harness.java import run_tool

    proc = run_tool(java_version(), name, *args, input=input, timeout=120.0)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.interop
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_java_console_producer_and_consumer(transport: str) -> None:
    cluster = FakeCluster(3, topics={"java": 2})
    sent = lines(6, "java")
    with served(transport, cluster) as bootstrap:
        java_tool("console-producer", "--bootstrap-server", bootstrap, "--topic", "java",
                  input="\n".join(sent) + "\n")
        assert sum(p.log.log_end_offset for p in cluster.topics["java"].partitions) == 6
        out = java_tool("console-consumer", "--bootstrap-server", bootstrap, "--topic", "java",
                        "--from-beginning", "--max-messages", "6", "--timeout-ms", "30000")
        with kproto_threads.Consumer(bootstrap) as consumer:
            read = []
            for p in range(2):
                with consumer.consume_partition("java", p, OFFSET_OLDEST) as pc:
                    end = cluster.topics["java"].partitions[p].log.log_end_offset
                    read += [pc.messages.get(WAIT).value.decode() for _ in range(end)]
    assert sorted(out.split()) == sorted(sent)
    assert sorted(read) == sorted(sent)


@pytest.mark.interop
@pytest.mark.slow
def test_a_java_consumer_shares_a_group_with_kproto_members() -> None:
    """Two kproto members (threads, asyncio) and Java's console consumer split six partitions
    two each (the range assignor, the one they all offer) and read each record once."""
    from tests.group.members import Ledger, member
    from tests.harness.java import java_command, tool_class

    version = java_version()
    cluster = FakeCluster(3, topics={"shared": 6})
    ledger = Ledger()
    options = {"group_id": "mixed", "session_timeout": 10.0, "heartbeat_interval": 0.5,
               "auto_offset_reset": "earliest"}
    with served("threads", cluster) as bootstrap, \
            member("threads", bootstrap, ["shared"], ledger, "a", **options), \
            member("asyncio", bootstrap, ["shared"], ledger, "b", **options):
        ledger.wait("the kproto members to share every partition",
                    lambda: len(ledger.held_by("a") | ledger.held_by("b")) == 6, WAIT)
        java = subprocess.Popen(
            java_command(version, tool_class(version, "console-consumer"),
                         "--bootstrap-server", bootstrap, "--topic", "shared", "--group",
                         "mixed", "--property", "print.partition=true",
                         "--consumer-property", "auto.offset.reset=earliest",
                         "--consumer-property", "partition.assignment.strategy="
                         "org.apache.kafka.clients.consumer.RangeAssignor",
                         # It leaves once it has its two partitions' records.
                         "--max-messages", "10", "--timeout-ms", "60000"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            group = cluster.groups.groups["mixed"]
            until("the Java consumer to join and the group to settle, two partitions each",
                  lambda: len(group.members) == 3 and group.state == "Stable"
                  and len(ledger.held_by("a")) == len(ledger.held_by("b")) == 2, 60.0)
            kproto_partitions = {p for _, p in ledger.held_by("a") | ledger.held_by("b")}
            for p in set(range(6)) - kproto_partitions:  # Java reads (and commits) these
                ledger.processed_elsewhere("shared", p, range(5))
            with kproto_threads.SyncProducer(bootstrap) as producer:
                for p in range(6):
                    producer.send_messages([ProducerMessage("shared", v.encode(), partition=p)
                                            for v in lines(5, f"p{p}")])
            ledger.wait("the kproto members to read their partitions",
                        lambda: ledger.complete({("shared", p): 5 for p in kproto_partitions}),
                        WAIT)
            out, err = java.communicate(timeout=90)
        finally:
            if java.poll() is None:
                java.kill()
                java.communicate()
        assert java.returncode == 0, out + err
    java_read = [line.split() for line in out.splitlines() if line.startswith("Partition:")]
    java_partitions = {int(fields[0].split(":")[1]) for fields in java_read}
    assert len(kproto_partitions) == 4 and len(java_partitions) == 2
    assert kproto_partitions | java_partitions == set(range(6))
    assert sorted(fields[-1] for fields in java_read) == sorted(
        v for p in java_partitions for v in lines(5, f"p{p}"))
    # Java committed what it read as it left: the kproto members that took its partitions
    # back started after those records and read none of them again.
    assert not [tp for parts in ledger.by_member.values() for tp in parts
                if tp[1] in java_partitions]
    assert not ledger.violations
