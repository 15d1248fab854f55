"""Runs the core's facade operations (``kproto.facade``) as trio code.

A :class:`~kproto.facade.Park` waits on a ``trio.Event`` woken by the engine, inside a
cancel scope carrying its deadline and its shield; user code runs in the calling task; a
spawned claim is a task in the nursery the caller passes.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import trio

from kproto.errors import UsageError
from kproto.facade import CallUser, Op, Park, Spawn, Spawned, call_user, run_spawned

T = TypeVar("T")


async def drive(op: Op[T], nursery: trio.Nursery | None = None) -> T:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            cmd = op.send(value) if error is None else op.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value = error = None
        try:
            if isinstance(cmd, Park):
                await _park(cmd)
            elif isinstance(cmd, CallUser):
                with trio.CancelScope(shield=cmd.shield, deadline=math.inf if cmd.deadline is None
                                      else cmd.deadline):
                    value = await call_user(cmd.fn, *cmd.args)
            else:
                if nursery is None:
                    raise UsageError("this operation cannot start tasks here")
                value = _spawn(cmd, nursery)
        except BaseException as exc:  # handed to the operation
            error = exc


async def _park(cmd: Park) -> None:
    event = trio.Event()
    for waitable in cmd.on:
        waitable.add_waker(event.set)
    try:
        with trio.CancelScope(shield=cmd.shield,
                              deadline=math.inf if cmd.deadline is None else cmd.deadline):
            await event.wait()
    finally:
        for waitable in cmd.on:
            waitable.remove_waker(event.set)


def _spawn(cmd: Spawn, nursery: trio.Nursery) -> Spawned:
    scope = trio.CancelScope()

    async def main() -> None:
        with scope:
            await run_spawned(cmd)

    nursery.start_soon(main, name=cmd.name)
    return Spawned(scope.cancel)
