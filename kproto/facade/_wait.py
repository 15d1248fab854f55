"""What a facade operation may wait for, and how it says so.

Theory of operation
-------------------
Every user-facing operation (send and wait, read the next message, run a group session) is
written once, here in the core, as a generator: it runs until it must wait, yields a
command, and is resumed by the adapter's *driver* (``kproto_threads._drive``,
``kproto_asyncio._drive``, ``kproto_trio._drive``) when the command is done. The core never
blocks, never touches a thread or a task: the driver does that with its own primitives.

The commands:

- :class:`Park` -- wait until one of its :class:`Result` / :class:`Signal` fires, or until its
  deadline (in the loop's clock); the operation is resumed with ``None`` and re-checks its
  state (so a spurious wake-up is harmless). ``shield`` holds a cancellation back until
  the park is over, as trio's shielded scopes do; the driver delivers it at the next
  unshielded park or when the operation ends.
- :class:`CallUser` -- run user code (a handler method, sync or async) outside the engine
  lock; its return value or exception is sent back into the operation.
- :class:`Spawn` -- start ``run`` as a concurrent thread or task; ``done(error)`` is called
  inside the engine when it ends (``error`` is None, an exception, or the cancellation).
  :meth:`Spawned.cancel` cancels the task (a thread cannot be cancelled: it is left alone).

A cancellation (asyncio's or trio's) or a ``KeyboardInterrupt`` is thrown into the operation
at its ``yield``; operations clean up in ``finally``/``except BaseException`` and re-raise it.

On the threads transport each resumption runs under the engine lock, so an operation and the
IO thread's event handlers never interleave; the other transports are single-threaded.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from kproto.errors import ClientTimeoutError

T = TypeVar("T")

Waker = Callable[[], None]


class Result(Generic[T]):
    """A one-shot result the engine settles by token (through ``kproto.events.dispatch``)."""

    __slots__ = ("_done", "_error", "_value", "_wakers")

    def __init__(self) -> None:
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._wakers: list[Waker] = []

    def done(self) -> bool:
        return self._done

    def set_result(self, value: T) -> None:
        if not self._done:
            self._done, self._value = True, value
            self._fire()

    def set_exception(self, error: BaseException) -> None:
        if not self._done:
            self._done, self._error = True, error
            self._fire()

    def result(self) -> T:
        """The value, or the error raised; only once done."""
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[no-any-return]

    def add_waker(self, waker: Waker) -> None:
        if self._done:
            waker()
        else:
            self._wakers.append(waker)

    def remove_waker(self, waker: Waker) -> None:
        if waker in self._wakers:
            self._wakers.remove(waker)

    def _fire(self) -> None:
        wakers, self._wakers = self._wakers, []
        for waker in wakers:
            waker()


class Signal:
    """Wakes the operations parked on it: fired whenever the state they wait for may have
    changed (a message arrived, buffer space freed, a session drained)."""

    __slots__ = ("_wakers",)

    def __init__(self) -> None:
        self._wakers: list[Waker] = []

    def fire(self) -> None:
        wakers, self._wakers = self._wakers, []
        for waker in wakers:
            waker()

    def add_waker(self, waker: Waker) -> None:
        self._wakers.append(waker)

    def remove_waker(self, waker: Waker) -> None:
        if waker in self._wakers:
            self._wakers.remove(waker)


Waitable = Result[Any] | Signal


@dataclass(frozen=True, slots=True)
class Park:
    """Wait until one of ``on`` fires or the loop's clock reaches ``deadline``."""

    on: tuple[Waitable, ...]
    deadline: float | None = None
    shield: bool = False


@dataclass(frozen=True, slots=True)
class CallUser:
    """Call ``fn(*args)`` outside the engine; await its result if it is awaitable.
    ``shield`` and ``deadline`` (the loop's clock; the call is then given up and answers None)
    are kept where cancellation reaches into user code on its own (trio: a scope); asyncio
    delivers a cancellation once and threads cannot stop a call, so there it simply runs."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    shield: bool = False
    deadline: float | None = None


@dataclass(eq=False, slots=True)
class Spawned:
    """A running claim task or thread, as the driver started it."""

    cancel: Callable[[], object] = field(default=lambda: None)


@dataclass(frozen=True, slots=True)
class Spawn:
    """Run ``run()`` (user code, sync or async) concurrently; ``done(error)`` follows in the
    engine. The driver answers with a :class:`Spawned`."""

    run: Callable[[], Any]
    done: Callable[[BaseException | None], None]
    name: str


async def call_user(fn: Callable[..., Any], *args: Any) -> Any:
    """Call user code from an async driver (asyncio, trio); await what it returns when that
    is awaitable, so handler methods may be coroutines or plain functions."""
    result = fn(*args)
    return (await result) if inspect.isawaitable(result) else result


async def run_spawned(cmd: Spawn) -> None:
    """A spawned body on an async driver: run it, then report how it ended."""
    error: BaseException | None = None
    try:
        await call_user(cmd.run)
    except BaseException as exc:  # reported to the operation, cancellation included
        error = exc
    cmd.done(error)


Command = Park | CallUser | Spawn
Op = Generator[Command, Any, T]
"""A facade operation: yields commands, returns its result."""


class EngineLoop(Protocol):
    """What a facade needs of its adapter's loop."""

    @property
    def closed(self) -> bool: ...

    lock: Any
    """Held around every entry into the engine (threads: the engine lock; else a no-op)."""

    def run(self, fn: Callable[[Any, float], T]) -> T:
        """``fn(engine, now)`` inside the engine, then perform what it asked for."""

    def start(self, fn: Callable[[Any, float], int]) -> Result[Any]:
        """Start an engine operation (``fn`` returns its token); its result settles."""

    def kick(self) -> None:
        """The engine's state was changed directly: perform what it now asks for."""

    def now(self) -> float:
        """The loop's monotonic clock, the one the engine runs on."""

    def wall_ms(self) -> int:
        """Wall-clock milliseconds, for record timestamps."""

    def add_handler(self, fn: Callable[[Any], bool]) -> None: ...

    def remove_handler(self, fn: Callable[[Any], bool]) -> None: ...

    def open_connections(self) -> int: ...


class AsyncLoop(EngineLoop, Protocol):
    """An asyncio or trio loop: it runs operations as coroutines."""

    async def drive(self, op: Op[T]) -> T: ...


class BlockingLoop(EngineLoop, Protocol):
    """The threads loop: it runs operations on the calling thread, each step under ``lock``
    (the engine lock, which a fast path may also take to call the core directly)."""

    def drive(self, op: Op[T]) -> T: ...


def wait(result: Result[T], loop: EngineLoop, timeout: float | None = None,
         what: str = "the operation", *, shield: bool = False) -> Op[T]:
    """Park until ``result`` is settled; its value, or its error raised. With ``timeout``,
    ClientTimeoutError once it passes."""
    deadline = None if timeout is None else loop.now() + timeout
    while not result.done():
        if deadline is not None and loop.now() >= deadline:
            raise ClientTimeoutError(f"{what} did not complete within {timeout:g}s")
        yield Park((result,), deadline, shield)
    return result.result()


def call(loop: EngineLoop, fn: Callable[[Any, float], int], timeout: float | None = None,
         what: str = "the operation") -> Op[Any]:
    """Start an engine operation and wait for its result."""
    return (yield from wait(loop.start(fn), loop, timeout, what))


def until(ready: Callable[[], bool], signal: Signal, loop: EngineLoop,
          timeout: float | None = None, what: str = "the operation") -> Op[None]:
    """Park on ``signal`` until ``ready()``; ClientTimeoutError(f"{what} within {timeout}s")
    once ``timeout`` passes."""
    deadline = None if timeout is None else loop.now() + timeout
    while not ready():
        if deadline is not None and loop.now() >= deadline:
            raise ClientTimeoutError(f"{what} within {timeout:g}s")
        yield Park((signal,), deadline)
