"""The producers beside other clients: where keys land (the Java producer, kcat) and what a
read_committed reader sees of kproto's transactions (kcat, the Java console consumer)."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from typing import Any

import pytest

from kproto.message_types import ProducerMessage
from kproto.producer import TxnStatus
from kproto.protocol import OffsetFetchRequest
from kproto.protocol.messages.offset_fetch_request import OffsetFetchRequestTopic
from tests.conformance.drivers import TRANSPORTS
from tests.producer.helpers import Raw, producer, read_partition, take

pytestmark = pytest.mark.interop
each = pytest.mark.parametrize("transport", TRANSPORTS)
PARTITIONS = 7
KEYS = [b"key-%d" % i for i in range(60)] + [b"", b"\x00\xff", "ключ".encode()]


def topic_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def kcat() -> str:
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if path is None:
        pytest.skip("kcat is not installed (the Debian package kcat; ./dev test installs it)")
    return path


def placement(bootstrap: str, topic: str) -> dict[bytes, int]:
    """key -> partition of every record in the topic (each key written once)."""
    out: dict[bytes, int] = {}
    for part in range(PARTITIONS):
        for rec in read_partition(bootstrap, topic, part):
            assert rec.key is not None
            out[rec.key] = part
    return out


def kproto_placement(transport: str, broker: Any, partitioner: str) -> dict[bytes, int]:
    topic = topic_name(f"kp-{partitioner}-{transport}")
    broker.create_topic(topic, partitions=PARTITIONS)
    bootstrap = broker.bootstrap
    with producer(transport, "AsyncProducer", bootstrap, partitioner=partitioner,
                  linger=0.01) as p:
        for key in KEYS:
            p.send(ProducerMessage(topic, b"v", key=key))
        done = take(transport, p, "successes", len(KEYS))
    placed = {m.key: m.partition for m in done}
    assert placement(bootstrap, topic) == placed  # what the successes say is what is stored
    return placed


def kcat_placement(bootstrap: str, topic: str, partitioner: str) -> dict[bytes, int]:
    lines = "".join(f"{k.decode('utf-8', 'surrogateescape')}\t{i}\n" for i, k in enumerate(KEYS)
                    if k and b"\t" not in k and b"\n" not in k)
    subprocess.run([kcat(), "-P", "-b", bootstrap, "-t", topic, "-p", "-1", "-K", "\t",
                    "-X", f"topic.partitioner={partitioner}"],
                   input=lines.encode("utf-8", "surrogateescape"), check=True, timeout=60)
    return placement(bootstrap, topic)


@pytest.fixture(scope="module")
def origins(kafka_broker: Any) -> dict[str, dict[bytes, int]]:
    """Where the Java producer and kcat put each key (computed once for every transport)."""
    out: dict[str, dict[bytes, int]] = {}
    java = topic_name("java-keys")
    kafka_broker.create_topic(java, partitions=PARTITIONS)
    lines = "".join(f"{k.decode('utf-8', 'surrogateescape')}\t{i}\n" for i, k in enumerate(KEYS)
                    if k and b"\x00" not in k)
    proc = kafka_broker.java_tool(
        "console-producer", "--bootstrap-server", kafka_broker.bootstrap, "--topic", java,
        "--property", "parse.key=true", "--property", "key.separator=\t", input=lines)
    assert proc.returncode == 0, proc.stderr
    out["java"] = placement(kafka_broker.bootstrap, java)
    for partitioner in ("murmur2_random", "consistent"):
        topic = topic_name(f"kcat-{partitioner}")
        kafka_broker.create_topic(topic, partitions=PARTITIONS)
        out[partitioner] = kcat_placement(kafka_broker.bootstrap, topic, partitioner)
    return out


@each
def test_default_partitioner_places_keys_like_the_java_producer_and_kcat_murmur2(
        transport: str, kafka_broker: Any, origins: dict[str, dict[bytes, int]]) -> None:
    ours = kproto_placement(transport, kafka_broker, "default")
    java, kc = origins["java"], origins["murmur2_random"]
    assert len(java) >= 60 and len(kc) >= 60
    assert {k: ours[k] for k in java} == java
    assert {k: ours[k] for k in kc} == kc
    assert len(set(ours.values())) == PARTITIONS  # and it spreads keys over the topic


@each
def test_crc_partitioner_places_keys_like_kcat_consistent(
        transport: str, kafka_broker: Any, origins: dict[str, dict[bytes, int]]) -> None:
    ours = kproto_placement(transport, kafka_broker, "consistent-crc")
    kc = origins["consistent"]
    assert len(kc) >= 60
    assert {k: ours[k] for k in kc} == kc
    assert ours != kproto_placement(transport, kafka_broker, "default")


# -- transactions -------------------------------------------------------------------------------


def kcat_committed(bootstrap: str, topic: str) -> list[str]:
    proc = subprocess.run([kcat(), "-C", "-b", bootstrap, "-t", topic, "-p", "0", "-o",
                           "beginning", "-e", "-q", "-X", "isolation.level=read_committed",
                           "-f", "%s\n"], capture_output=True, check=True, timeout=60)
    return proc.stdout.decode().split()


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    raw = Raw(bootstrap)
    try:
        resp = raw.request(OffsetFetchRequest(group_id=group, topics=[
            OffsetFetchRequestTopic(name=topic, partition_indexes=[0, 1])]), 7)
    finally:
        raw.close()
    assert resp.error_code == 0
    return {p.partition_index: p.committed_offset for t in resp.topics for p in t.partitions}


@each
def test_committed_and_aborted_transactions_seen_by_read_committed_readers(
        transport: str, kafka_broker: Any) -> None:
    topic = topic_name(f"txn-{transport}")
    kafka_broker.create_topic(topic, partitions=2)
    group = f"g-{topic}"
    txn_id = f"tx-{topic}"
    with producer(transport, "SyncProducer", kafka_broker.bootstrap,
                  transactional_id=txn_id, transaction_timeout=30.0) as p:
        assert p.is_transactional() and p.txn_status() == TxnStatus.UNINITIALIZED
        p.begin_txn()
        assert p.txn_status() == TxnStatus.IN_TRANSACTION
        p.send_messages([ProducerMessage(topic, b"commit-%d" % i, partition=0)
                         for i in range(3)])
        p.add_offsets_to_txn({topic: {0: 17, 1: (23, "m")}}, group)
        p.commit_txn()
        assert p.txn_status() == TxnStatus.READY
        p.begin_txn()
        p.send_messages([ProducerMessage(topic, b"abort-%d" % i, partition=0)
                         for i in range(3)])
        p.add_offsets_to_txn({topic: {0: 99}}, group)
        p.abort_txn()
        p.begin_txn()
        p.send_message(ProducerMessage(topic, b"commit-3", partition=0))
        p.commit_txn()
    want = ["commit-0", "commit-1", "commit-2", "commit-3"]
    # The last commit's marker is written after EndTxn was answered: until then kcat's
    # read_committed end stops short of commit-3. Ask again (bounded) until it is there.
    deadline = time.monotonic() + 60.0
    while (seen := kcat_committed(kafka_broker.bootstrap, topic)) != want \
            and time.monotonic() < deadline:
        pass
    assert seen == want
    everything = [r.value for r in read_partition(kafka_broker.bootstrap, topic, 0)]
    assert everything == [b"commit-0", b"commit-1", b"commit-2", b"abort-0", b"abort-1",
                          b"abort-2", b"commit-3"]
    committed = [r.value for r in read_partition(kafka_broker.bootstrap, topic, 0,
                                                  committed=True)]
    assert committed == [w.encode() for w in want]
    assert committed_offsets(kafka_broker.bootstrap, group, topic) == {0: 17, 1: 23}


def test_java_console_consumer_reads_only_committed(kafka_broker: Any) -> None:
    topic = topic_name("txn-java")
    kafka_broker.create_topic(topic, partitions=1)
    with producer("threads", "AsyncProducer", kafka_broker.bootstrap,
                  transactional_id=f"tx-{topic}") as p:
        for word in ("keep", "drop"):
            p.begin_txn()
            for i in range(2):
                p.send(ProducerMessage(topic, f"{word}-{i}".encode()))
            if word == "keep":
                p.commit_txn()
            else:
                p.flush()
                p.abort_txn()
        take("threads", p, "successes", 4)
    proc = kafka_broker.java_tool(
        "console-consumer", "--bootstrap-server", kafka_broker.bootstrap, "--topic", topic,
        "--from-beginning", "--isolation-level", "read_committed", "--timeout-ms", "10000")
    assert proc.stdout.split() == ["keep-0", "keep-1"], proc.stderr
