"""The demo: one topic per transport, records produced and consumed.

By default it runs on kproto's embedded fake cluster (in-process: no broker, no Java, no
sockets). ``--bootstrap host:port`` runs it against a Kafka cluster you have; ``--kafka``
starts an Apache Kafka broker with the test harness of a source checkout (Java and Maven
fetch it once into a cache). Each transport creates its topic, sends records with a
SyncProducer, reads them back with a Consumer and prints them, so the same exchange is shown
on threads, asyncio and trio (trio is imported only for its leg, which is skipped with a
note when trio is not installed and was not asked for).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
from collections.abc import Iterator
from typing import Any

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
    import trio

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
def real_broker(version: str | None) -> Iterator[str]:
    """A broker started by the test harness (a source checkout's ``tests/harness``)."""
    try:
        from tests.harness.broker import KafkaCluster
        from tests.harness.jars import chosen_version
    except ImportError:
        raise SystemExit("--kafka needs the broker harness (tests/harness, in a source "
                         "checkout of kproto); give --bootstrap host:port instead") from None
    version = version or chosen_version()
    print(f"starting Apache Kafka {version} on 127.0.0.1 ...", flush=True)
    cluster = KafkaCluster(version, 1)
    cluster.start()
    try:
        print(f"broker up at {cluster.bootstrap} after {cluster.start_seconds:.1f}s")
        yield cluster.bootstrap
    finally:
        cluster.close()


@contextlib.contextmanager
def target(args: argparse.Namespace) -> Iterator[str]:
    if args.bootstrap:
        print(f"using the Kafka cluster at {args.bootstrap}")
        yield args.bootstrap
    elif args.kafka:
        with real_broker(args.kafka_version) as bootstrap:
            yield bootstrap
    else:
        from kproto.testing import FakeCluster

        cluster = FakeCluster(1)
        print("using kproto's embedded fake cluster, in-process (--bootstrap host:port or "
              "--kafka for a real broker)")
        yield cluster.bootstrap


TRANSPORTS = ("threads", "asyncio", "trio")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules holds None for it
        return False


def run(transport: str, bootstrap: str) -> int:
    if transport == "threads":
        return run_threads(bootstrap)
    if transport == "asyncio":
        return asyncio.run(run_asyncio(bootstrap))
    import trio

    return trio.run(run_trio, bootstrap)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kproto", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="write and read records through all three transports")
    where = demo.add_mutually_exclusive_group()
    where.add_argument("--bootstrap", help="an existing Kafka cluster (default: kproto's "
                       "embedded fake cluster)")
    where.add_argument("--kafka", action="store_true",
                       help="start an Apache Kafka broker with the test harness (needs a "
                       "source checkout, Java and Maven)")
    demo.add_argument("--kafka-version", help="the Kafka version --kafka starts")
    demo.add_argument("--transport", action="append", choices=TRANSPORTS,
                      help="run only this transport (repeatable; default: all three)")
    args = parser.parse_args(argv)
    if args.kafka_version and not args.kafka:
        parser.error("--kafka-version goes with --kafka")
    chosen = args.transport or list(TRANSPORTS)
    if "trio" in chosen and not _installed("trio"):
        if args.transport:
            parser.error("trio is not installed (pip install 'kproto[trio]')")
        print("[trio] skipped: trio is not installed (pip install 'kproto[trio]')")
        chosen.remove("trio")
    with target(args) as bootstrap:
        counts = [run(transport, bootstrap) for transport in chosen]
    ok = counts == [len(RECORDS)] * len(chosen)
    print("summary:", ", ".join(f"{t} {n}/{len(RECORDS)} read back"
                                for t, n in zip(chosen, counts, strict=True)))
    print("demo", "succeeded" if ok else f"failed: read back {counts}")
    return 0 if ok else 1
