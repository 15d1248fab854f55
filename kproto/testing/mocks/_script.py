"""The scripts behind the mocks: what a test expects, checked as the code under test calls.

Theory of operation: a mock (``blocking.py`` for the blocking transport, ``aio.py`` for
asyncio and trio) is a thin shell with the real class's methods; each call asks its script
here what to do. A script holds the test's expectations in order (sarama's mocks package:
``expect_send_message_and_succeed``, ``expect_consume_partition(...).yield_message(m)``, ...).
A call nothing expected raises :class:`MockError` at once; ``close`` raises a MockError naming
every expectation left unmet. Scripts are pure: no IO, no clock, no waiting. A stream whose
scripted values are used up ends (iteration stops); asking it for one more raises MockError
(the real one would wait forever) or, given a timeout, ClientTimeoutError at once (what the
real one would raise after waiting).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from kproto.consumer.events import ConsumerError
from kproto.errors import ClientTimeoutError, KprotoError
from kproto.message_types import ConsumerMessage, Header, ProducerMessage
from kproto.producer.errors import ProducerError

__all__ = ["ConsumerScript", "GroupScript", "MockError", "PartitionScript", "ProducerScript",
           "SessionScript", "Values"]


class MockError(KprotoError, AssertionError):
    """A call the test did not expect, or expectations the code under test left unmet. Also an
    AssertionError, so that pytest reports it as the test's failure."""


def _unmet(what: str, items: Iterable[str]) -> None:
    left = list(items)
    if left:
        raise MockError(f"{what}: {len(left)} expectation(s) not met:\n"
                        + "\n".join(f"  {d}" for d in left))


class Values:
    """The scripted values of a stream (messages or errors), taken in order."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.items: deque[Any] = deque()
        self.taken = 0

    def take(self, timeout: float | None = None) -> Any:
        """The next value; when none is left see the module's docstring."""
        if self.items:
            self.taken += 1
            return self.items.popleft()
        if timeout is not None:
            raise ClientTimeoutError(f"no more {self.what} scripted (mock)")
        raise MockError(f"no more {self.what} scripted: the real stream would wait forever "
                        "(script more, or pass a timeout)")

    def take_or_stop(self) -> tuple[bool, Any]:
        """(True, value) or (False, None) when used up: iteration ends there."""
        if self.items:
            self.taken += 1
            return True, self.items.popleft()
        return False, None

    def __len__(self) -> int:
        return len(self.items)


# -- producers ------------------------------------------------------------------------------


class _Send:
    __slots__ = ("check", "error", "text")

    def __init__(self, text: str, error: BaseException | None,
                 check: Callable[[ProducerMessage], Any] | None) -> None:
        self.text, self.error, self.check = text, error, check


def _checked_error(error: Any, name: str = "error") -> BaseException:
    if not isinstance(error, BaseException):
        raise TypeError(f"{name} must be an exception, not {type(error).__name__}")
    return error


class ProducerScript:
    """Both producers' expectations: one per message sent, in order."""

    def __init__(self, name: str, transactional: bool = False) -> None:
        self.name = name
        self.expected: deque[_Send] = deque()
        self.sent: list[ProducerMessage] = []
        """Every message the code under test sent, in order (succeeded or not)."""
        self.next_offset: dict[tuple[str, int], int] = {}
        self.transactional = transactional
        self.in_txn = False
        self.txn_calls: list[str] = []
        """``begin``/``commit``/``abort``/``add_offsets``, in the order they were called."""
        self.closed = False

    def expect(self, error: BaseException | None = None,
               check: Callable[[ProducerMessage], Any] | None = None) -> None:
        if error is not None:
            _checked_error(error)
        if check is not None and not callable(check):
            raise TypeError("check must be callable with the message")
        n = len(self.sent) + len(self.expected) + 1
        text = (f"send #{n}: " + ("checked, then " if check else "")
                + (f"fail with {error!r}" if error is not None else "succeed"))
        self.expected.append(_Send(text, error, check))

    def deliver(self, msg: ProducerMessage) -> ProducerError | None:
        """Settle one message by the next expectation: None once it is stored (its partition
        and offset filled in), or the ProducerError it fails with."""
        if self.closed:
            raise MockError(f"{self.name}: send of {msg!r} after close")
        if not isinstance(msg, ProducerMessage):
            raise TypeError(f"msg must be a ProducerMessage, not {type(msg).__name__}")
        if not self.expected:
            raise MockError(f"{self.name}: unexpected send of {msg!r} (no expectation left)")
        exp = self.expected.popleft()
        self.sent.append(msg)
        if exp.check is not None:
            try:
                ok = exp.check(msg)
            except Exception as e:
                raise MockError(f"{self.name}: {exp.text}: the check raised {e!r} "
                                f"for {msg!r}") from e
            if ok is False:
                raise MockError(f"{self.name}: {exp.text}: the check rejected {msg!r}")
        if exp.error is not None:
            return ProducerError(msg, exp.error)
        partition = msg.partition if msg.partition is not None else 0
        key = (msg.topic, partition)
        msg.partition = partition
        msg.offset = self.next_offset.get(key, 0)
        self.next_offset[key] = msg.offset + 1
        return None

    def txn(self, step: str) -> None:
        """Track begin/commit/abort as the real producer would refuse them."""
        if not self.transactional:
            raise MockError(f"{self.name}: {step}_txn on a producer without transactional_id")
        if step == "begin":
            if self.in_txn:
                raise MockError(f"{self.name}: begin_txn inside a transaction")
            self.in_txn = True
        elif step in ("commit", "abort"):
            if not self.in_txn:
                raise MockError(f"{self.name}: {step}_txn outside a transaction")
            self.in_txn = False
        self.txn_calls.append(step)

    def close(self) -> None:
        self.closed = True
        _unmet(self.name, (e.text for e in self.expected))


# -- the partition consumer -----------------------------------------------------------------


class PartitionScript:
    """What one ``consume_partition(topic, partition, offset)`` yields."""

    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset
        self.messages = Values(f"messages of {topic}[{partition}]")
        self.errors = Values(f"errors of {topic}[{partition}]")
        self.next_offset = max(offset, 0)
        self.consumed = False

    def yield_message(self, value: bytes | ConsumerMessage | None, key: bytes | None = None,
                      headers: Sequence[Header] = (), timestamp: int = 0) -> PartitionScript:
        """Deliver a message: a ConsumerMessage as given, or a value (and key) stored at the
        next offset. Returns the script, to chain."""
        if isinstance(value, ConsumerMessage):
            msg = value
        elif value is None or isinstance(value, bytes):
            msg = ConsumerMessage(self.topic, self.partition, self.next_offset, key, value,
                                  tuple(headers), timestamp, 0)
        else:
            raise TypeError("value must be bytes, None or a ConsumerMessage, "
                            f"not {type(value).__name__}")
        self.next_offset = msg.offset + 1
        self.messages.items.append(msg)
        return self

    def yield_error(self, error: BaseException) -> PartitionScript:
        """Deliver ``ConsumerError(topic, partition, error)`` on the errors stream."""
        self.errors.items.append(ConsumerError(self.topic, self.partition,
                                               _checked_error(error)))
        return self

    def __str__(self) -> str:
        return f"consume_partition({self.topic!r}, {self.partition}, {self.offset})"


class ConsumerScript:
    """The partition consumers a test expects, by (topic, partition)."""

    def __init__(self) -> None:
        self.expected: dict[tuple[str, int], PartitionScript] = {}
        self.metadata: dict[str, list[int]] = {}
        self.drained_on_close = False
        self.closed = False

    def expect(self, topic: str, partition: int, offset: int) -> PartitionScript:
        if not isinstance(topic, str) or not topic:
            raise TypeError("topic must be a non-empty str")
        if not isinstance(partition, int) or partition < 0:
            raise ValueError("partition must be an int >= 0")
        if not isinstance(offset, int):
            raise TypeError("offset must be an int")
        script = PartitionScript(topic, partition, offset)
        self.expected[(topic, partition)] = script
        self.metadata.setdefault(topic, [])
        if partition not in self.metadata[topic]:
            self.metadata[topic].append(partition)
        return script

    def consume(self, topic: str, partition: int, offset: int) -> PartitionScript:
        if self.closed:
            raise MockError("Consumer: consume_partition after close")
        script = self.expected.get((topic, partition))
        if script is None:
            raise MockError(f"Consumer: unexpected consume_partition({topic!r}, {partition}, "
                            f"{offset})")
        if script.consumed:
            raise MockError(f"Consumer: {script} called twice")
        if offset != script.offset:
            raise MockError(f"Consumer: consume_partition({topic!r}, {partition}, {offset}) "
                            f"where the test expects offset {script.offset}")
        script.consumed = True
        return script

    def partitions(self, topic: str) -> list[int]:
        if topic not in self.metadata:
            raise MockError(f"Consumer: partitions({topic!r}) of a topic the test did not "
                            "set (set_topic_metadata or expect_consume_partition)")
        return sorted(self.metadata[topic])

    def high_water_marks(self) -> dict[str, dict[int, int]]:
        out: dict[str, dict[int, int]] = {}
        for (t, p), s in self.expected.items():
            out.setdefault(t, {})[p] = s.next_offset
        return out

    def close(self) -> None:
        self.closed = True
        left = [f"{s} was never called" for s in self.expected.values() if not s.consumed]
        if self.drained_on_close:
            left += [f"{s}: {len(s.messages)} message(s) not read"
                     for s in self.expected.values() if s.consumed and len(s.messages)]
        _unmet("Consumer", left)


# -- the consumer group ---------------------------------------------------------------------


class SessionScript:
    """One ``consume(topics, handler)`` call: the claims it hands out, or the error it fails
    with; errors it puts on the group's ``errors`` stream."""

    def __init__(self, topics: Sequence[str] | None, n: int) -> None:
        self.topics = None if topics is None else sorted(topics)
        self.n = n
        self.claims: list[PartitionScript] = []
        self.errors: list[BaseException] = []
        self.failure: BaseException | None = None
        self.generation_id = n

    def yield_claim(self, topic: str, partition: int,
                    messages: Iterable[bytes | ConsumerMessage | None] = (),
                    offset: int = 0) -> SessionScript:
        """Claim ``topic[partition]`` for the session, delivering ``messages`` (values are
        stored from ``offset`` on). Returns the script, to chain."""
        part = PartitionScript(topic, partition, offset)
        for m in messages:
            part.yield_message(m)
        self.claims.append(part)
        return self

    def yield_error(self, error: BaseException) -> SessionScript:
        """Put a GroupError with ``error`` on the group's errors stream during the session."""
        self.errors.append(_checked_error(error))
        return self

    def fail(self, error: BaseException) -> SessionScript:
        """``consume`` raises ``error`` instead of running the handler."""
        self.failure = _checked_error(error)
        return self

    def __str__(self) -> str:
        topics = "any topics" if self.topics is None else repr(self.topics)
        return f"consume #{self.n} of {topics}"


class GroupScript:
    """A consumer group's sessions, in order, and the offsets its handlers marked."""

    def __init__(self, group_id: str | None) -> None:
        self.group_id = group_id
        self.expected: deque[SessionScript] = deque()
        self.runs = 0
        self.committed: dict[tuple[str, int], tuple[int, str | None]] = {}
        """Offsets committed by the sessions that ran: (topic, partition) -> (offset, metadata)."""
        self.errors = Values("group errors")
        self.paused: set[tuple[str, int]] = set()
        self.closed = False

    def expect(self, topics: Sequence[str] | None) -> SessionScript:
        if topics is not None and (isinstance(topics, str)
                                   or not all(isinstance(t, str) for t in topics)):
            raise TypeError("topics must be a list of topic names or None")
        s = SessionScript(topics, self.runs + len(self.expected) + 1)
        self.expected.append(s)
        return s

    def start(self, topics: Sequence[str]) -> SessionScript:
        """The next session for ``consume(topics, ...)``; raises its failure if it fails."""
        if self.closed:
            raise MockError("ConsumerGroup: consume after close")
        if isinstance(topics, str):
            raise TypeError("topics must be a list of topic names, not a str")
        if not self.expected:
            raise MockError(f"ConsumerGroup: unexpected consume({list(topics)!r})")
        s = self.expected.popleft()
        self.runs += 1
        if s.topics is not None and sorted(topics) != s.topics:
            raise MockError(f"ConsumerGroup: consume({list(topics)!r}) where the test "
                            f"expects {s}")
        from kproto.group.events import GroupError
        for e in s.errors:
            self.errors.items.append(GroupError(0, e))
        if s.failure is not None:
            raise s.failure
        return s

    def close(self) -> None:
        self.closed = True
        _unmet("ConsumerGroup", (str(s) for s in self.expected))


class SessionState:
    """A running session's marks: ``mark_*`` and ``reset_offset`` record, ``commit`` (and
    the session's end) stores them in the group's ``committed``."""

    def __init__(self, group: GroupScript, script: SessionScript) -> None:
        self.group = group
        self.script = script
        self.marks: dict[tuple[str, int], tuple[int, str | None]] = {}
        self.member_id = f"mock-member-{group.runs}"

    def mark(self, topic: str, partition: int, offset: int, metadata: str | None,
             reset: bool = False) -> None:
        if not any(c.topic == topic and c.partition == partition for c in self.script.claims):
            raise MockError(f"Session: mark of {topic}[{partition}], which this session "
                            "does not claim")
        old = self.marks.get((topic, partition))
        if reset or old is None or offset > old[0]:
            self.marks[(topic, partition)] = (offset, metadata)

    def commit(self) -> None:
        self.group.committed.update(self.marks)
