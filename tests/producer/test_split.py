"""A batch the broker finds too large (MESSAGE_TOO_LARGE) against a real broker, through
every transport: a batch of several records is split and sent again in order, a single record
too large fails alone with its size and the limit named."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kproto.errors import MessageTooLargeError
from kproto.message_types import ProducerMessage
from kproto.producer import ProducerErrors
from tests.conformance.drivers import TRANSPORTS
from tests.producer.helpers import producer, read_partition

each = pytest.mark.parametrize("transport", TRANSPORTS)
LIMIT = 2048


@each
@pytest.mark.parametrize("broker", ["kafka_broker", "kafka_broker_39"])
def test_too_large_batches_are_split_and_a_single_large_record_fails_alone(
        transport: str, broker: str, request: pytest.FixtureRequest) -> None:
    kafka_broker: Any = request.getfixturevalue(broker)
    topic = f"split-{transport}-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=1, config={"max.message.bytes": str(LIMIT)})
    small = [ProducerMessage(topic, b"%03d:" % i + b"s" * 200, partition=0) for i in range(40)]
    big = ProducerMessage(topic, b"B" * 5000, partition=0)
    tail = [ProducerMessage(topic, b"t%d" % i, partition=0) for i in range(5)]
    # One batch of ~9 KB, far above the topic's limit of 2 KB, then more behind it.
    with producer(transport, "SyncProducer", kafka_broker.bootstrap, batch_size=1 << 20,
                  linger=0.5) as p:
        p.send_message(ProducerMessage(topic, b"before", partition=0))
        first_id = p.metrics()["producer_id"]
        with pytest.raises(ProducerErrors) as info:
            p.send_messages([*small[:20], big, *small[20:], *tail])
        [failed] = info.value.errors
        assert failed.message is big
        err = failed.error
        assert isinstance(err, MessageTooLargeError)
        text = str(err)
        assert f"{topic}[0]" in text and "5000 bytes" in text and "max.message.bytes" in text
        assert f"max.message.bytes ({LIMIT} bytes)" in text
        # Everything else went through; the producer goes on.
        p.send_message(ProducerMessage(topic, b"after", partition=0))
        stats = p.metrics()
    values = [r.value for r in read_partition(kafka_broker.bootstrap, topic, 0)]
    assert values == [b"before"] + [m.value for m in small + tail] + [b"after"]
    assert [m.offset for m in small + tail] == list(range(1, 46))
    assert stats["records_unsettled"] == 0
    # The refused record left a gap in the sequence: the epoch was bumped, and the broker
    # answered with a new producer id.
    assert stats["producer_id"] != first_id and stats["producer_epoch"] == 0
