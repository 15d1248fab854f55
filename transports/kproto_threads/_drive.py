"""Runs the core's facade operations (``kproto.facade``) on the caller's thread.

Each step of an operation runs under the engine lock, so it never interleaves with the IO
thread's event handlers; a :class:`~kproto.facade.Park` releases the lock and waits on a
``threading.Event`` the engine sets. User code runs without the lock; a spawned claim is a
daemon thread (threads cannot be cancelled: an abandoned one is left to finish alone).
"""

from __future__ import annotations

import threading
import time
from typing import Any, TypeVar

from kproto.facade import CallUser, Op, Park, Spawn, Spawned

T = TypeVar("T")


def drive(op: Op[T], lock: Any) -> T:
    value: Any = None
    error: BaseException | None = None
    parked: Park | None = None
    event: threading.Event | None = None
    while True:
        with lock:
            # A park's wakers come off in the same hold of the engine lock that resumes the
            # operation: one acquisition per wake-up instead of two, so a reader woken while
            # the IO thread holds the lock (the next answer arriving) waits for it once.
            if parked is not None and event is not None:
                for waitable in parked.on:
                    waitable.remove_waker(event.set)
                parked = None
            try:
                cmd = op.send(value) if error is None else op.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value = error = None
            if isinstance(cmd, Park):
                parked, event = cmd, threading.Event()
                for waitable in cmd.on:
                    waitable.add_waker(event.set)
        try:
            if isinstance(cmd, Park):
                assert event is not None  # set with ``parked`` above
                event.wait(None if cmd.deadline is None
                           else max(0.0, cmd.deadline - time.monotonic()))
            elif isinstance(cmd, CallUser):
                value = cmd.fn(*cmd.args)
            else:
                value = _spawn(cmd, lock)
        except BaseException as exc:  # handed to the operation
            error = exc


def _spawn(cmd: Spawn, lock: Any) -> Spawned:
    def main() -> None:
        error: BaseException | None = None
        try:
            cmd.run()
        except BaseException as exc:  # reported to the operation
            error = exc
        with lock:
            cmd.done(error)

    threading.Thread(target=main, name=cmd.name, daemon=True).start()
    return Spawned()
