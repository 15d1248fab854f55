"""Record batches per partition, waiting to be sent.

Theory of operation: the :class:`Accumulator` owns one :class:`PartitionState` per partition
the producer wrote to. Each holds a queue of :class:`ProducerBatch` in send order: batches
being retried first (in their original order), then fresh ones, the last of which may still
take records. ``append()`` adds one record to the open batch of its partition (opening a new
one when it is full), and counts the memory it holds against ``buffer_memory``. A batch is
closed to appends when it reaches ``batch_size`` bytes or ``batch_max_messages`` records, or
when it is taken for sending. ``release()`` returns a settled batch's memory. ``split()``
turns a sent batch the broker found too large into two that take its place in the queue.

The accumulator decides nothing about when a batch is sent: the sender reads the queues
(``head_ready`` says whether the first batch is due) and takes batches off them. Sequence
bookkeeping for idempotence lives here too, per partition (``next_seq``, ``last_acked``),
because it moves with the queues.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence

from kproto.message_types import ProducerMessage
from kproto.records import BatchBuilder, Compression, set_producer_state

__all__ = ["Accumulator", "PartitionState", "ProducerBatch", "record_size"]

RECORD_OVERHEAD = 32
"""An upper bound of a v2 record's framing (length, attributes, deltas, lengths)."""
BATCH_OVERHEAD = 61
"""A v2 batch header."""
SEQ_MASK = 0x7FFFFFFF
"""Sequence numbers wrap to 0 after the largest int32."""


def record_size(key: bytes | None, value: bytes | None,
                headers: Sequence[tuple[str, bytes | None]]) -> int:
    """Bytes a record may take in a batch, counted before compression (an upper bound)."""
    size = RECORD_OVERHEAD + (len(key) if key else 0) + (len(value) if value else 0)
    for hkey, hval in headers:
        size += len(hkey) * 4 + (len(hval) if hval else 0) + 10
    return size


class ProducerBatch:
    """Records for one partition that travel together, from first append to settlement."""

    __slots__ = ("attempts", "base_seq", "builder", "closed", "created", "data", "deadline",
                 "epoch", "gens", "ident", "in_flight", "last_error", "mem", "messages",
                 "order", "partition", "pid", "retry_at", "settled", "tokens", "topic")

    def __init__(self, ident: int, topic: str, partition: int, builder: BatchBuilder,
                 now: float, deadline: float) -> None:
        self.ident = ident
        self.order: tuple[int, ...] = (ident,)
        """Send order in the partition's queue; the parts of a split batch extend it."""
        self.topic = topic
        self.partition = partition
        self.builder: BatchBuilder | None = builder
        self.data: bytes | None = None
        self.tokens: list[int] = []
        self.messages: list[ProducerMessage] = []
        self.gens: dict[int, int] = {}
        """Records per flush generation, so a flush knows when its records are settled."""
        self.mem = 0
        self.created = now
        self.deadline = deadline
        self.closed = False
        self.attempts = 0
        self.retry_at = 0.0
        self.base_seq = -1
        self.pid = -1
        self.epoch = -1
        self.in_flight = False
        self.settled = False
        self.last_error: BaseException | None = None

    @property
    def record_count(self) -> int:
        return len(self.tokens)

    def build(self) -> bytes:
        """The batch as sent; built (and compressed) once, when first taken for sending."""
        if self.data is None:
            assert self.builder is not None
            self.data = self.builder.build()
            self.builder = None
            self.closed = True
        return self.data

    def __repr__(self) -> str:
        return (f"<ProducerBatch #{self.ident} {self.topic}[{self.partition}] "
                f"records={len(self.tokens)} attempts={self.attempts} seq={self.base_seq}>")


class PartitionState:
    """The queue of one partition and its idempotence bookkeeping."""

    __slots__ = ("in_flight", "last_acked", "next_seq", "partition", "queue", "topic")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.queue: deque[ProducerBatch] = deque()
        self.in_flight = 0
        self.next_seq = 0
        self.last_acked = -1

    def requeue(self, batch: ProducerBatch) -> None:
        """Put a batch back for a retry, before every batch created after it."""
        queue = self.queue
        index = 0
        for index, other in enumerate(queue):  # noqa: B007 - the index is the result
            if other.order > batch.order:
                break
        else:
            index = len(queue)
        queue.insert(index, batch)

    def all_full(self) -> bool:
        """Whether no queued batch takes more records (the sticky partitioner asks)."""
        queue = self.queue
        return len(queue) > 1 or (bool(queue) and queue[-1].closed)

    def reset_sequences(self) -> None:
        """A new producer id or epoch starts every partition at sequence 0."""
        self.next_seq = 0
        self.last_acked = -1
        for batch in self.queue:
            batch.base_seq = -1

    def is_next_sequence(self, base_seq: int) -> bool:
        return base_seq == (self.last_acked + 1) & SEQ_MASK


class Accumulator:
    """Per-partition batch queues and the memory they hold."""

    def __init__(self, *, batch_size: int, max_messages: int, compression: Compression,
                 level: int | None, buffer_memory: int, delivery_timeout: float) -> None:
        self.batch_size = batch_size
        self.max_messages = max_messages
        self.compression = compression
        self.level = level
        self.buffer_memory = buffer_memory
        self.delivery_timeout = delivery_timeout
        self.memory = 0
        self.partitions: dict[tuple[str, int], PartitionState] = {}
        self._next_ident = 1

    def __iter__(self) -> Iterator[PartitionState]:
        return iter(self.partitions.values())

    def state(self, topic: str, partition: int) -> PartitionState:
        key = (topic, partition)
        st = self.partitions.get(key)
        if st is None:
            st = self.partitions[key] = PartitionState(topic, partition)
        return st

    def has_room(self, size: int) -> bool:
        return self.memory + size <= self.buffer_memory

    def append(self, st: PartitionState, msg: ProducerMessage, timestamp: int, token: int,
               gen: int, mem: int, now: float, producer_id: int, epoch: int,
               transactional: bool, deadline: float | None = None) -> tuple[int, bool, bool]:
        """Add one record; returns (bytes it took, a new batch was opened, a batch closed).

        ``deadline`` is the record's delivery deadline (``now + delivery_timeout`` when not
        given); its batch is due no later: a record that waited for metadata before it was
        placed keeps the deadline it got when it was sent."""
        if deadline is None:
            deadline = now + self.delivery_timeout
        queue = st.queue
        batch = queue[-1] if queue and not queue[-1].closed else None
        closed = False
        before = 0
        if batch is not None:
            builder = batch.builder
            assert builder is not None
            before = builder.estimated_size
            if not builder.append(timestamp, msg.key, msg.value, msg.headers):
                batch.closed = True
                closed = True
                batch = None
        opened = batch is None
        if batch is None:
            builder = BatchBuilder(
                compression=self.compression, level=self.level, producer_id=producer_id,
                producer_epoch=epoch, transactional=transactional, max_bytes=self.batch_size)
            batch = ProducerBatch(self._next_ident, st.topic, st.partition, builder, now,
                                  deadline)
            self._next_ident += 1
            queue.append(batch)
            before = builder.estimated_size
            builder.append(timestamp, msg.key, msg.value, msg.headers)
        builder = batch.builder
        assert builder is not None
        size = builder.estimated_size
        if deadline < batch.deadline:
            batch.deadline = deadline
        batch.tokens.append(token)
        batch.messages.append(msg)
        gens = batch.gens
        gens[gen] = gens.get(gen, 0) + 1
        batch.mem += mem
        self.memory += mem
        if size >= self.batch_size or (self.max_messages and
                                       len(batch.tokens) >= self.max_messages):
            batch.closed = True
            closed = True
        return size - before, opened, closed

    def split(self, batch: ProducerBatch, transactional: bool) -> list[ProducerBatch]:
        """The records of a sent batch the broker found too large, as two batches that take
        its place: same deadline and attempts, and, when it had a sequence, the same
        producer id and epoch with consecutive sequences from its base sequence (the broker
        wrote none of them). Halving always makes progress, down to single records."""
        assert batch.data is not None and batch.record_count > 1
        msgs, tokens = batch.messages, batch.tokens
        gens = [gen for gen, n in batch.gens.items() for _ in range(n)]
        half = len(tokens) // 2
        parts: list[ProducerBatch] = []
        seq = batch.base_seq
        mem_left = batch.mem
        for i, (lo, hi) in enumerate(((0, half), (half, len(tokens)))):
            builder = BatchBuilder(
                compression=self.compression, level=self.level,
                producer_id=batch.pid if transactional else -1,
                producer_epoch=batch.epoch if transactional else -1,
                transactional=transactional, max_bytes=1 << 62)
            part = ProducerBatch(batch.ident, batch.topic, batch.partition, builder,
                                 batch.created, batch.deadline)
            part.order = (*batch.order, i)
            for msg, token, gen in zip(msgs[lo:hi], tokens[lo:hi], gens[lo:hi], strict=True):
                builder.append(msg.timestamp if msg.timestamp is not None else 0, msg.key,
                               msg.value, msg.headers)
                part.messages.append(msg)
                part.tokens.append(token)
                part.gens[gen] = part.gens.get(gen, 0) + 1
            mem = sum(record_size(m.key, m.value, m.headers) for m in part.messages) \
                if i == 0 else mem_left
            part.mem = min(mem, mem_left)
            mem_left -= part.mem
            data = part.build()
            if seq >= 0:
                part.pid, part.epoch, part.base_seq = batch.pid, batch.epoch, seq
                part.data = set_producer_state(data, batch.pid, batch.epoch, seq)
                seq = (seq + part.record_count) & SEQ_MASK
            part.attempts = batch.attempts
            part.retry_at = batch.retry_at
            part.last_error = batch.last_error
            parts.append(part)
        batch.mem = 0
        batch.settled = True  # its records live on in the parts
        return parts

    def release(self, batch: ProducerBatch) -> None:
        self.memory -= batch.mem
        batch.mem = 0
