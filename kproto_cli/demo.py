"""The demo: a real broker, one topic per transport, records written and read back.

Without ``--bootstrap`` it starts an Apache Kafka broker with the test harness (the jars are
fetched once and cached). Each transport creates a topic, writes records with a Produce
request, reads them back with a Fetch request and prints them, so the same exchange is shown
on threads, asyncio and trio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import trio

from kproto import protocol
from kproto.errors import raise_for_code
from kproto.protocol.messages import create_topics_request as ct
from kproto.protocol.messages import fetch_request as fr
from kproto.protocol.messages import produce_request as pr
from kproto.records import BatchBuilder, Compression, decode_batches

CREATE_TOPICS, PRODUCE, FETCH = 19, 0, 1
RECORDS = [(b"k1", b"hello"), (b"k2", b"from"), (None, b"kproto")]


def create_topic(name: str) -> Any:
    return lambda v: protocol.CreateTopicsRequest(
        topics=[ct.CreatableTopic(name=name, num_partitions=1, replication_factor=-1)],
        timeout_ms=10_000)


def produce(topic: str, transport: str) -> Any:
    builder = BatchBuilder(compression=Compression.LZ4)
    now_ms = int(time.time() * 1000)
    for key, value in RECORDS:
        builder.append(now_ms, key, value, (("transport", transport.encode()),))
    batch = builder.build()
    return lambda v: protocol.ProduceRequest(acks=-1, timeout_ms=10_000, topic_data=[
        pr.TopicProduceData(name=topic, partition_data=[
            pr.PartitionProduceData(index=0, records=batch)])])


def fetch(topic: str, topic_id: Any, offset: int) -> Any:
    return lambda v: protocol.FetchRequest(max_wait_ms=1000, min_bytes=1, topics=[
        fr.FetchTopic(topic=topic if v < 13 else "", topic_id=topic_id if v >= 13 else
                      fr.FetchTopic().topic_id,
                      partitions=[fr.FetchPartition(partition=0, fetch_offset=offset,
                                                    partition_max_bytes=1 << 20)])])


def check_created(result: tuple[int, Any]) -> None:
    for t in result[1].topics:
        if t.error_code not in (0, 36):  # 36: the topic exists already
            raise_for_code(t.error_code, t.error_message)


def base_offset(result: tuple[int, Any]) -> int:
    part = result[1].responses[0].partition_responses[0]
    raise_for_code(part.error_code)
    return int(part.base_offset)


def show(transport: str, topic: str, offset: int, result: tuple[int, Any]) -> int:
    part = result[1].responses[0].partitions[0]
    raise_for_code(part.error_code)
    records = [r for b in decode_batches(part.records or b"").batches for r in b.records]
    print(f"[{transport}] wrote 3 records to {topic} at offset {offset}; read back:")
    for r in records:
        if r.offset >= offset:
            print(f"    offset {r.offset}: key={r.key!r} value={r.value!r} headers={r.headers}")
    return sum(1 for r in records if r.offset >= offset)


def run_threads(bootstrap: str) -> int:
    import kproto_threads
    topic = "kproto-demo-threads"
    with kproto_threads.Client(bootstrap) as client:
        check_created(client.request(CREATE_TOPICS, create_topic(topic)))
        meta = client.metadata([topic])
        leader = meta.topics[topic].partitions[0].leader
        offset = base_offset(client.request(PRODUCE, produce(topic, "threads"), leader))
        got = client.request(FETCH, fetch(topic, meta.topics[topic].topic_id, offset), leader)
        return show("threads", topic, offset, got)


async def run_asyncio(bootstrap: str) -> int:
    import kproto_asyncio
    topic = "kproto-demo-asyncio"
    async with kproto_asyncio.Client(bootstrap) as client:
        check_created(await client.request(CREATE_TOPICS, create_topic(topic)))
        meta = await client.metadata([topic])
        leader = meta.topics[topic].partitions[0].leader
        offset = base_offset(await client.request(PRODUCE, produce(topic, "asyncio"), leader))
        got = await client.request(FETCH, fetch(topic, meta.topics[topic].topic_id, offset),
                                   leader)
        return show("asyncio", topic, offset, got)


async def run_trio(bootstrap: str) -> int:
    import kproto_trio
    topic = "kproto-demo-trio"
    async with kproto_trio.Client(bootstrap) as client:
        check_created(await client.request(CREATE_TOPICS, create_topic(topic)))
        meta = await client.metadata([topic])
        leader = meta.topics[topic].partitions[0].leader
        offset = base_offset(await client.request(PRODUCE, produce(topic, "trio"), leader))
        got = await client.request(FETCH, fetch(topic, meta.topics[topic].topic_id, offset),
                                   leader)
        return show("trio", topic, offset, got)


@contextlib.contextmanager
def broker(bootstrap: str | None, version: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    try:
        from tests.harness.broker import KafkaCluster
        from tests.harness.jars import chosen_version
    except ImportError:
        raise SystemExit("no --bootstrap given and the broker harness (tests/harness, in a "
                         "source checkout) is not importable") from None
    version = version or chosen_version()
    print(f"starting Apache Kafka {version} on 127.0.0.1 ...", flush=True)
    cluster = KafkaCluster(version, 1)
    cluster.start()
    try:
        print(f"broker up at {cluster.bootstrap} after {cluster.start_seconds:.1f}s")
        yield cluster.bootstrap
    finally:
        cluster.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kproto", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="write and read records through all three transports")
    demo.add_argument("--bootstrap", help="an existing cluster (default: start a broker)")
    demo.add_argument("--kafka-version", help="the Kafka version the harness starts")
    args = parser.parse_args(argv)
    with broker(args.bootstrap, args.kafka_version) as bootstrap:
        counts = [run_threads(bootstrap), asyncio.run(run_asyncio(bootstrap)),
                  trio.run(run_trio, bootstrap)]
    ok = counts == [len(RECORDS)] * 3
    print("demo", "succeeded" if ok else f"failed: read back {counts}")
    return 0 if ok else 1
