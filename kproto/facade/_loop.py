"""What every adapter's loop shares: the engine, the results it settles, the event handlers.

An adapter's loop subclasses :class:`LoopBase`, passing its clocks (monotonic, the one the
engine runs on, and wall), and adds only its IO: sockets or streams, its timer, and
``kick()`` (perform what the engine now asks for: at once on asyncio and trio, by waking the
IO thread on threads, which also sets ``lock`` to the engine lock).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from typing import Any, TypeVar

from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.errors import ClosedError
from kproto.events import Event, dispatch
from kproto.facade._wait import Result
from kproto.lifetime import WeakHandler

T = TypeVar("T")


class LoopBase:
    """Owns a :class:`ClientCore` for an adapter."""

    lock: Any = contextlib.nullcontext()
    """Held around every entry into the engine (threads: the engine lock)."""

    def __init__(self, bootstrap: Any, config: Config, rng: random.Random | None,
                 clock: Callable[[], float], wall: Callable[[], float]) -> None:
        self._clock = clock
        self._wall = wall
        self.config = config
        self.core = ClientCore(bootstrap, config, rng=rng or random.Random(), now=clock())
        self.closed = False
        self._pending: dict[int, Result[Any]] = {}
        self._handlers: list[Callable[[Event], bool]] = []

    def now(self) -> float:
        """The loop's monotonic clock, the one the engine runs on."""
        return self._clock()

    def wall_ms(self) -> int:
        """Wall-clock milliseconds, for record timestamps."""
        return int(self._wall() * 1000)

    def kick(self) -> None:
        raise NotImplementedError

    def start(self, fn: Callable[[ClientCore, float], int]) -> Result[Any]:
        """Start an engine operation (``fn`` returns its token); the result settles with it."""
        result: Result[Any] = Result()
        with self.lock:
            if self.closed:
                result.set_exception(ClosedError("the client was closed"))
                return result
            self._pending[fn(self.core, self.now())] = result
        self.kick()
        return result

    def run(self, fn: Callable[[ClientCore, float], T]) -> T:
        """``fn(engine, now)`` inside the engine, then perform what it asked for."""
        with self.lock:
            value = fn(self.core, self.now())
        self.kick()
        return value

    def add_handler(self, fn: Callable[[Event], bool]) -> None:
        """``fn(event)`` sees events that are not operation results; True means consumed."""
        with self.lock:
            self._handlers.append(WeakHandler(fn))

    def remove_handler(self, fn: Callable[[Event], bool]) -> None:
        """Stop routing events to ``fn`` (a feature closed on a shared client)."""
        with self.lock:
            if fn in self._handlers:
                self._handlers.remove(fn)

    def _dispatch(self) -> None:
        """Hand the engine's events out: results by token, the rest to the handlers."""
        while (event := self.core.next_event()) is not None:
            dispatch(event, self._pending, self._handlers)

    def _fail_pending(self) -> None:
        """The loop closed: every operation still waiting gets ClosedError."""
        err = ClosedError("the client was closed")
        pending, self._pending = self._pending, {}
        for result in pending.values():
            result.set_exception(err)
