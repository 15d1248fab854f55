"""The caller's mistakes fail with a UsageError naming what was wrong, in the sans-IO core:
an object used after close, a partition consumed twice, a second session while one runs, a
partition that is not assigned. Each is still the class it was before (ClosedError,
ConfigurationError, KprotoError), so existing ``except`` clauses keep catching it."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kproto.config import Config
from kproto.consumer import ConsumerCore
from kproto.engine.client import ClientCore
from kproto.errors import (
    AlreadyConsumingError,
    ClosedError,
    ConfigurationError,
    KprotoError,
    NotAssignedError,
    ObjectClosedError,
    UsageError,
)
from kproto.events import OperationCompleted, OperationFailed
from kproto.message_types import OFFSET_OLDEST, ProducerMessage
from kproto.producer import ProducerCore, TransactionStateError
from tests.group.scripted import Harness


def outcome(core: ClientCore, token: int) -> BaseException | None:
    """The error the operation ``token`` failed with (None if it completed or is pending)."""
    while (ev := core.next_event()) is not None:
        if isinstance(ev, (OperationCompleted, OperationFailed)) and ev.token == token:
            return ev.error if isinstance(ev, OperationFailed) else None
    return None


def client() -> ClientCore:
    return ClientCore("b1:9092", Config(), rng=random.Random(1), now=0.0)


def test_the_usage_error_classes_keep_their_old_bases() -> None:
    assert issubclass(ObjectClosedError, UsageError) and issubclass(ObjectClosedError, ClosedError)
    assert issubclass(AlreadyConsumingError, UsageError)
    assert issubclass(AlreadyConsumingError, ConfigurationError)
    assert issubclass(NotAssignedError, UsageError) and issubclass(UsageError, KprotoError)
    assert not issubclass(ConfigurationError, UsageError)
    assert not issubclass(ClosedError, UsageError)


def test_a_partition_consumed_twice() -> None:
    core = client()
    consumer = ConsumerCore(core)
    consumer.consume_partition("t", 0, OFFSET_OLDEST, 0.0)
    again = consumer.consume_partition("t", 0, 5, 0.0)
    error = outcome(core, again)
    assert isinstance(error, AlreadyConsumingError)
    assert "t[0] is already being consumed" in str(error)
    assert consumer.fetcher.stream_of("t", 0) is not None  # the first one still consumes


def test_a_consumer_used_after_close() -> None:
    core = client()
    consumer = ConsumerCore(core)
    consumer.close(0.0)
    token = consumer.consume_partition("t", 0, OFFSET_OLDEST, 0.0)
    error = outcome(core, token)
    assert isinstance(error, ObjectClosedError)
    assert "the consumer was closed" in str(error)


def test_a_fetcher_used_after_close() -> None:
    fetcher = ConsumerCore(client()).fetcher
    fetcher.close(0.0)
    with pytest.raises(ObjectClosedError, match="the fetcher was closed"):
        fetcher.assign("t", 0, OFFSET_OLDEST, 0.0)


@pytest.mark.parametrize("call", ["seek", "high_water_mark", "topic_partition"])
def test_an_unassigned_partition(call: str) -> None:
    fetcher = ConsumerCore(client()).fetcher
    stream = fetcher.assign("t", 0, OFFSET_OLDEST, 0.0)
    fetcher.unassign(stream, 0.0)
    calls: dict[str, Any] = {
        "seek": lambda: fetcher.seek(stream, 3, 0.0),
        "high_water_mark": lambda: fetcher.high_water_mark(stream),
        "topic_partition": lambda: fetcher.topic_partition(stream),
    }
    with pytest.raises(NotAssignedError, match=f"no partition is assigned as stream {stream}"):
        calls[call]()


def test_a_producer_used_after_close() -> None:
    core = client()
    producer = ProducerCore(core, core.config)
    producer.close(0.0)
    with pytest.raises(ObjectClosedError, match="the producer is closed"):
        producer.send(ProducerMessage("t", value=b"v"), 0.0, 0)


def test_a_group_used_after_close_and_a_second_session() -> None:
    h = Harness()
    first = h.group.consume(["t"], h.now)
    second = h.group.consume(["t"], h.now)
    error = outcome(h.core, second)
    assert isinstance(error, AlreadyConsumingError)
    assert "consume() is already running" in str(error)
    h.group.close(h.now)
    assert first != second
    token = h.group.consume(["t"], h.now)
    error = outcome(h.core, token)
    assert isinstance(error, ObjectClosedError)
    assert "the consumer group was closed" in str(error)


def test_a_transactional_send_outside_a_transaction() -> None:
    config = Config(transactional_id="tx")
    core = ClientCore("b1:9092", config, rng=random.Random(1), now=0.0)
    producer = ProducerCore(core, config)
    with pytest.raises(TransactionStateError, match="needs a transaction in progress") as caught:
        producer.send(ProducerMessage("t", value=b"v"), 0.0, 0)
    assert isinstance(caught.value, UsageError)
