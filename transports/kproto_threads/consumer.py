"""The blocking Consumer: the shared facade (``kproto.facade.consumer``) driven on the
caller's thread. Native here: blocking iterators, ``timeout=`` bounds, and a lock per
message stream so that one reader at a time moves its cursor."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kproto.consumer import ConsumerError
from kproto.errors import ClosedError
from kproto.facade._streams import BlockingBatches, Iterates, PartitionErrors
from kproto.facade.consumer import ConsumerBase, PartitionConsumerBase
from kproto.facade.positioning import Positioned
from kproto.message_types import OFFSET_NEWEST, OFFSET_OLDEST, ConsumerMessage
from kproto_threads._loop import Loop
from kproto_threads.client import Client

__all__ = ["Consumer", "ErrorStream", "MessageStream", "PartitionConsumer"]


def _bound(config: Any, timeout: float | None) -> float:
    """The engine bounds every request; this outer bound guards against a stuck thread."""
    return timeout if timeout is not None else (
        config.request_timeout + config.connect_timeout + config.fetch_max_wait + 5.0)


class Positioning(Positioned):
    """Blocking positioning of a partition consumer or a claim
    (``kproto.facade.positioning``)."""

    def seek(self, offset: int, timeout: float | None = None) -> int:
        """Continue from ``offset`` (a literal offset, OFFSET_NEWEST or OFFSET_OLDEST);
        messages buffered before are dropped. Returns the offset it moved to."""
        return self._loop.drive(self._seek(offset, _bound(self._pos_config(), timeout)))  # type: ignore[no-any-return]

    def seek_to_timestamp(self, timestamp: int, timeout: float | None = None) -> int:
        """Continue from the first message at or after ``timestamp`` (ms since the epoch),
        or from the end when none is that new. Returns the offset it moved to."""
        return self._loop.drive(  # type: ignore[no-any-return]
            self._seek_to_timestamp(timestamp, _bound(self._pos_config(), timeout)))

    def seek_to_committed(self, timeout: float | None = None) -> int:
        """Continue from the group's committed offset (``auto_offset_reset`` decides when
        nothing is committed). Returns the offset it moved to."""
        return self._loop.drive(  # type: ignore[no-any-return]
            self._seek_to_committed(_bound(self._pos_config(), timeout)))

    def committed(self, timeout: float | None = None) -> int:
        """The group's committed offset of this partition, -1 when none."""
        return self._loop.drive(self._committed(_bound(self._pos_config(), timeout)))  # type: ignore[no-any-return]

    def lag(self, timeout: float | None = None) -> int:
        """Messages behind the high water mark: its value from the latest fetch (looked up
        when unknown) minus ``position()``."""
        return self._loop.drive(self._lag(_bound(self._pos_config(), timeout)))  # type: ignore[no-any-return]


class MessageStream:
    """A partition consumer's messages: iterate (blocking) or ``get(timeout)``."""

    def __init__(self, owner: PartitionConsumer) -> None:
        self._pc = owner
        self._lock = threading.Lock()

    def get(self, timeout: float | None = None) -> ConsumerMessage:
        """The next message (errors as the asyncio ``MessageStream.get``)."""
        with self._lock:
            return self._pc._loop.drive(self._pc._next_message(timeout))  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[ConsumerMessage]:
        return self

    def __next__(self) -> ConsumerMessage:
        with self._lock:
            buf = self._pc._buf
            cur = buf.cur
            i = buf.idx
            if i + 1 < len(cur):  # not the last of its chunk: nothing to release
                buf.idx = i + 1
                return cur[i]
            try:
                return self._pc._loop.drive(self._pc._next_message(None))  # type: ignore[no-any-return]
            except ClosedError:
                raise StopIteration from None

    def __len__(self) -> int:
        """Messages delivered and not read yet."""
        return len(self._pc._buf)


class ErrorStream(Iterates[ConsumerError]):
    """A partition's errors (``ConsumerError`` values) of a partition consumer or offset
    manager; ends when it is closed or after the error that stopped it."""

    def __init__(self, owner: PartitionErrors) -> None:
        self._pc = owner

    def get(self, timeout: float | None = None) -> ConsumerError:
        return self._pc._loop.drive(self._pc._next_error(timeout))  # type: ignore[no-any-return]


class PartitionConsumer(PartitionConsumerBase, Positioning):
    """Messages of one partition, from the offset given to ``consume_partition``."""

    messages: MessageStream
    errors: ErrorStream
    _message_stream = MessageStream
    _error_stream = ErrorStream

    def batches(self, timeout: float | None = None) -> BlockingBatches:
        """``for batch in pc.batches()``: the messages a fetched chunk at a time (a tuple
        each, in offset order); ends as ``messages`` does; each wait bounded by
        ``timeout`` (ClientTimeoutError). Read one of ``messages`` and ``batches()`` at a
        time."""
        return BlockingBatches(self, timeout, self.messages._lock)

    def close(self) -> None:
        """Stop consuming; both streams end."""
        self._consumer._close_partition(self)

    def __enter__(self) -> PartitionConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Consumer(ConsumerBase[Loop, PartitionConsumer]):
    """Consumes partitions of a cluster (sarama's Consumer), with blocking calls:
    ``Consumer("host:9092", **options)``, or ``client=`` an existing Client to share."""

    _client_class = Client
    _partition_class = PartitionConsumer

    def topics(self, timeout: float | None = None) -> list[str]:
        """Every topic in the cluster, sorted."""
        return self._loop.drive(self._topics(self._wait(timeout)))

    def partitions(self, topic: str, timeout: float | None = None) -> list[int]:
        """The partition ids of ``topic``."""
        return self._loop.drive(self._partitions(topic, self._wait(timeout)))

    def consume_partition(self, topic: str, partition: int, offset: int,
                          timeout: float | None = None, *,
                          stop_at_end: bool = False) -> PartitionConsumer:
        """Consume ``topic[partition]`` from ``offset`` (a literal offset, OFFSET_NEWEST or
        OFFSET_OLDEST); returns once the start position is known. With ``stop_at_end`` the
        iteration ends (cleanly) after the last message below the end offset the partition
        had when this was called (``kcat -e``)."""
        return self._loop.drive(
            self._consume_partition(topic, partition, offset, self._wait(timeout),
                                    stop_at_end=stop_at_end))

    def offsets_for_times(self, times: Mapping[tuple[str, int], int],
                          timeout: float | None = None
                          ) -> dict[tuple[str, int], tuple[int, int] | None]:
        """``{(topic, partition): ms}`` -> the (offset, timestamp) of each partition's first
        message at or after ``ms``, None when no message is that new."""
        return self._loop.drive(self._offsets_for_times(times, self._wait(timeout)))

    def beginning_offsets(self, partitions: Iterable[tuple[str, int]],
                          timeout: float | None = None) -> dict[tuple[str, int], int]:
        """The oldest offset of each (topic, partition)."""
        return self._loop.drive(self._ends(partitions, OFFSET_OLDEST, self._wait(timeout)))

    def end_offsets(self, partitions: Iterable[tuple[str, int]],
                    timeout: float | None = None) -> dict[tuple[str, int], int]:
        """The end offset (the next one to be written; the last stable offset with
        read_committed) of each (topic, partition)."""
        return self._loop.drive(self._ends(partitions, OFFSET_NEWEST, self._wait(timeout)))

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every partition consumer, then the consumer (and its own connections)."""
        if self._shut():
            self._client.close()

    def _wait(self, timeout: float | None) -> float:
        return _bound(self.config, timeout)
