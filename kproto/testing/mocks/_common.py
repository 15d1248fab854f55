"""What the blocking and the awaited mocks share: the expectation methods and the state
readers (no call here waits, so one definition serves both)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kproto.consumer.events import ConsumerError
from kproto.message_types import ConsumerMessage, ProducerMessage
from kproto.producer.errors import ProducerError
from kproto.producer.transactions import TxnStatus
from kproto.testing.mocks._script import (
    ConsumerScript,
    GroupScript,
    MockError,
    PartitionScript,
    ProducerScript,
    SessionScript,
    SessionState,
    Values,
)


class ProducerMock:
    """The expectation methods of both mock producers (sarama's ExpectInput...)."""

    _name = "Producer"

    def __init__(self, *, transactional_id: str | None = None) -> None:
        self._script = ProducerScript(self._name, transactional_id is not None)

    def expect_send_message_and_succeed(self) -> None:
        """The next message sent is stored (partition and offset filled in)."""
        self._script.expect()

    def expect_send_message_and_fail(self, error: BaseException) -> None:
        """The next message sent fails with ``error``."""
        self._script.expect(error)

    def expect_send_message_with_check(self, check: Callable[[ProducerMessage], Any],
                                       error: BaseException | None = None) -> None:
        """The next message sent must pass ``check`` (False or an exception: MockError
        at once); then it is stored, or fails with ``error`` when one is given."""
        self._script.expect(error, check)

    @property
    def sent(self) -> list[ProducerMessage]:
        """Every message sent so far, in order."""
        return self._script.sent

    def is_transactional(self) -> bool:
        return self._script.transactional

    def txn_status(self) -> TxnStatus:
        if self._script.in_txn:
            return TxnStatus.IN_TRANSACTION
        return TxnStatus.READY if self._script.transactional else TxnStatus.UNINITIALIZED

    def metrics(self) -> dict[str, Any]:
        return {"sent": len(self._script.sent)}

    def _queue(self, msg: ProducerMessage) -> None:
        err = self._script.deliver(msg)
        if err is None:
            self._successes.items.append(msg)
        else:
            self._errors.items.append(err)

    def _add_offsets(self, offsets: Mapping[Any, Any], group_id: Any) -> None:
        if not self._script.in_txn:
            raise MockError(f"{self._name}: add_offsets_to_txn outside a transaction")
        self._script.txn_calls.append("add_offsets")

    _successes: Values
    _errors: Values


def _settle(script: ProducerScript, msgs: Sequence[ProducerMessage]) -> None:
    from kproto.producer.errors import ProducerErrors
    errors = [e for e in (script.deliver(m) for m in msgs) if e is not None]
    if errors:
        raise ProducerErrors(errors)


def _settle_batch(script: ProducerScript,
                  msgs: Sequence[ProducerMessage]) -> list[tuple[int, int]]:
    """``send_batch``: each message scripted in turn; ProducerErrors names those that fail."""
    _settle(script, msgs)
    return [(-1 if m.partition is None else m.partition, m.offset) for m in msgs]


def _send_one(script: ProducerScript, msg: ProducerMessage) -> tuple[int, int]:
    err = script.deliver(msg)
    if err is not None:
        raise err
    assert msg.partition is not None
    return msg.partition, msg.offset


class ConsumerMock:
    """The expectation methods and metadata readers of the mock consumers."""

    def __init__(self) -> None:
        self._script = ConsumerScript()
        self._paused: set[tuple[str, int]] = set()

    def expect_consume_partition(self, topic: str, partition: int,
                                 offset: int) -> PartitionScript:
        """``consume_partition(topic, partition, offset)`` will be called; chain
        ``.yield_message(m)`` and ``.yield_error(e)`` on the result to script it."""
        return self._script.expect(topic, partition, offset)

    def set_topic_metadata(self, metadata: Mapping[str, Sequence[int]]) -> None:
        """What ``topics()`` and ``partitions(topic)`` answer: topic -> partition ids."""
        for t, ps in metadata.items():
            self._script.metadata[t] = list(ps)

    def expect_messages_drained_on_close(self) -> None:
        """``close`` also fails when a scripted message was never read."""
        self._script.drained_on_close = True

    def high_water_marks(self) -> dict[str, dict[int, int]]:
        return self._script.high_water_marks()

    def pause(self, partitions: Any) -> None:
        self._paused.update(partitions)

    def resume(self, partitions: Any) -> None:
        self._paused.difference_update(partitions)

    def pause_all(self) -> None:
        self._paused.update(self._script.expected)

    def resume_all(self) -> None:
        self._paused.clear()

    def _offsets(self, partitions: Any, end: bool) -> dict[Any, int]:
        marks = self._script.high_water_marks()
        return {tp: (marks.get(tp[0], {}).get(tp[1], 0) if end else 0) for tp in partitions}


class PartitionMock:
    """The state readers of a mock partition consumer (and of a mock claim)."""

    def __init__(self, script: PartitionScript, values: Values) -> None:
        self._part = script
        self._values = values
        self._paused = False
        self._position = max(script.offset, 0)

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def position(self) -> int:
        return self._position

    def high_water_mark_offset(self) -> int:
        return self._part.next_offset

    def _took(self, msg: ConsumerMessage) -> ConsumerMessage:
        self._position = msg.offset + 1
        return msg

    def _seek(self, offset: int) -> None:
        if not isinstance(offset, int):
            raise TypeError("offset must be an int")
        self._position = offset


class ConsumerGroupMock:
    """The expectation methods of the mock consumer groups."""

    def __init__(self, group_id: str | None = None) -> None:
        self._script = GroupScript(group_id)

    def expect_consume(self, topics: Sequence[str] | None = None) -> SessionScript:
        """The next ``consume`` call (of ``topics``, when given); chain
        ``.yield_claim(topic, partition, messages)``, ``.yield_error(e)`` or ``.fail(e)``."""
        return self._script.expect(topics)

    @property
    def committed(self) -> dict[tuple[str, int], tuple[int, str | None]]:
        """What the sessions committed: (topic, partition) -> (offset, metadata)."""
        return self._script.committed

    def pause(self, partitions: Any) -> None:
        self._script.paused.update(partitions)

    def resume(self, partitions: Any) -> None:
        self._script.paused.difference_update(partitions)

    def pause_all(self) -> None:
        pass

    def resume_all(self) -> None:
        self._script.paused.clear()


class SessionMock:
    """A mock session's marks (the same for every transport)."""

    def __init__(self, state: SessionState) -> None:
        self._state = state

    @property
    def member_id(self) -> str:
        return self._state.member_id

    @property
    def generation_id(self) -> int:
        return self._state.script.generation_id

    def group_metadata(self) -> Any:
        from kproto.group.metadata import ConsumerGroupMetadata
        return ConsumerGroupMetadata(self._state.group.group_id or "",
                                     self._state.script.generation_id,
                                     self._state.member_id)

    def mark_message(self, message: ConsumerMessage, metadata: str | None = None) -> None:
        self._state.mark(message.topic, message.partition, message.offset + 1, metadata)

    def mark_offset(self, topic: str, partition: int, offset: int,
                    metadata: str | None = None) -> None:
        self._state.mark(topic, partition, offset, metadata)

    def reset_offset(self, topic: str, partition: int, offset: int,
                     metadata: str | None = None) -> None:
        self._state.mark(topic, partition, offset, metadata, reset=True)


__all__ = ["ConsumerError", "ConsumerGroupMock", "ConsumerMock", "PartitionMock",
           "ProducerError", "ProducerMock", "SessionMock", "_send_one", "_settle"]
