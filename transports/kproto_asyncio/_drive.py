"""Runs the core's facade operations (``kproto.facade``) as asyncio coroutines.

A :class:`~kproto.facade.Park` becomes a future woken by the engine (or by a ``call_at``
timer at its deadline); user code runs in the task itself; a spawned claim is a task.
A cancellation is thrown into the operation, or, during a shielded park, held until its
next unshielded park or its end.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from kproto.facade import CallUser, Op, Park, Spawn, Spawned, call_user, run_spawned

T = TypeVar("T")


async def drive(op: Op[T]) -> T:
    value: Any = None
    error: BaseException | None = None
    held: BaseException | None = None
    while True:
        try:
            cmd = op.send(value) if error is None else op.throw(error)
        except StopIteration as stop:
            if held is not None:
                raise held from None
            return stop.value  # type: ignore[no-any-return]
        value = error = None
        if isinstance(cmd, Park):
            if held is not None and not cmd.shield:
                error, held = held, None
                continue
            try:
                await _park(cmd)
            except asyncio.CancelledError as exc:
                if cmd.shield:
                    held = held or exc
                else:
                    error = exc
        elif isinstance(cmd, CallUser):
            try:
                value = await call_user(cmd.fn, *cmd.args)
            except BaseException as exc:  # handed to the operation
                error = exc
        else:
            value = _spawn(cmd)


async def _park(cmd: Park) -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not fut.done():
            fut.set_result(None)

    for waitable in cmd.on:
        waitable.add_waker(wake)
    timer = None if cmd.deadline is None else loop.call_at(cmd.deadline, wake)
    try:
        await fut
    finally:
        if timer is not None:
            timer.cancel()
        for waitable in cmd.on:
            waitable.remove_waker(wake)


def _spawn(cmd: Spawn) -> Spawned:
    task = asyncio.get_running_loop().create_task(run_spawned(cmd), name=cmd.name)
    return Spawned(task.cancel)
