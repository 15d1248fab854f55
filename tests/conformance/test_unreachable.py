"""Kafka away: with no broker reachable, every operation on every transport ends within its
documented bound (``metadata_max_wait``, ``max_block`` for transactions, ``close`` at once)
with a ClusterUnreachableError naming each address and why it failed; so does a broker that
goes away in the middle of an operation (the FAULTY listener's proxy cuts or stalls it).

Bounds are asserted loosely (a multiple of the configured wait) so a busy machine cannot make
them flaky; the regression they guard against waited 120 s and blamed the topic.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kproto import OFFSET_OLDEST, ProducerMessage
from kproto.errors import ClientTimeoutError, ClusterUnreachableError, KprotoError
from tests.conformance.drivers import TRANSPORTS, NoopHandler, Remote, open_remote

WAIT = 2.0
"""metadata_max_wait and max_block in these tests."""
BOUND = 10 * WAIT
"""Loose: an operation bounded by WAIT must end well within this."""
FAST = {"metadata_max_wait": WAIT, "max_block": WAIT, "connect_timeout": 1.0,
        "request_timeout": 3.0, "delivery_timeout": 4.0, "retry_backoff_max": 0.5,
        "reconnect_backoff_max": 0.5}
STALL = {**FAST, "request_timeout": 2.0, "produce_timeout": 1.0, "delivery_timeout": 12.0}
"""A produce request times out after 6 s, the stalled connections after 2 s more, and only
then does every address count as failed: the delivery timeout leaves room for that."""


def refused_addresses(count: int) -> list[str]:
    """Addresses nothing listens on (a port bound then released)."""
    out = []
    for _ in range(count):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            out.append(f"127.0.0.1:{s.getsockname()[1]}")
    return out


def call(obj: Any, fn: Callable[[Any], Any]) -> Any:
    """``fn(obj)`` on the object's own event loop (for stream objects a Remote does not wrap)."""
    if isinstance(obj, Remote):
        return obj._runner.call(lambda: fn(obj.target))
    return fn(obj)


def next_error(transport: str, producer: Any) -> Any:
    if transport == "threads":
        return producer.errors.get(timeout=BOUND)
    return call(producer, lambda p: p.errors.get())


def check_unreachable(err: BaseException, addresses: list[str]) -> None:
    assert isinstance(err, ClusterUnreachableError), repr(err)
    assert "could not be reached" in str(err)
    assert sorted(err.reasons) == sorted(addresses)
    for address in addresses:
        assert f"{address}: " in str(err)
        assert "refused" in err.reasons[address], err.reasons


def op_send_message(transport: str, bootstrap: str) -> Iterator[Any]:
    with open_remote(transport, lambda m: m.SyncProducer(bootstrap, **FAST)) as p:
        yield lambda: p.send_message(ProducerMessage("t", b"v"))


def op_send_messages(transport: str, bootstrap: str) -> Iterator[Any]:
    with open_remote(transport, lambda m: m.SyncProducer(bootstrap, **FAST)) as p:
        def run() -> None:
            try:
                p.send_messages([ProducerMessage("t", b"v"), ProducerMessage("u", b"w")])
            except KprotoError as exc:
                errors = getattr(exc, "errors", None)
                assert errors, exc
                raise errors[0].error from exc
        yield run


def op_async_send(transport: str, bootstrap: str) -> Iterator[Any]:
    with open_remote(transport, lambda m: m.AsyncProducer(bootstrap, **FAST)) as p:
        def run() -> None:
            p.send(ProducerMessage("t", b"v"))
            raise next_error(transport, p).error
        yield run


def op_flush(transport: str, bootstrap: str) -> Iterator[Any]:
    with open_remote(transport, lambda m: m.AsyncProducer(bootstrap, **FAST)) as p:
        def run() -> None:
            p.send(ProducerMessage("t", b"v"))
            p.flush()  # ends once the record is settled (failed)
            raise next_error(transport, p).error
        yield run


def op_consume_partition(transport: str, bootstrap: str) -> Iterator[Any]:
    with open_remote(transport, lambda m: m.Consumer(bootstrap, **FAST)) as c:
        yield lambda: c.consume_partition("t", 0, OFFSET_OLDEST)


def op_topics(transport: str, bootstrap: str) -> Iterator[Any]:
    with open_remote(transport, lambda m: m.Consumer(bootstrap, **FAST)) as c:
        yield lambda: c.topics()


def op_partitions(transport: str, bootstrap: str) -> Iterator[Any]:
    with open_remote(transport, lambda m: m.Consumer(bootstrap, **FAST)) as c:
        yield lambda: c.partitions("t")


def op_group_consume(transport: str, bootstrap: str) -> Iterator[Any]:
    with open_remote(transport, lambda m: m.ConsumerGroup(
            bootstrap, group_id="g", **FAST)) as g:
        yield lambda: g.consume(["t"], NoopHandler())


def op_init_transactions(transport: str, bootstrap: str) -> Iterator[Any]:
    with open_remote(transport, lambda m: m.SyncProducer(
            bootstrap, transactional_id="txn", **FAST)) as p:
        yield lambda: p.init_transactions()


def op_begin_txn(transport: str, bootstrap: str) -> Iterator[Any]:
    with open_remote(transport, lambda m: m.SyncProducer(
            bootstrap, transactional_id="txn", **FAST)) as p:
        yield lambda: p.begin_txn()


OPERATIONS = {
    "send_message": op_send_message,
    "send_messages": op_send_messages,
    "async_send": op_async_send,
    "flush": op_flush,
    "consume_partition": op_consume_partition,
    "topics": op_topics,
    "partitions": op_partitions,
    "group_consume": op_group_consume,
    "init_transactions": op_init_transactions,
    "begin_txn": op_begin_txn,
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_operation_on_an_unreachable_cluster_names_every_address(
        transport: str, operation: str) -> None:
    addresses = refused_addresses(2)
    started = time.monotonic()
    gen = OPERATIONS[operation](transport, ",".join(addresses))
    run = next(gen)
    with pytest.raises(ClusterUnreachableError) as info:
        run()
    elapsed = time.monotonic() - started
    check_unreachable(info.value, addresses)
    assert elapsed < BOUND, f"{operation} took {elapsed:.1f}s"
    started = time.monotonic()
    with pytest.raises(StopIteration):
        next(gen)  # closes the object
    assert time.monotonic() - started < BOUND


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_transaction_operations_end_within_max_block(transport: str) -> None:
    """commit/abort with nothing initialised end at once; init reports the cluster."""
    addresses = refused_addresses(1)
    started = time.monotonic()
    with open_remote(transport, lambda m: m.SyncProducer(
            addresses[0], transactional_id="txn", **FAST)) as p:
        for op in (p.commit_txn, p.abort_txn):
            with pytest.raises(KprotoError):
                op()
        with pytest.raises(ClusterUnreachableError) as info:
            p.init_transactions()
        check_unreachable(info.value, addresses)
    assert time.monotonic() - started < 2 * BOUND


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_close_with_unsent_records_does_not_wait_for_the_cluster(transport: str) -> None:
    """With the default waits (60 s for metadata, 120 s for delivery), close fails the
    records it cannot deliver at once, each with the unreachable cluster as the reason."""
    addresses = refused_addresses(1)
    with open_remote(transport, lambda m: m.AsyncProducer(
            addresses[0], connect_timeout=1.0)) as p:
        for i in range(5):
            p.send(ProducerMessage("t", b"%d" % i))
        started = time.monotonic()
        p.close()
        elapsed = time.monotonic() - started
        errors = [next_error(transport, p) for _ in range(5)]
    assert elapsed < BOUND, f"close took {elapsed:.1f}s"
    for e in errors:
        check_unreachable(e.error, addresses)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_consumer_and_group_close_at_once(transport: str) -> None:
    addresses = refused_addresses(1)
    for make in (lambda m: m.Consumer(addresses[0], **FAST),
                 lambda m: m.ConsumerGroup(addresses[0], group_id="g", **FAST)):
        started = time.monotonic()
        with open_remote(transport, make) as obj:
            if hasattr(obj, "topics"):
                with pytest.raises(ClusterUnreachableError):
                    obj.topics()
            else:
                with pytest.raises(ClusterUnreachableError):
                    obj.consume(["t"], NoopHandler())
            closing = time.monotonic()
        assert time.monotonic() - closing < WAIT
        assert time.monotonic() - started < BOUND


# -- a broker that goes away mid-operation ----------------------------------------------------


def faulty(kafka_broker: Any) -> tuple[str, Any]:
    host, port = kafka_broker.listeners["FAULTY"]
    return f"{host}:{port}", kafka_broker.proxy


@pytest.fixture
def proxy(kafka_broker: Any) -> Iterator[Any]:
    p = kafka_broker.proxy
    p.restore()
    yield p
    p.restore()


@pytest.mark.parametrize("fault", ["cut", "stall"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_producer_whose_broker_goes_away_reports_the_cluster(
        transport: str, fault: str, kafka_broker: Any, proxy: Any) -> None:
    topic = f"away-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=1)
    bootstrap, _ = faulty(kafka_broker)
    with open_remote(transport, lambda m: m.SyncProducer(bootstrap, **STALL)) as p:
        p.send_message(ProducerMessage(topic, b"before"))
        getattr(proxy, fault)()
        started = time.monotonic()
        with pytest.raises(ClientTimeoutError) as info:
            p.send_message(ProducerMessage(topic, b"after"))
        elapsed = time.monotonic() - started
        assert isinstance(info.value, ClusterUnreachableError), repr(info.value)
        assert bootstrap in info.value.reasons
        assert elapsed < 2 * STALL["delivery_timeout"], f"send_message took {elapsed:.1f}s"
        started = time.monotonic()
    assert time.monotonic() - started < BOUND


@pytest.mark.parametrize("fault", ["cut", "stall"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_consumer_whose_broker_goes_away_reports_the_cluster(
        transport: str, fault: str, kafka_broker: Any, proxy: Any) -> None:
    topic = f"away-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=1)
    bootstrap, _ = faulty(kafka_broker)
    with open_remote(transport, lambda m: m.Consumer(bootstrap, **STALL)) as c:
        assert topic in c.topics()
        getattr(proxy, fault)()
        started = time.monotonic()
        with pytest.raises(ClusterUnreachableError) as info:
            c.partitions(topic + "-other")
        assert bootstrap in info.value.reasons
        with pytest.raises(ClusterUnreachableError):
            c.consume_partition(topic, 0, OFFSET_OLDEST)
        assert time.monotonic() - started < 2 * BOUND


def commit_handler(transport: str, proxy: Any, topic: str, outcome: list[Any]) -> Any:
    """Marks an offset, cuts the network, then commits: the commit's outcome and duration
    go to ``outcome``."""
    def record(started: float, err: BaseException | None) -> None:
        outcome.append((err, time.monotonic() - started))

    if transport == "threads":
        class Handler:
            def setup(self, session: Any) -> None:
                session.mark_offset(topic, 0, 1)
                proxy.cut()
                started = time.monotonic()
                try:
                    session.commit()
                except KprotoError as exc:
                    record(started, exc)
                else:
                    record(started, None)

            def cleanup(self, session: Any) -> None:
                pass

            def consume_claim(self, session: Any, claim: Any) -> None:
                pass

        return Handler()

    class AsyncHandler:
        async def setup(self, session: Any) -> None:
            session.mark_offset(topic, 0, 1)
            proxy.cut()
            started = time.monotonic()
            try:
                await session.commit()
            except KprotoError as exc:
                record(started, exc)
            else:
                record(started, None)

        async def cleanup(self, session: Any) -> None:
            pass

        async def consume_claim(self, session: Any, claim: Any) -> None:
            pass

    return AsyncHandler()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_group_commit_after_the_broker_went_away_reports_the_cluster(
        transport: str, kafka_broker: Any, proxy: Any) -> None:
    topic = f"away-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=1)
    bootstrap, _ = faulty(kafka_broker)
    outcome: list[Any] = []
    started = time.monotonic()
    with open_remote(transport, lambda m: m.ConsumerGroup(
            bootstrap, group_id=f"g-{topic}", session_timeout=10.0, heartbeat_interval=1.0,
            **FAST)) as g:
        try:
            g.consume([topic], commit_handler(transport, proxy, topic, outcome))
        except KprotoError:
            pass  # the final commit fails too; what matters is the commit's own error
    assert time.monotonic() - started < 3 * BOUND
    [(err, took)] = outcome
    assert isinstance(err, ClusterUnreachableError), repr(err)
    assert bootstrap in err.reasons
    assert took < BOUND


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_transaction_whose_broker_goes_away_reports_the_cluster(
        transport: str, kafka_broker: Any, proxy: Any) -> None:
    topic = f"away-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=1)
    bootstrap, _ = faulty(kafka_broker)
    with open_remote(transport, lambda m: m.SyncProducer(
            bootstrap, transactional_id=f"txn-{topic}", **FAST)) as p:
        p.init_transactions()
        p.begin_txn()
        p.send_message(ProducerMessage(topic, b"in the transaction"))
        proxy.cut()
        started = time.monotonic()
        with pytest.raises(ClusterUnreachableError) as info:
            p.commit_txn()
        assert bootstrap in info.value.reasons
        assert "commit" in str(info.value)
        assert time.monotonic() - started < BOUND
        closing = time.monotonic()
    assert time.monotonic() - closing < BOUND
