"""An out-of-range position with ``auto_offset_reset="none"`` is reported with the log's true
bounds, looked up from the leader (a Fetch error carries -1 for both), on every transport."""

from __future__ import annotations

import json
import tempfile
import uuid
from typing import Any

import pytest

from kproto.errors import OffsetOutOfRangeError
from tests.conformance.drivers import TRANSPORTS
from tests.consumer.drivers import Partition, consumer, produce

each = pytest.mark.parametrize("transport", TRANSPORTS)

RECORDS = 1000
LOG_START = 400


@pytest.fixture(scope="module")
def trimmed(kafka_broker: Any) -> str:
    """A topic whose partition 0 holds offsets LOG_START..RECORDS-1 (older ones deleted)."""
    if not hasattr(kafka_broker, "java_tool"):
        pytest.skip("needs the harness's Kafka tools")
    topic = f"cons-oor-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=1)
    produce(kafka_broker.bootstrap, topic, [(0, None, b"r%d" % i) for i in range(RECORDS)])
    with tempfile.NamedTemporaryFile("w", suffix=".json") as spec:
        json.dump({"version": 1, "partitions": [
            {"topic": topic, "partition": 0, "offset": LOG_START}]}, spec)
        spec.flush()
        proc = kafka_broker.java_tool("delete-records", "--bootstrap-server",
                                      kafka_broker.bootstrap, "--offset-json-file", spec.name)
    assert proc.returncode == 0, proc.stderr
    return topic


@each
@pytest.mark.parametrize("offset", [RECORDS + 50, LOG_START - 10])
def test_start_out_of_range_names_the_true_log_bounds(transport: str, offset: int,
                                                      trimmed: str, kafka_broker: Any) -> None:
    with consumer(transport, kafka_broker.bootstrap, auto_offset_reset="none") as c:
        expected = (f"{trimmed}[0]: offset {offset} is out of range "
                    f"(log start {LOG_START}, high water mark {RECORDS})")
        with pytest.raises(OffsetOutOfRangeError) as caught:
            c.consume_partition(trimmed, 0, offset)
        assert str(caught.value).endswith(expected), str(caught.value)
        # The partition is usable from a valid offset afterwards.
        pc = Partition(c, c.consume_partition(trimmed, 0, RECORDS - 2))
        assert [m.offset for m in pc.take(2)] == [RECORDS - 2, RECORDS - 1]


@each
def test_read_committed_names_the_last_stable_offset(transport: str, trimmed: str,
                                                     kafka_broker: Any) -> None:
    with consumer(transport, kafka_broker.bootstrap, auto_offset_reset="none",
                  isolation_level="read_committed") as c:
        with pytest.raises(OffsetOutOfRangeError,
                           match=rf"\(log start {LOG_START}, last stable offset {RECORDS}\)"):
            c.consume_partition(trimmed, 0, RECORDS + 1)
