"""The demo: a real broker, one topic per transport, records produced and consumed.

Without ``--bootstrap`` it starts an Apache Kafka broker with the test harness (the jars are
fetched once and cached). Each transport creates its topic, sends records with a SyncProducer,
reads them back with a Consumer and prints them, so the same exchange is shown on threads,
asyncio and trio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import trio

from kproto import ConsumerMessage, ProducerMessage, protocol
from kproto.errors import raise_for_code
from kproto.protocol.messages import create_topics_request as ct

CREATE_TOPICS = 19
RECORDS = [(b"k1", b"hello"), (b"k2", b"from"), (None, b"kproto")]
WAIT = 30.0


def create_topic(name: str) -> Any:
    return lambda v: protocol.CreateTopicsRequest(
        topics=[ct.CreatableTopic(name=name, num_partitions=1, replication_factor=-1)],
        timeout_ms=10_000)


def check_created(result: tuple[int, Any]) -> None:
    for t in result[1].topics:
        if t.error_code not in (0, 36):  # 36: the topic exists already
            raise_for_code(t.error_code, t.error_message)


def messages(topic: str, transport: str) -> list[ProducerMessage]:
    return [ProducerMessage(topic, value, key=key, partition=0,
                            headers=(("transport", transport.encode()),))
            for key, value in RECORDS]


def show(transport: str, topic: str, sent: list[ProducerMessage],
         got: list[ConsumerMessage]) -> int:
    print(f"[{transport}] produced {len(sent)} records to {topic} at offsets "
          f"{[m.offset for m in sent]}; consumed:")
    for m in got:
        print(f"    offset {m.offset}: key={m.key!r} value={m.value!r} headers={m.headers}")
    same = [(m.key, m.value) for m in got] == [(m.key, m.value) for m in sent]
    return len(got) if same else 0


def run_threads(bootstrap: str) -> int:
    import kproto_threads
    topic = "kproto-demo-threads"
    with kproto_threads.Client(bootstrap) as client:
        check_created(client.request(CREATE_TOPICS, create_topic(topic)))
        with kproto_threads.SyncProducer(client=client, compression="lz4") as producer:
            sent = messages(topic, "threads")
            producer.send_messages(sent)
        with kproto_threads.Consumer(client=client) as consumer, \
                consumer.consume_partition(topic, 0, sent[0].offset) as pc:
            got = [pc.messages.get(WAIT) for _ in sent]
    return show("threads", topic, sent, got)


async def run_asyncio(bootstrap: str) -> int:
    import kproto_asyncio
    topic = "kproto-demo-asyncio"
    async with kproto_asyncio.Client(bootstrap) as client:
        check_created(await client.request(CREATE_TOPICS, create_topic(topic)))
        async with kproto_asyncio.SyncProducer(client=client, compression="lz4") as producer:
            sent = messages(topic, "asyncio")
            await producer.send_messages(sent)
        async with kproto_asyncio.Consumer(client=client) as consumer:
            async with await consumer.consume_partition(topic, 0, sent[0].offset) as pc:
                got = [await pc.messages.get(WAIT) for _ in sent]
    return show("asyncio", topic, sent, got)


async def run_trio(bootstrap: str) -> int:
    import kproto_trio
    topic = "kproto-demo-trio"
    async with kproto_trio.Client(bootstrap) as client:
        check_created(await client.request(CREATE_TOPICS, create_topic(topic)))
        async with kproto_trio.SyncProducer(client=client, compression="lz4") as producer:
            sent = messages(topic, "trio")
            await producer.send_messages(sent)
        async with kproto_trio.Consumer(client=client) as consumer:
            async with await consumer.consume_partition(topic, 0, sent[0].offset) as pc:
                with trio.fail_after(WAIT):
                    got = [await pc.messages.receive() for _ in sent]
    return show("trio", topic, sent, got)


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
