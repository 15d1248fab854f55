"""Group members for real-broker tests, written once for every transport.

``Ledger`` is shared by every member of a test: handlers record each message they process
with the member, the session's generation and the claim, and check two invariants as they
go: no two members hold one partition in one generation, and a claim never starts past a
record nobody processed (so no committed record is lost). ``handler(transport, ...)`` builds
a handler of the right kind (plain methods for threads, coroutines for asyncio and trio)
around the same logic. ``Member`` runs ``consume`` in a loop on a test thread, the way an
application does, through ``tests.conformance.drivers.open_remote``.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from kproto.errors import ClosedError
from tests.conformance.drivers import open_remote

WAIT = 90.0
"""Upper bound of every wait for the group to get somewhere."""


class Ledger:
    """What every member processed, and who held which partition in which generation."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.processed: dict[tuple[str, int], set[int]] = defaultdict(set)
        self.by_member: dict[str, dict[tuple[str, int], list[tuple[int, int]]]] = defaultdict(
            lambda: defaultdict(list))
        """member -> partition -> [(generation, offset)] in processing order."""
        self.owners: dict[tuple[int, str, int], str] = {}
        self.holding: dict[str, dict[tuple[str, int], int]] = defaultdict(dict)
        """member -> partitions its running claim loops hold -> generation at start."""
        self.claim_loops: dict[str, list[tuple[str, int, int, str]]] = defaultdict(list)
        """member -> [(topic, partition, generation, 'start'|'end')]."""
        self.timeline: list[tuple[float, str, str, int, int]] = []
        """(when, member, what, partition, generation) of every claim start and message."""
        self.shared: list[str] = []
        self.starts: list[tuple[str, str, int, int]] = []
        """(member, topic, partition, initial offset) of every claim."""

    def _own(self, member: str, generation: int, topic: str, partition: int) -> None:
        key = (generation, topic, partition)
        owner = self.owners.setdefault(key, member)
        if owner != member:
            self.shared.append(
                f"{topic}[{partition}] held by {owner} and {member} in generation {generation}")

    @property
    def violations(self) -> list[str]:
        """Partitions two members held in one generation, and claims that started past a
        record nobody (here or, via ``processed_elsewhere``, another client) processed."""
        with self.lock:
            out = list(self.shared)
            for member, topic, partition, start in self.starts:
                done = self.processed[(topic, partition)]
                missing = [o for o in range(start) if o not in done]
                if missing:
                    out.append(f"{member} started {topic}[{partition}] at {start}, but "
                               f"offsets {missing[:5]}... were never processed")
            return out

    def processed_elsewhere(self, topic: str, partition: int, offsets: Iterable[int]) -> None:
        with self.lock:
            self.processed[(topic, partition)].update(offsets)

    def claim_started(self, member: str, generation: int, topic: str, partition: int,
                      initial_offset: int) -> None:
        with self.lock:
            self._own(member, generation, topic, partition)
            self.starts.append((member, topic, partition, initial_offset))
            self.timeline.append((time.monotonic(), member, "start", partition, generation))
            self.holding[member][(topic, partition)] = generation
            self.claim_loops[member].append((topic, partition, generation, "start"))
            self.lock.notify_all()

    def claim_ended(self, member: str, generation: int, topic: str, partition: int) -> None:
        with self.lock:
            self.holding[member].pop((topic, partition), None)
            self.claim_loops[member].append((topic, partition, generation, "end"))
            self.lock.notify_all()

    def process(self, member: str, generation: int, topic: str, partition: int,
                offset: int) -> None:
        with self.lock:
            self._own(member, generation, topic, partition)
            self.processed[(topic, partition)].add(offset)
            self.by_member[member][(topic, partition)].append((generation, offset))
            self.timeline.append((time.monotonic(), member, "message", partition, generation))
            self.lock.notify_all()

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    summary = {m: {f"{t}[{p}]": (min(x[1] for x in v), max(x[1] for x in v),
                                                  sorted({x[0] for x in v}))
                                   for (t, p), v in parts.items()}
                               for m, parts in self.by_member.items()}
                    raise AssertionError(f"gave up waiting {timeout:g}s for {what}; "
                                         f"holding: {dict(self.holding)}; processed "
                                         f"(first, last, generations): {summary}")
                self.lock.wait(min(remaining, 1.0))

    def held_by(self, member: str) -> set[tuple[str, int]]:
        return set(self.holding[member])

    def complete(self, ends: dict[tuple[str, int], int]) -> bool:
        return all(set(range(end)) <= self.processed[tp] for tp, end in ends.items())


class Behaviour:
    """What a test handler does besides recording: how long each message takes, when to
    return from a claim loop on its own, whether to ignore being told to stop."""

    def __init__(self, *, delay: float = 0.0, return_after: int | None = None,
                 stubborn: float = 0.0, on_message: Callable[[], Any] | None = None) -> None:
        self.delay = delay
        self.return_after = return_after
        self.stubborn = stubborn
        """After being told to stop, keep going this long (threads: until ``released``)."""
        self.released = threading.Event()
        self.cleanups = 0
        self.on_message = on_message
        """Called (and awaited, if it returns an awaitable) after each message is recorded."""


def handler(transport: str, ledger: Ledger, name: str, how: Behaviour | None = None) -> Any:
    how = how or Behaviour()

    def before(session: Any, claim: Any) -> int:
        generation = session.generation_id
        ledger.claim_started(name, generation, claim.topic, claim.partition, claim.initial_offset)
        return int(generation)

    def record(session: Any, message: Any) -> None:
        ledger.process(name, session.generation_id, message.topic, message.partition,
                       message.offset)
        session.mark_message(message)

    if transport == "threads":
        class Blocking:
            def setup(self, session: Any) -> None:
                pass

            def cleanup(self, session: Any) -> None:
                how.cleanups += 1

            def consume_claim(self, session: Any, claim: Any) -> None:
                generation = before(session, claim)
                count = 0
                try:
                    for message in claim.messages:
                        if how.delay:
                            time.sleep(how.delay)
                        record(session, message)
                        if how.on_message is not None:
                            how.on_message()
                        count += 1
                        if how.return_after is not None and count >= how.return_after:
                            return
                    if how.stubborn:
                        how.released.wait(how.stubborn)
                finally:
                    ledger.claim_ended(name, generation, claim.topic, claim.partition)
        return Blocking()

    if transport == "asyncio":
        import asyncio
        sleep: Any = asyncio.sleep
    else:
        import trio
        sleep = trio.sleep

    class Async:
        async def setup(self, session: Any) -> None:
            pass

        async def cleanup(self, session: Any) -> None:
            how.cleanups += 1

        async def consume_claim(self, session: Any, claim: Any) -> None:
            generation = before(session, claim)
            count = 0
            try:
                async for message in claim.messages:
                    if how.delay:
                        await sleep(how.delay)
                    record(session, message)
                    if how.on_message is not None:
                        result = how.on_message()
                        if inspect.isawaitable(result):
                            await result
                    count += 1
                    if how.return_after is not None and count >= how.return_after:
                        return
                if how.stubborn:
                    await sleep(how.stubborn)
            finally:
                ledger.claim_ended(name, generation, claim.topic, claim.partition)
    return Async()


class Member:
    """A consumer group member consuming in a loop on its own test thread."""

    def __init__(self, transport: str, group: Any, topics: Any, ledger: Ledger, name: str,
                 how: Behaviour | None = None) -> None:
        self.transport = transport
        self.group = group
        self.name = name
        self.handler = handler(transport, ledger, name, how)
        self.topics = topics
        self.errors: list[BaseException] = []
        self.sessions = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"test-member-{name}",
                                       daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.group.consume(self.topics, self.handler)
                self.sessions += 1
            except ClosedError:
                return
            except BaseException as exc:
                self.errors.append(exc)
                if self._stop.is_set():
                    return
                time.sleep(0.2)  # a failed join: the application tries again shortly

    def stop(self) -> None:
        """Stop looping, close the group (ending its session) and wait for the thread."""
        self._stop.set()
        with contextlib.suppress(ClosedError):
            self.group.close()
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), f"{self.name} did not stop"


@contextlib.contextmanager
def member(transport: str, bootstrap: str, topics: Any, ledger: Ledger, name: str,
           how: Behaviour | None = None, **options: Any) -> Iterator[Member]:
    """A running member; stopped (closed) when the block ends."""
    with open_remote(transport, lambda mod: mod.ConsumerGroup(bootstrap, **options)) as group:
        m = Member(transport, group, topics, ledger, name, how)
        try:
            yield m
        finally:
            m.stop()


def pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(prefix) + r"-.*")
