"""Blocking producers over the engine's IO thread: SyncProducer and AsyncProducer
(kproto.facade.producer), run on the calling thread.

Every blocking call takes a timeout and raises :class:`kproto.errors.ClientTimeoutError`;
without one it is bounded by what the engine itself allows (so a stuck IO thread cannot hang
the caller). A close that takes longer than its timeout drops what is left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from kproto.facade import BlockingLoop
from kproto.facade import producer as facade
from kproto.group.metadata import ConsumerGroupMetadata
from kproto.message_types import ConsumerMessage, ProducerMessage
from kproto.producer import BufferFullError, ProducerError
from kproto_threads.client import Client

__all__ = ["AsyncProducer", "ResultStream", "SyncProducer"]

T = TypeVar("T")
P = TypeVar("P", bound="_Producer")


class ResultStream(facade.BlockingResultStream[T]):
    __doc__ = facade.BlockingResultStream.__doc__


class _Producer(facade.ProducerBase[BlockingLoop]):
    """The blocking methods both producers share."""

    _client_class = Client

    def _bound(self, timeout: float | None) -> float:
        """Waits on a record are bounded by its delivery timeout and one request more."""
        if timeout is not None:
            return timeout
        cfg = self.config
        return cfg.delivery_timeout + cfg.request_timeout + cfg.produce_timeout + 5.0

    def _txn_bound(self, timeout: float | None) -> float:
        return timeout or self.config.max_block + 5.0

    def flush(self, timeout: float | None = None) -> None:
        """Send everything queued now and wait until each record is settled."""
        self._loop.drive(self._op(facade.start_flush, self._bound(timeout), "flush"))

    def close(self, timeout: float | None = None, *, drop: bool = False) -> None:
        """Deliver what is queued (or, with ``drop``, fail it), then release the producer.
        Closing twice is fine; a close that takes longer than ``timeout`` drops the rest."""
        try:
            self._loop.drive(self._close(drop, self._bound(timeout)))
        finally:
            if self._owns_client:
                self._client.close()

    def async_close(self) -> None:
        """Close at once, failing whatever was not delivered yet (sarama's AsyncClose)."""
        self.close(drop=True)

    def __enter__(self: P) -> P:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def init_transactions(self, timeout: float | None = None) -> None:
        """Get the producer id from the transaction coordinator (begin_txn does it too)."""
        self._loop.drive(self._op(facade.start_init, self._txn_bound(timeout),
                                  "init_transactions"))

    def begin_txn(self, timeout: float | None = None) -> None:
        self._loop.drive(self._op(facade.start_begin, self._txn_bound(timeout), "begin_txn"))

    def transaction(self: P, timeout: float | None = None) -> facade.Transaction[P]:
        """``with producer.transaction():`` begins a transaction, commits it when the block
        ends normally and aborts it when the block raises (the error goes on)."""
        return facade.Transaction(self, timeout)

    def commit_txn(self, timeout: float | None = None) -> None:
        """Flush, then commit; raises the transaction's error if a record failed."""
        self._loop.drive(self._op(facade.start_commit, self._bound(timeout or None), "commit_txn"))

    def abort_txn(self, timeout: float | None = None) -> None:
        self._loop.drive(self._op(facade.start_abort, self._bound(timeout or None), "abort_txn"))

    def add_offsets_to_txn(self, offsets: Mapping[Any, Any],
                           group_id: str | ConsumerGroupMetadata,
                           timeout: float | None = None) -> None:
        """Commit consumer offsets inside the transaction; ``group_id`` is the group's id
        or, so that a member a rebalance fenced cannot commit, ``session.group_metadata()``."""
        self._loop.drive(self._op(self._add_offsets(offsets, group_id),
                                  self._txn_bound(timeout), "add_offsets_to_txn"))

    def add_message_to_txn(self, message: ConsumerMessage,
                           group_id: str | ConsumerGroupMetadata,
                           metadata: str | None = None, timeout: float | None = None) -> None:
        """Commit ``message``'s offset + 1 inside the transaction; ``group_id`` as for
        ``add_offsets_to_txn``."""
        self._loop.drive(self._op(self._add_message(message, group_id, metadata),
                                  self._txn_bound(timeout), "add_message_to_txn"))


class SyncProducer(_Producer, facade.SendAndWait[BlockingLoop]):
    """Sends one message (or a list) and waits for the broker's answer (sarama's
    SyncProducer). ``SyncProducer("host:9092", acks=-1)`` or ``SyncProducer(client=c)``."""

    def send_message(self, msg: ProducerMessage,
                     timeout: float | None = None) -> tuple[int, int]:
        """Send and wait: returns (partition, offset); raises the record's error."""
        return self._loop.drive(self._send_message(msg, timeout, self._bound(timeout)))

    def send_messages(self, msgs: Iterable[ProducerMessage],
                      timeout: float | None = None) -> None:
        """Send all, wait for all; raises ProducerErrors listing every failed message."""
        self._loop.drive(self._send_messages(msgs, timeout, self._bound(timeout)))

    def send_batch(self, msgs: Sequence[ProducerMessage],
                   timeout: float | None = None) -> list[tuple[int, int]]:
        """Send many messages with one settlement: returns (partition, offset) per message,
        in order, once all are settled; raises ProducerErrors naming exactly those that
        failed (the others were delivered)."""
        return self._loop.drive(self._send_batch(msgs, timeout, self._bound(timeout)))

    def send_many(self, topic: str, values: Iterable[bytes | None], *,
                  keys: Iterable[bytes | None] | None = None, partition: int | None = None,
                  timeout: float | None = None) -> list[tuple[int, int]]:
        """``send_batch`` of one message per value (``keys[i]`` its key) to ``topic``."""
        return self.send_batch(facade.messages_for(topic, values, keys, partition), timeout)


class AsyncProducer(_Producer, facade.SendAndStream[BlockingLoop]):
    """Queues messages without waiting for the broker (sarama's AsyncProducer): results
    arrive on ``successes`` and ``errors`` (bounded; see ``result_stream_capacity`` and
    ``results_when_full``). ``send`` blocks only while ``buffer_memory`` is full or, with
    ``results_when_full='block'``, a result stream is (up to ``max_block``)."""

    _stream_class = ResultStream
    successes: ResultStream[ProducerMessage]
    errors: ResultStream[ProducerError]

    def send(self, msg: ProducerMessage, timeout: float | None = None) -> None:
        """Queue a message; its result goes to ``successes`` or ``errors``."""
        with self._loop.lock:
            try:
                self._try_send(msg)  # the common case: room in the buffer, nothing to wait for
                return
            except BufferFullError:
                pass
        self._loop.drive(self._enqueue(msg, timeout))

    def send_batch(self, msgs: Sequence[ProducerMessage], timeout: float | None = None) -> None:
        """Queue many messages at once (one token, one pass in the core); each result goes
        to ``successes`` or ``errors`` as ``send``'s do. Blocks for buffer space as ``send``
        does, up to ``timeout`` (else ``max_block``) for the whole call; then
        BufferFullError, whose ``queued`` says how many messages (the first ones) were
        taken."""
        self._loop.drive(self._queue_batch(msgs, timeout))

    def send_many(self, topic: str, values: Iterable[bytes | None], *,
                  keys: Iterable[bytes | None] | None = None, partition: int | None = None,
                  timeout: float | None = None) -> None:
        """``send_batch`` of one message per value (``keys[i]`` its key) to ``topic``."""
        self.send_batch(facade.messages_for(topic, values, keys, partition), timeout)
