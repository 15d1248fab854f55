"""What the Consumer reads from a real broker, written by other clients: volume, every codec,
transactions (kproto's and the Java client's) and the legacy message formats."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from kproto.message_types import OFFSET_OLDEST, ProducerMessage
from tests.conformance.drivers import TRANSPORTS
from tests.consumer.drivers import Partition, consumer, produce
from tests.protocol.java_interop import run_java_source

each = pytest.mark.parametrize("transport", TRANSPORTS)
HERE = Path(__file__).resolve().parent
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
SEP = "|"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- volume ----------------------------------------------------------------------------------

VOLUME = 100_000
VOLUME_PARTITIONS = 6


def volume_value(partition: int, i: int) -> bytes:
    return (b"%d:%07d:" % (partition, i)).ljust(100, b"x")


@pytest.fixture(scope="module")
def volume_topic(kafka_broker: Any) -> str:
    topic = unique("cons-volume")
    kafka_broker.create_topic(topic, partitions=VOLUME_PARTITIONS)
    counts = [0] * VOLUME_PARTITIONS
    items = []
    for n in range(VOLUME):
        p = n % VOLUME_PARTITIONS
        items.append((p, None, volume_value(p, counts[p])))
        counts[p] += 1
    produce(kafka_broker.bootstrap, topic, items, batch_bytes=64 * 1024)
    return topic


@pytest.mark.slow
@each
def test_a_hundred_thousand_records_once_each_in_order(transport: str, kafka_broker: Any,
                                                       volume_topic: str) -> None:
    per = [len(range(p, VOLUME, VOLUME_PARTITIONS)) for p in range(VOLUME_PARTITIONS)]
    with consumer(transport, kafka_broker.bootstrap, max_partition_fetch_bytes=256 * 1024,
                  partition_buffer_bytes=512 * 1024) as c:
        pcs = [Partition(c, c.consume_partition(volume_topic, p, OFFSET_OLDEST))
               for p in range(VOLUME_PARTITIONS)]
        # Read the partitions in turns, so each one's buffer fills and drains many times.
        got: list[list[Any]] = [[] for _ in pcs]
        chunk = 2000
        # Buffered bytes stay under the bound plus one fetch (a message is over 100 bytes;
        # batches are smaller than a fetch).
        most = (512 * 1024 + 256 * 1024) // 100
        while any(len(g) < n for g, n in zip(got, per, strict=True)):
            for p, pc in enumerate(pcs):
                want = min(chunk, per[p] - len(got[p]))
                if want:
                    got[p] += pc.take(want)
                assert all(other.buffered() <= most for other in pcs)
        for p, msgs in enumerate(got):
            assert [m.offset for m in msgs] == list(range(per[p]))
            assert all(m.value == volume_value(p, m.offset) for m in msgs)
            assert all(m.partition == p and m.topic == volume_topic for m in msgs)
            assert pcs[p].buffered() == 0
        assert c.high_water_marks() == {volume_topic: dict(enumerate(per))}
        assert sum(len(g) for g in got) == VOLUME


# -- codecs ----------------------------------------------------------------------------------

def codec_rows(codec: str) -> list[tuple[str, str, str]]:
    """(key, headers, value) lines for the console producer."""
    return [(f"k{i}", f"h{i}:{codec}", f"{codec}-{i}-" + "y" * (i % 40)) for i in range(300)]


@pytest.fixture(scope="module")
def codec_topics(kafka_broker: Any) -> dict[str, str]:
    """One topic per codec, written by the Java console producer with that codec."""
    topics = {}
    for codec in CODECS:
        topic = unique(f"cons-codec-{codec}")
        kafka_broker.create_topic(topic, partitions=1)
        lines = "".join(f"{h}{SEP}{k}{SEP}{v}\n" for k, h, v in codec_rows(codec))
        proc = kafka_broker.java_tool(
            "console-producer", "--bootstrap-server", kafka_broker.bootstrap, "--topic", topic,
            "--compression-codec", codec, "--property", "parse.key=true",
            "--property", "parse.headers=true", "--property", f"key.separator={SEP}",
            "--property", f"headers.delimiter={SEP}",
            "--producer-property", "linger.ms=100", "--producer-property", "batch.size=65536",
            input=lines, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        topics[codec] = topic
    return topics


@pytest.mark.interop
@each
def test_every_codec_the_java_producer_writes(transport: str, kafka_broker: Any,
                                              codec_topics: dict[str, str]) -> None:
    with consumer(transport, kafka_broker.bootstrap) as c:
        for codec, topic in codec_topics.items():
            rows = codec_rows(codec)
            pc = Partition(c, c.consume_partition(topic, 0, OFFSET_OLDEST))
            got = pc.take(len(rows))
            assert [m.offset for m in got] == list(range(len(rows))), codec
            assert [(m.key, m.headers, m.value) for m in got] == [
                (k.encode(), ((h.split(":")[0], h.split(":")[1].encode()),), v.encode())
                for k, h, v in rows], codec
            # Starting inside a compressed batch skips the records before the offset.
            pc.call("close")
            pc = Partition(c, c.consume_partition(topic, 0, 157))
            assert [m.offset for m in pc.take(3)] == [157, 158, 159], codec
            pc.call("close")


# -- transactions ----------------------------------------------------------------------------

def kproto_transactions(bootstrap: str, topic: str) -> list[bytes]:
    """Transactions written by kproto's producer; returns the committed values in order."""
    import kproto_threads

    committed: list[bytes] = []
    with kproto_threads.SyncProducer(bootstrap, transactional_id=f"tx-{topic}",
                                     transaction_timeout=30.0) as p:
        for r in range(6):
            word = "abort" if r % 3 == 1 else "commit"
            p.begin_txn()
            values = [b"%s-%d-%d" % (word.encode(), r, i) for i in range(4)]
            p.send_messages([ProducerMessage(topic, v, partition=0) for v in values])
            if word == "commit":
                p.commit_txn()
                committed += values
            else:
                p.abort_txn()
    return committed


def java_transactions(broker: Any, topic: str, rounds: int = 6) -> list[bytes]:
    """Transactions written by the Java client (TxnProducer.java); the committed values."""
    run_java_source(HERE / "java" / "TxnProducer.java", broker.bootstrap, topic,
                    f"tx-{topic}", str(rounds))
    out: list[bytes] = []
    for r in range(rounds):
        if r % 3 != 1:
            out += [b"commit-%d-%d" % (r, i) for i in range(5)]
        out.append(b"plain-%d" % r)
    return out


@pytest.mark.interop
@each
@pytest.mark.parametrize("writer", ["kproto", "java"])
def test_read_committed_sees_only_committed_transactions(transport: str, writer: str,
                                                         kafka_broker: Any) -> None:
    topic = unique(f"cons-txn-{writer}-{transport}")
    kafka_broker.create_topic(topic, partitions=1)
    if writer == "kproto":
        committed = kproto_transactions(kafka_broker.bootstrap, topic)
    else:
        committed = java_transactions(kafka_broker, topic)
    with consumer(transport, kafka_broker.bootstrap, isolation_level="read_committed") as c:
        pc = Partition(c, c.consume_partition(topic, 0, OFFSET_OLDEST))
        got = pc.take(len(committed))
        assert [m.value for m in got] == committed
        offsets = [m.offset for m in got]
        assert offsets == sorted(set(offsets))
    with consumer(transport, kafka_broker.bootstrap) as c:
        pc = Partition(c, c.consume_partition(topic, 0, OFFSET_OLDEST))
        everything = [m.value for m in pc.take(len(committed))]
        assert any(v.startswith(b"abort") for v in everything)  # read_uncommitted sees them


# -- legacy message formats ------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["threads"])
@pytest.mark.parametrize(("fetch_version", "codec"),
                         [(1, "none"), (1, "gzip"), (3, "snappy"), (3, "lz4"), (2, "none")])
def test_legacy_message_formats_from_down_conversion(transport: str, fetch_version: int,
                                                     codec: str, kafka_broker_39: Any) -> None:
    topic = unique(f"cons-legacy-{fetch_version}-{codec}")
    kafka_broker_39.create_topic(topic, partitions=1)
    produce(kafka_broker_39.bootstrap, topic,
            [(0, b"k%d" % i, b"legacy-%d" % i) for i in range(200)], compression=codec)
    with consumer(transport, kafka_broker_39.bootstrap, fetch_max_version=fetch_version) as c:
        pc = Partition(c, c.consume_partition(topic, 0, OFFSET_OLDEST))
        got = pc.take(200)
        assert [(m.offset, m.key, m.value) for m in got] == [
            (i, b"k%d" % i, b"legacy-%d" % i) for i in range(200)]
        # Fetch v0-1 carry magic 0 messages (no timestamp); v2-3 magic 1.
        assert {m.timestamp_type for m in got} == ({-1} if fetch_version < 2 else {0})
        pc.call("close")
        pc = Partition(c, c.consume_partition(topic, 0, 123))
        assert [m.offset for m in pc.take(2)] == [123, 124]
