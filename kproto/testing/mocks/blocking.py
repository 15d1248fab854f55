"""The blocking transport's mocks (``kproto_threads.mocks``): the real classes' methods,
``timeout=`` included, answered by the scripts (see ``_script.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

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
from kproto.testing.mocks._script import MockError, SessionState, Values

__all__ = ["AsyncProducer", "Claim", "Consumer", "ConsumerGroup", "MockError",
           "PartitionConsumer", "Session", "Stream", "SyncProducer"]


class Stream:
    """A scripted stream: ``get(timeout)``, ``len()``, and iteration that ends when the
    scripted values are used up."""

    def __init__(self, values: Values, on_take: Any = None) -> None:
        self._values = values
        self._on_take = on_take

    def get(self, timeout: float | None = None) -> Any:
        v = self._values.take(timeout)
        return self._on_take(v) if self._on_take else v

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> Any:
        ok, v = self._values.take_or_stop()
        if not ok:
            raise StopIteration
        return self._on_take(v) if self._on_take else v

    def __len__(self) -> int:
        return len(self._values)

    @property
    def dropped(self) -> int:
        return 0


class _Transaction:
    def __init__(self, producer: _Producer) -> None:
        self._producer = producer

    def __enter__(self) -> _Producer:
        self._producer.begin_txn()
        return self._producer

    def __exit__(self, typ: object, error: BaseException | None, tb: object) -> None:
        if error is None:
            self._producer.commit_txn()
        else:
            self._producer.abort_txn()


class _Producer(ProducerMock):
    def __init__(self, *, transactional_id: str | None = None) -> None:
        super().__init__(transactional_id=transactional_id)
        self.successes = Stream(Values("successes"))
        self.errors = Stream(Values("errors"))
        self._successes = self.successes._values
        self._errors = self.errors._values

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None, *, drop: bool = False) -> None:
        """Raises MockError naming every expected send that did not happen."""
        self._script.close()

    def async_close(self) -> None:
        self.close(drop=True)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def init_transactions(self, timeout: float | None = None) -> None:
        self._script.txn("init")

    def begin_txn(self, timeout: float | None = None) -> None:
        self._script.txn("begin")

    def commit_txn(self, timeout: float | None = None) -> None:
        self._script.txn("commit")

    def abort_txn(self, timeout: float | None = None) -> None:
        self._script.txn("abort")

    def transaction(self, timeout: float | None = None) -> _Transaction:
        return _Transaction(self)

    def add_offsets_to_txn(self, offsets: Mapping[Any, Any], group_id: Any,
                           timeout: float | None = None) -> None:
        self._add_offsets(offsets, group_id)

    def add_message_to_txn(self, message: ConsumerMessage, group_id: Any,
                           metadata: str | None = None, timeout: float | None = None) -> None:
        self._add_offsets({(message.topic, message.partition): message.offset + 1}, group_id)


class SyncProducer(_Producer):
    """A mock of ``kproto_threads.SyncProducer``: script each send with ``expect_*``."""

    _name = "SyncProducer"

    def send_message(self, msg: ProducerMessage,
                     timeout: float | None = None) -> tuple[int, int]:
        return _send_one(self._script, msg)

    def send_messages(self, msgs: Iterable[ProducerMessage],
                      timeout: float | None = None) -> None:
        _settle(self._script, list(msgs))

    def send_batch(self, msgs: Sequence[ProducerMessage],
                   timeout: float | None = None) -> list[tuple[int, int]]:
        return _settle_batch(self._script, list(msgs))

    def send_many(self, topic: str, values: Iterable[bytes | None], *,
                  keys: Iterable[bytes | None] | None = None, partition: int | None = None,
                  timeout: float | None = None) -> list[tuple[int, int]]:
        return _settle_batch(self._script, messages_for(topic, values, keys, partition))


class AsyncProducer(_Producer):
    """A mock of ``kproto_threads.AsyncProducer``: each send's result is on ``successes`` or
    ``errors`` at once."""

    _name = "AsyncProducer"

    def send_nowait(self, msg: ProducerMessage) -> None:
        """Queue a message without waiting; its result goes to ``successes`` or ``errors``."""
        self._queue(msg)

    def send(self, msg: ProducerMessage, timeout: float | None = None) -> None:
        self._queue(msg)

    def send_batch(self, msgs: Sequence[ProducerMessage], timeout: float | None = None) -> None:
        for msg in msgs:
            self._queue(msg)

    def send_many(self, topic: str, values: Iterable[bytes | None], *,
                  keys: Iterable[bytes | None] | None = None, partition: int | None = None,
                  timeout: float | None = None) -> None:
        for msg in messages_for(topic, values, keys, partition):
            self._queue(msg)


class PartitionConsumer(PartitionMock):
    """What a mock Consumer's ``consume_partition`` returns: the scripted ``messages`` and
    ``errors``."""

    def __init__(self, script: Any) -> None:
        super().__init__(script, script.messages)
        self.messages = Stream(script.messages, self._took)
        self.errors = Stream(script.errors)

    def __enter__(self) -> PartitionConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    def batches(self, timeout: float | None = None) -> Iterator[tuple[ConsumerMessage, ...]]:
        """The scripted messages, one per batch."""
        return ((msg,) for msg in self.messages)

    def seek(self, offset: int, timeout: float | None = None) -> None:
        self._seek(offset)

    def seek_to_committed(self, timeout: float | None = None) -> None:
        pass

    def seek_to_timestamp(self, timestamp: int, timeout: float | None = None) -> None:
        pass

    def committed(self, timeout: float | None = None) -> int | None:
        return None

    def lag(self, timeout: float | None = None) -> int:
        return self.high_water_mark_offset() - self.position()


class Consumer(ConsumerMock):
    """A mock of ``kproto_threads.Consumer``: ``expect_consume_partition(t, p, offset)``."""

    def consume_partition(self, topic: str, partition: int, offset: int,
                          timeout: float | None = None, *,
                          stop_at_end: bool = False) -> PartitionConsumer:
        return PartitionConsumer(self._script.consume(topic, partition, offset))

    def topics(self, timeout: float | None = None) -> list[str]:
        return sorted(self._script.metadata)

    def partitions(self, topic: str, timeout: float | None = None) -> list[int]:
        return self._script.partitions(topic)

    def beginning_offsets(self, partitions: Any, timeout: float | None = None) -> dict[Any, int]:
        return self._offsets(partitions, False)

    def end_offsets(self, partitions: Any, timeout: float | None = None) -> dict[Any, int]:
        return self._offsets(partitions, True)

    def offsets_for_times(self, times: Any, timeout: float | None = None) -> dict[Any, Any]:
        return {tp: None for tp in times}

    def close(self) -> None:
        """Raises MockError naming every expected partition consumer not started."""
        self._script.close()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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

    def commit(self, timeout: float | None = None) -> None:
        self._state.commit()


class Claim(PartitionConsumer):
    """One claimed partition: ``topic``, ``partition``, ``initial_offset``, ``messages``."""

    def __init__(self, script: Any) -> None:
        super().__init__(script)
        self.topic = script.topic
        self.partition = script.partition
        self.initial_offset = script.offset


class ConsumerGroup(ConsumerGroupMock):
    """A mock of ``kproto_threads.ConsumerGroup``: ``expect_consume(topics)`` for each
    ``consume`` call, then ``.yield_claim(...)``, ``.yield_error(e)`` or ``.fail(e)``."""

    def __init__(self, group_id: str | None = None) -> None:
        super().__init__(group_id)
        self._errors = Stream(self._script.errors)

    @property
    def errors(self) -> Stream:
        return self._errors

    def consume(self, topics: Sequence[str], handler: Any, *, cancel: Any = None) -> None:
        """Run the next scripted session: setup, consume_claim for each claim in turn,
        cleanup; the marked offsets are committed at its end."""
        script = self._script.start(topics)
        state = SessionState(self._script, script)
        claims = [Claim(c) for c in script.claims]
        session = Session(state, claims)
        handler.setup(session)
        try:
            for claim in claims:
                handler.consume_claim(session, claim)
        finally:
            handler.cleanup(session)
            state.commit()

    def close(self, timeout: float | None = None) -> None:
        """Raises MockError naming every expected consume that did not happen."""
        self._script.close()

    def __enter__(self) -> ConsumerGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
