"""Cancellation never hangs and leaves nothing behind: each object on each transport,
cancelled (asyncio, trio: from a scope inside ``async with`` and from one enclosing it;
threads: closed from another thread) while connecting, joining, consuming, committing,
flushing and closing.

The broker is reached through the harness's fault proxy; ``stall()`` keeps the connections
open and forwards nothing, which holds an operation in the phase under test (connecting:
the ApiVersions handshake never answered; flushing, joining, committing, closing: the
request never answered). Consuming waits on an empty partition. The cancellation fires once
the operation is under way (its connection reached the proxy), and then:

- the cancelled code returns within BOUND seconds;
- the adapter's own bookkeeping has no connection left, and the proxy sees every connection
  the client opened closed (so no socket is left open);
- no adapter thread (threads) and no task (asyncio.all_tasks, trio's living tasks) remain.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from kproto.errors import ClientTimeoutError
from kproto.group.events import SessionAbandonedError
from kproto.message_types import OFFSET_NEWEST, ProducerMessage
from tests.conformance.drivers import adapter

BOUND = 25.0
"""Loose: the slowest close here (a producer's, after a cancelled flush) delivers or fails
what is queued within delivery_timeout."""
SETTLE = 15.0

OPTIONS: dict[str, Any] = dict(
    request_timeout=3.0, connect_timeout=3.0, metadata_max_wait=30.0, max_block=30.0,
    delivery_timeout=8.0, session_timeout=6.0, heartbeat_interval=0.5, rebalance_timeout=3.0,
    auto_offset_reset="earliest", enable_auto_commit=False)

CASES = [
    ("Client", "connecting"), ("Client", "closing"),
    ("SyncProducer", "connecting"), ("SyncProducer", "flushing"), ("SyncProducer", "closing"),
    ("AsyncProducer", "connecting"), ("AsyncProducer", "flushing"),
    ("AsyncProducer", "closing"),
    ("Consumer", "connecting"), ("Consumer", "consuming"), ("Consumer", "closing"),
    ("ConsumerGroup", "connecting"), ("ConsumerGroup", "joining"),
    ("ConsumerGroup", "consuming"), ("ConsumerGroup", "committing"),
    ("ConsumerGroup", "closing"),
    ("ClusterAdmin", "connecting"), ("ClusterAdmin", "closing"),
    ("OffsetManager", "connecting"), ("OffsetManager", "committing"),
    ("OffsetManager", "closing"),
]
STALLED = {"connecting", "flushing", "joining", "committing", "closing"}
ids = [f"{kind}-{phase}" for kind, phase in CASES]


def sockets() -> int:
    """Sockets this process has open (the fault proxy's included)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def wait_for(what: str, condition: Callable[[], bool], timeout: float = SETTLE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.02)


class Env:
    """One case: the proxy, the topic, where the objects' loops are, and the trigger."""

    def __init__(self, kafka_broker: Any, phase: str) -> None:
        self.proxy = kafka_broker.proxy
        host, port = kafka_broker.listeners["FAULTY"]
        self.bootstrap = f"{host}:{port}"
        self.phase = phase
        self.topic = f"cancel-{uuid.uuid4().hex[:8]}"
        kafka_broker.create_topic(self.topic, partitions=1)
        self.loops: list[Any] = []
        self.blocking = threading.Event()
        self.connected = False
        self.triggered_at: float | None = None
        self.obj: Any = None

    def msg(self) -> ProducerMessage:
        return ProducerMessage(self.topic, value=b"v")

    def mark(self) -> None:
        """The operation under test starts now (stalled ones: the broker stops answering)."""
        if self.phase in STALLED:
            self.proxy.stall()
            # Latched here too: an operation that needs no answer (a plain consumer's close)
            # may end, and close its connections, before anyone asks ``under_way``.
            self.connected = self.connected or self.proxy.connection_count() > 0
        self.blocking.set()

    def under_way(self) -> bool:
        """Latched: the operation started and (stalled phases) its connection is open."""
        if self.phase in STALLED and not self.connected:
            self.connected = self.proxy.connection_count() > 0
        return self.blocking.is_set() and (self.phase not in STALLED or self.connected)

    def fire(self) -> None:
        self.triggered_at = time.monotonic()

    def took(self, ended: float) -> float:
        """Seconds from the cancellation to the return (0 when the operation ended first)."""
        return 0.0 if self.triggered_at is None else ended - self.triggered_at

    def check_released(self) -> None:
        self.proxy.restore()
        for loop in self.loops:
            assert loop.open_connections() == 0, "the adapter still counts open connections"
        wait_for("every connection through the proxy closed",
                 lambda: self.proxy.connection_count() == 0)


@pytest.fixture
def env_factory(kafka_broker: Any) -> Any:
    made: list[Env] = []
    before = sockets()

    def make(phase: str) -> Env:
        env = Env(kafka_broker, phase)
        made.append(env)
        return env

    yield make
    for env in made:
        env.proxy.restore()
    wait_for("no socket left open", lambda: sockets() <= before)


# -- asyncio and trio: one scenario per case, awaited through `inner` ---------------------------

Inner = Callable[[Callable[[], Awaitable[Any]]], Awaitable[None]]


def loop_of(obj: Any) -> Any:
    client = obj if hasattr(obj, "_loop_obj") else obj._client
    return client._loop_obj


async def scenario(mod: Any, kind: str, env: Env, inner: Inner) -> None:
    boot, opts = env.bootstrap, OPTIONS
    phase = env.phase
    if kind in ("ConsumerGroup", "OffsetManager"):
        opts = {**opts, "group_id": env.topic}
    obj = getattr(mod, kind)(boot, **opts)
    if phase == "connecting":
        env.mark()
    async with obj:
        env.loops.append(loop_of(obj))
        if kind == "Client":
            if phase == "connecting":
                await inner(lambda: obj.metadata())
            else:
                await obj.metadata()
                env.mark()
                await inner(obj.close)
        elif kind == "SyncProducer":
            if phase == "connecting":
                await inner(lambda: obj.send_message(env.msg()))
            else:
                await obj.send_message(env.msg())
                env.mark()
                await inner(lambda: obj.send_message(env.msg()) if phase == "flushing"
                            else obj.close())
        elif kind == "AsyncProducer":
            if phase != "connecting":
                await obj.send(env.msg())
                await obj.flush()
                env.mark()
            await obj.send(env.msg())
            await inner(obj.close if phase == "closing" else obj.flush)
        elif kind == "ClusterAdmin":
            if phase == "closing":
                await obj.describe_cluster()
                env.mark()
            await inner(obj.describe_cluster if phase == "connecting" else obj.close)
        elif kind == "OffsetManager":
            if phase == "connecting":
                await inner(lambda: obj.manage_partition(env.topic, 0))
            else:
                pom = await obj.manage_partition(env.topic, 0)
                pom.mark_offset(1)
                env.mark()
                await inner(obj.commit if phase == "committing" else obj.close)
        elif kind == "Consumer":
            if phase == "connecting":
                await inner(lambda: obj.consume_partition(env.topic, 0, OFFSET_NEWEST))
            else:
                pc = await obj.consume_partition(env.topic, 0, OFFSET_NEWEST)
                env.mark()

                async def first() -> None:
                    async for _ in pc.messages:
                        return
                await inner(first if phase == "consuming" else obj.close)
        else:
            await group_scenario(obj, env, inner)


async def group_scenario(group: Any, env: Env, inner: Inner) -> None:
    phase = env.phase

    class Handler:
        async def setup(self, session: Any) -> None:
            pass

        async def cleanup(self, session: Any) -> None:
            pass

        async def consume_claim(self, session: Any, claim: Any) -> None:
            if phase == "closing":
                return  # the session ends; close() then leaves the group
            if phase == "committing":
                session.mark_offset(claim.topic, claim.partition, 0)
                env.mark()
                await session.commit()
                return
            env.mark()
            async for _ in claim.messages:
                pass

    if phase == "joining":
        await group._client.metadata()
        env.mark()
    if phase == "closing":
        await group.consume([env.topic], Handler())
        env.mark()
        await inner(group.close)
        return
    await inner(lambda: group.consume([env.topic], Handler()))


def run_asyncio(kind: str, env: Env, where: str) -> float:
    mod = adapter("asyncio")
    elapsed: list[float] = []

    async def main() -> None:
        trigger = asyncio.Event()

        async def watch() -> None:
            while not env.under_way():
                await asyncio.sleep(0.01)
            env.fire()
            trigger.set()

        async def cancellable(op: Callable[[], Awaitable[Any]]) -> None:
            async with asyncio.timeout(None) as cm:
                waiter = asyncio.create_task(trigger.wait())
                waiter.add_done_callback(
                    lambda w: None if w.cancelled() else cm.reschedule(-1))
                try:
                    await op()
                finally:
                    waiter.cancel()

        async def plain(op: Callable[[], Awaitable[Any]]) -> None:
            await op()

        watcher = asyncio.create_task(watch())
        try:
            if where == "inside":
                await scenario(mod, kind, env, cancellable)
            else:
                await cancellable(lambda: scenario(mod, kind, env, plain))
        except (TimeoutError, SessionAbandonedError):
            pass
        finally:
            elapsed.append(time.monotonic())
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not left, f"tasks left behind: {left}"

    asyncio.run(main())
    return env.took(elapsed[0])


def run_trio(kind: str, env: Env, where: str) -> float:
    mod = adapter("trio")
    elapsed: list[float] = []

    async def main() -> None:
        baseline = trio.lowlevel.current_statistics().tasks_living
        scope = trio.CancelScope()

        async def watch() -> None:
            while not env.under_way():
                await trio.sleep(0.01)
            env.fire()
            scope.cancel()

        async def cancellable(op: Callable[[], Awaitable[Any]]) -> None:
            with scope:
                await op()

        async def plain(op: Callable[[], Awaitable[Any]]) -> None:
            await op()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            try:
                if where == "inside":
                    await scenario(mod, kind, env, cancellable)
                else:
                    await cancellable(lambda: scenario(mod, kind, env, plain))
            except BaseException as exc:
                if not expected(exc):
                    raise
            elapsed.append(time.monotonic())
            nursery.cancel_scope.cancel()
        left = trio.lowlevel.current_statistics().tasks_living
        assert left <= baseline, f"{left - baseline} trio tasks left behind"

    trio.run(main)
    return env.took(elapsed[0])


def expected(exc: BaseException) -> bool:
    """An abandoned session, or a close that committed into the stalled broker and says so
    (on trio maybe grouped with the cancellation by the client's nursery)."""
    inner = getattr(exc, "exceptions", None)
    if inner is not None:
        return all(expected(e) or isinstance(e, trio.Cancelled) for e in inner)
    return isinstance(exc, (TimeoutError, SessionAbandonedError))


def bounded(run: Callable[[], float]) -> float:
    """Run a case on a daemon thread: a close stuck in a shielded wait cannot be cancelled,
    so the bound is the thread's join."""
    result: list[Any] = []

    def target() -> None:
        try:
            result.append(run())
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=target, name="test-case", daemon=True)
    thread.start()
    thread.join(BOUND + 60.0)
    assert not thread.is_alive(), "the cancelled operation never returned"
    if isinstance(result[0], BaseException):
        raise result[0]
    return float(result[0])


@pytest.mark.parametrize("where", ["inside", "enclosing"])
@pytest.mark.parametrize(("kind", "phase"), CASES, ids=ids)
def test_asyncio_cancel(kind: str, phase: str, where: str, env_factory: Any) -> None:
    env = env_factory(phase)
    took = bounded(lambda: run_asyncio(kind, env, where))
    env.check_released()
    assert took < BOUND, f"returned {took:.1f}s after the cancellation"


@pytest.mark.parametrize("where", ["inside", "enclosing"])
@pytest.mark.parametrize(("kind", "phase"), CASES, ids=ids)
def test_trio_cancel(kind: str, phase: str, where: str, env_factory: Any) -> None:
    env = env_factory(phase)
    took = bounded(lambda: run_trio(kind, env, where))
    env.check_released()
    assert took < BOUND, f"returned {took:.1f}s after the cancellation"


# -- threads: the blocking call runs on a thread; another thread closes the object ------------

def kproto_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("kproto")}


def threads_case(kind: str, env: Env) -> Callable[[], None]:
    """Builds the object and returns the blocking operation under test."""
    mod = adapter("threads")
    phase = env.phase
    opts = {**OPTIONS, "group_id": env.topic} if kind in ("ConsumerGroup", "OffsetManager") \
        else OPTIONS
    if phase == "connecting":
        env.proxy.stall()
    obj = getattr(mod, kind)(env.bootstrap, **opts)
    env.obj = obj
    env.loops.append(obj._loop)
    if kind == "Client":
        if phase == "connecting":
            return lambda: obj.metadata()
        obj.metadata()
        return obj.close
    if kind == "SyncProducer":
        if phase == "connecting":
            return lambda: obj.send_message(env.msg())
        obj.send_message(env.msg())
        return (lambda: obj.send_message(env.msg())) if phase == "flushing" else \
            (lambda: obj.close(timeout=2.0))
    if kind == "AsyncProducer":
        if phase != "connecting":
            obj.send(env.msg())
            obj.flush()
        return (lambda: (obj.send(env.msg()), obj.close(timeout=2.0) if phase == "closing"
                         else obj.flush()))
    if kind == "ClusterAdmin":
        if phase == "connecting":
            return obj.describe_cluster
        obj.describe_cluster()
        return obj.close
    if kind == "OffsetManager":
        if phase == "connecting":
            return lambda: obj.manage_partition(env.topic, 0)
        obj.manage_partition(env.topic, 0).mark_offset(1)
        return obj.commit if phase == "committing" else obj.close
    if kind == "Consumer":
        if phase == "connecting":
            return lambda: obj.consume_partition(env.topic, 0, OFFSET_NEWEST)
        pc = obj.consume_partition(env.topic, 0, OFFSET_NEWEST)
        return (lambda: next(iter(pc.messages), None)) if phase == "consuming" else obj.close

    class Handler:
        def setup(self, session: Any) -> None:
            pass

        def cleanup(self, session: Any) -> None:
            pass

        def consume_claim(self, session: Any, claim: Any) -> None:
            if phase == "closing":
                return
            if phase == "committing":
                session.mark_offset(claim.topic, claim.partition, 0)
                env.mark()
                session.commit()
                return
            env.mark()
            for _ in claim.messages:
                pass

    if phase == "joining":
        obj._client.metadata()
    if phase == "closing":
        obj.consume([env.topic], Handler())
        return lambda: obj.close(timeout=2.0)
    return lambda: obj.consume([env.topic], Handler())


@pytest.mark.parametrize(("kind", "phase"), CASES, ids=ids)
def test_threads_closed_from_another_thread(kind: str, phase: str, env_factory: Any) -> None:
    env = env_factory(phase)
    before = kproto_threads()
    op = threads_case(kind, env)
    outcome: list[Any] = []

    def run() -> None:
        if not (kind == "ConsumerGroup" and phase in ("consuming", "committing")):
            env.mark()
        try:
            outcome.append(op())
        except BaseException as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run, name="test-op", daemon=True)
    runner.start()
    wait_for("the operation under way", env.under_way, 60.0)
    started = time.monotonic()
    closed: list[BaseException | None] = []

    def close() -> None:
        try:
            env.obj.close()
            closed.append(None)
        except BaseException as exc:
            closed.append(exc)

    closer = threading.Thread(target=close, name="test-closer", daemon=True)
    closer.start()
    runner.join(BOUND + 60.0)
    closer.join(BOUND + 60.0)
    took = time.monotonic() - started
    assert not runner.is_alive() and not closer.is_alive(), "close did not end the operation"
    # A claim loop stuck in a commit the coordinator never answers is abandoned: close says so;
    # an offset manager's close commits, and says when the coordinator never answered.
    assert closed == [None] or (
        phase == "committing" and isinstance(closed[0], SessionAbandonedError)) or (
        kind == "OffsetManager" and phase != "connecting"
        and isinstance(closed[0], ClientTimeoutError)), closed
    env.check_released()
    wait_for("no kproto thread left", lambda: not (kproto_threads() - before))
    assert took < BOUND, f"returned {took:.1f}s after the close"
