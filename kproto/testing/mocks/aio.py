"""The awaited mocks of asyncio and trio (``kproto_asyncio.mocks``, ``kproto_trio.mocks``):
the real classes' methods, answered by the scripts (see ``_script.py``). Nothing here waits
on a loop, so one definition serves both; only the streams are named per transport."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from kproto.facade.producer import messages_for
from kproto.message_types import ConsumerMessage, ProducerMessage
from kproto.testing.mocks._common import (
    ConsumerGroupMock,
    ConsumerMock,
    PartitionMock,
    ProducerMock,
    SessionMock,
    _send_one,
    _settle,
    _settle_batch,
)
from kproto.testing.mocks._script import MockError, PartitionScript, SessionState, Values

__all__ = ["AsyncProducer", "Claim", "Consumer", "ConsumerGroup", "MockError",
           "PartitionConsumer", "Session", "Stream", "SyncProducer"]


class Stream:
    """A scripted stream (asyncio's names): ``await get()``, ``get_nowait()``, ``len()``,
    and ``async for`` that ends when the scripted values are used up."""

    def __init__(self, values: Values, on_take: Any = None) -> None:
        self._values = values
        self._on_take = on_take

    def _take(self, timeout: float | None) -> Any:
        v = self._values.take(timeout)
        return self._on_take(v) if self._on_take else v

    async def get(self, timeout: float | None = None) -> Any:
        return self._take(timeout)

    def get_nowait(self) -> Any:
        if not len(self._values):
            raise IndexError("no message buffered")
        return self._take(None)

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> Any:
        ok, v = self._values.take_or_stop()
        if not ok:
            raise StopAsyncIteration
        return self._on_take(v) if self._on_take else v

    def __len__(self) -> int:
        return len(self._values)

    @property
    def dropped(self) -> int:
        return 0


class Channel(Stream):
    """A scripted stream with trio's channel names: ``await receive()``,
    ``receive_nowait()``, ``async with`` / ``aclose()``."""

    async def receive(self) -> Any:
        return self._take(None)

    def receive_nowait(self) -> Any:
        return self.get_nowait()

    async def aclose(self) -> None:
        pass

    async def __aenter__(self) -> Channel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


class Batches:
    """A mock's ``batches()``: each scripted message as a batch of one."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    async def get(self, timeout: float | None = None) -> tuple[ConsumerMessage, ...]:
        return (self._stream._take(timeout),)

    def __aiter__(self) -> Batches:
        return self

    async def __anext__(self) -> tuple[ConsumerMessage, ...]:
        return (await self._stream.__anext__(),)


class _Transaction:
    def __init__(self, producer: _Producer) -> None:
        self._producer = producer

    async def __aenter__(self) -> _Producer:
        await self._producer.begin_txn()
        return self._producer

    async def __aexit__(self, typ: object, error: BaseException | None, tb: object) -> None:
        if error is None:
            await self._producer.commit_txn()
        else:
            await self._producer.abort_txn()


class _Producer(ProducerMock):
    _stream_class: ClassVar[type[Stream]] = Stream

    def __init__(self, *, transactional_id: str | None = None) -> None:
        super().__init__(transactional_id=transactional_id)
        self.successes = self._stream_class(Values("successes"))
        self.errors = self._stream_class(Values("errors"))
        self._successes = self.successes._values
        self._errors = self.errors._values

    async def flush(self) -> None:
        pass

    async def close(self, *, drop: bool = False) -> None:
        """Raises MockError naming every expected send that did not happen."""
        self._script.close()

    async def async_close(self) -> None:
        await self.close(drop=True)

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def init_transactions(self) -> None:
        self._script.txn("init")

    async def begin_txn(self) -> None:
        self._script.txn("begin")

    async def commit_txn(self) -> None:
        self._script.txn("commit")

    async def abort_txn(self) -> None:
        self._script.txn("abort")

    def transaction(self) -> _Transaction:
        return _Transaction(self)

    async def add_offsets_to_txn(self, offsets: Mapping[Any, Any], group_id: Any) -> None:
        self._add_offsets(offsets, group_id)

    async def add_message_to_txn(self, message: ConsumerMessage, group_id: Any,
                                 metadata: str | None = None) -> None:
        self._add_offsets({(message.topic, message.partition): message.offset + 1}, group_id)


class SyncProducer(_Producer):
    """A mock of the awaited SyncProducer: script each send with ``expect_*``."""

    _name = "SyncProducer"

    async def send_message(self, msg: ProducerMessage) -> tuple[int, int]:
        return _send_one(self._script, msg)

    async def send_messages(self, msgs: Iterable[ProducerMessage]) -> None:
        _settle(self._script, list(msgs))

    async def send_batch(self, msgs: Sequence[ProducerMessage]) -> list[tuple[int, int]]:
        return _settle_batch(self._script, list(msgs))

    async def send_many(self, topic: str, values: Iterable[bytes | None], *,
                        keys: Iterable[bytes | None] | None = None,
                        partition: int | None = None) -> list[tuple[int, int]]:
        return _settle_batch(self._script, messages_for(topic, values, keys, partition))


class AsyncProducer(_Producer):
    """A mock of the awaited AsyncProducer: each send's result is on ``successes`` or
    ``errors`` at once."""

    _name = "AsyncProducer"

    def send_nowait(self, msg: ProducerMessage) -> None:
        """Queue a message without waiting; its result goes to ``successes`` or ``errors``."""
        self._queue(msg)

    async def send(self, msg: ProducerMessage) -> None:
        self._queue(msg)

    async def send_batch(self, msgs: Sequence[ProducerMessage]) -> None:
        for msg in msgs:
            self._queue(msg)

    async def send_many(self, topic: str, values: Iterable[bytes | None], *,
                        keys: Iterable[bytes | None] | None = None,
                        partition: int | None = None) -> None:
        for msg in messages_for(topic, values, keys, partition):
            self._queue(msg)


class PartitionConsumer(PartitionMock):
    """What a mock Consumer's ``consume_partition`` returns."""

    _stream_class: ClassVar[type[Stream]] = Stream

    def __init__(self, script: PartitionScript) -> None:
        super().__init__(script, script.messages)
        self.messages = self._stream_class(script.messages, self._took)
        self.errors = self._stream_class(script.errors)

    async def __aenter__(self) -> PartitionConsumer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        pass

    def batches(self) -> Batches:
        """The scripted messages, one per batch."""
        return Batches(self.messages)

    async def seek(self, offset: int) -> None:
        self._seek(offset)

    async def seek_to_committed(self) -> None:
        pass

    async def seek_to_timestamp(self, timestamp: int) -> None:
        pass

    async def committed(self) -> int | None:
        return None

    async def lag(self) -> int:
        return self.high_water_mark_offset() - self.position()


class Consumer(ConsumerMock):
    """A mock of the awaited Consumer: ``expect_consume_partition(t, p, offset)``."""

    _partition_class: ClassVar[type[PartitionConsumer]] = PartitionConsumer

    async def consume_partition(self, topic: str, partition: int, offset: int, *,
                                stop_at_end: bool = False) -> PartitionConsumer:
        return self._partition_class(self._script.consume(topic, partition, offset))

    async def topics(self) -> list[str]:
        return sorted(self._script.metadata)

    async def partitions(self, topic: str) -> list[int]:
        return self._script.partitions(topic)

    async def beginning_offsets(self, partitions: Any) -> dict[Any, int]:
        return self._offsets(partitions, False)

    async def end_offsets(self, partitions: Any) -> dict[Any, int]:
        return self._offsets(partitions, True)

    async def offsets_for_times(self, times: Any) -> dict[Any, Any]:
        return {tp: None for tp in times}

    async def close(self) -> None:
        """Raises MockError naming every expected partition consumer not started."""
        self._script.close()

    async def __aenter__(self) -> Consumer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Session(SessionMock):
    """The session a mock ConsumerGroup hands its handler."""

    def __init__(self, state: SessionState, claims: Sequence[Claim]) -> None:
        super().__init__(state)
        self._claims = claims

    def claims(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for c in self._claims:
            out.setdefault(c.topic, []).append(c.partition)
        return out

    async def commit(self) -> None:
        self._state.commit()


class Claim(PartitionConsumer):
    """One claimed partition: ``topic``, ``partition``, ``initial_offset``, ``messages``."""

    def __init__(self, script: PartitionScript) -> None:
        super().__init__(script)
        self.topic = script.topic
        self.partition = script.partition
        self.initial_offset = script.offset


class ConsumerGroup(ConsumerGroupMock):
    """A mock of the awaited ConsumerGroup: ``expect_consume(topics)`` for each ``consume``
    call, then ``.yield_claim(...)``, ``.yield_error(e)`` or ``.fail(e)``."""

    _stream_class: ClassVar[type[Stream]] = Stream
    _claim_class: ClassVar[type[Claim]] = Claim

    def __init__(self, group_id: str | None = None) -> None:
        super().__init__(group_id)
        self._errors = self._stream_class(self._script.errors)

    @property
    def errors(self) -> Stream:
        return self._errors

    async def consume(self, topics: Sequence[str], handler: Any) -> None:
        """Run the next scripted session: setup, consume_claim for each claim in turn,
        cleanup; the marked offsets are committed at its end."""
        script = self._script.start(topics)
        state = SessionState(self._script, script)
        claims = [self._claim_class(c) for c in script.claims]
        session = Session(state, claims)
        await handler.setup(session)
        try:
            for claim in claims:
                await handler.consume_claim(session, claim)
        finally:
            await handler.cleanup(session)
            state.commit()

    async def close(self) -> None:
        """Raises MockError naming every expected consume that did not happen."""
        self._script.close()

    async def __aenter__(self) -> ConsumerGroup:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
