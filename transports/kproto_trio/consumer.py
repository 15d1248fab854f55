"""The trio Consumer: the shared awaited facade (``kproto.facade.consumer``) over the trio
Client. Native here: the partition consumer's streams are receive channels, its own Client
is entered with the Consumer, and every receive or close is a checkpoint."""

from __future__ import annotations

import trio

from kproto.consumer import ConsumerError
from kproto.errors import ClosedError
from kproto.facade._streams import AsyncBatches, Batch, PartitionErrors
from kproto.facade.consumer import AsyncConsumer, AsyncPartitionConsumer
from kproto.message_types import ConsumerMessage
from kproto_trio.client import Client

__all__ = ["Consumer", "ErrorChannel", "MessageChannel", "PartitionConsumer"]

YIELD_EVERY = 64


class MessageChannel(trio.abc.ReceiveChannel[ConsumerMessage]):
    """A partition consumer's messages: ``async for m in pc.messages``, ``await receive()``.

    It ends (``trio.EndOfChannel``) when the partition consumer is closed; when the
    partition stopped on an error, that error is raised after the messages before it.
    """

    def __init__(self, owner: PartitionConsumer) -> None:
        self._pc = owner
        self._ready_streak = 0

    def receive_nowait(self) -> ConsumerMessage:
        """The next message; ``trio.WouldBlock`` when none is buffered."""
        if self._pc._closed:
            raise trio.EndOfChannel
        msg = self._pc._take()
        if msg is None:
            raise trio.WouldBlock
        return msg

    async def receive(self) -> ConsumerMessage:
        pc = self._pc
        # A checkpoint before taking, so a cancelled receive loses nothing; a full one (a
        # yield to the scheduler) only every YIELD_EVERY ready messages: it costs more.
        self._ready_streak += 1
        if self._ready_streak >= YIELD_EVERY:
            self._ready_streak = 0
            await trio.lowlevel.checkpoint()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()
        buf = pc._buf
        cur = buf.cur
        i = buf.idx
        if i + 1 < len(cur):  # not the last of its chunk: nothing to release
            buf.idx = i + 1
            return cur[i]
        if i >= len(cur) and not buf.chunks:
            self._ready_streak = 0  # about to wait
        try:
            return await pc._loop.drive(pc._next_message(None))  # type: ignore[no-any-return]
        except ClosedError:
            if pc._closed:
                raise trio.EndOfChannel from None
            raise

    def __len__(self) -> int:
        """Messages delivered and not read yet."""
        return len(self._pc._buf)

    async def aclose(self) -> None:
        """Close the partition consumer."""
        await self._pc.close()


class ErrorChannel(trio.abc.ReceiveChannel[ConsumerError]):
    """A partition's errors (``ConsumerError`` values) of a partition consumer or offset
    manager; ends when it is closed or after the error that stopped it."""

    def __init__(self, owner: PartitionErrors) -> None:
        self._pc = owner

    def receive_nowait(self) -> ConsumerError:
        pc = self._pc
        if pc._errors:
            return pc._errors.popleft()
        raise trio.EndOfChannel if pc._closed or pc._fatal is not None else trio.WouldBlock

    async def receive(self) -> ConsumerError:
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            return await self._pc._loop.drive(self._pc._next_error(None))  # type: ignore[no-any-return]
        except ClosedError:
            raise trio.EndOfChannel from None

    def __len__(self) -> int:
        return len(self._pc._errors)

    async def aclose(self) -> None:
        await self._pc.close()


class Batches(AsyncBatches):
    __doc__ = AsyncBatches.__doc__

    async def get(self, timeout: float | None = None) -> Batch:
        # A full checkpoint per batch (trio's rule for an async call; per batch it is cheap)
        # so a reader that always finds a batch ready still lets other tasks run.
        await trio.lowlevel.checkpoint()
        return await super().get(timeout)


class PartitionConsumer(AsyncPartitionConsumer):
    """Messages of one partition, from the offset given to ``consume_partition``."""

    messages: MessageChannel
    errors: ErrorChannel
    _message_stream = MessageChannel
    _error_stream = ErrorChannel
    _batches = Batches

    async def close(self) -> None:
        """Stop consuming; both channels end."""
        await super().close()
        await trio.lowlevel.checkpoint()


class Consumer(AsyncConsumer[PartitionConsumer]):
    """Consumes partitions of a cluster (sarama's Consumer), awaited: ``async with
    Consumer("host:9092", **options)`` (entering its own Client), or ``client=`` an entered
    Client to share."""

    _client_class = Client
    _partition_class = PartitionConsumer

    async def close(self) -> None:
        """Close every partition consumer, then the consumer."""
        await super().close()
        await trio.lowlevel.checkpoint()
