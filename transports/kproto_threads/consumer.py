"""The blocking Consumer: the shared facade (``kproto.facade.consumer``) driven on the
caller's thread. Native here: blocking iterators, ``timeout=`` bounds, and a lock per
message stream so that one reader at a time moves its cursor."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from kproto.consumer import ConsumerError
from kproto.errors import ClosedError
from kproto.facade._streams import Iterates, PartitionErrors
from kproto.facade.consumer import ConsumerBase, PartitionConsumerBase
from kproto.message_types import ConsumerMessage
from kproto_threads._loop import Loop
from kproto_threads.client import Client

__all__ = ["Consumer", "ErrorStream", "MessageStream", "PartitionConsumer"]


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


class PartitionConsumer(PartitionConsumerBase):
    """Messages of one partition, from the offset given to ``consume_partition``."""

    messages: MessageStream
    errors: ErrorStream
    _message_stream = MessageStream
    _error_stream = ErrorStream

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
                          timeout: float | None = None) -> PartitionConsumer:
        """Consume ``topic[partition]`` from ``offset`` (a literal offset, OFFSET_NEWEST or
        OFFSET_OLDEST); returns once the start position is known."""
        return self._loop.drive(
            self._consume_partition(topic, partition, offset, self._wait(timeout)))

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every partition consumer, then the consumer (and its own connections)."""
        if self._shut():
            self._client.close()

    def _wait(self, timeout: float | None) -> float:
        """The engine bounds every request; this outer bound guards against a stuck thread."""
        cfg = self.config
        return timeout if timeout is not None else (
            cfg.request_timeout + cfg.connect_timeout + cfg.fetch_max_wait + 5.0)
