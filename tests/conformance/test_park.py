"""The drivers' Park on every transport: an operation parked on a Signal resumes when the
engine fires it (from the IO thread on threads), resumes at its deadline when nothing fires,
and leaves no waker behind either way (a waker left on a Signal would wake a later,
unrelated park, and keeps the dead park's event alive)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import trio

import kproto_asyncio._drive as aio_drive
import kproto_threads._drive as threads_drive
import kproto_trio._drive as trio_drive
from kproto.facade import Op, Park, Signal


def _parks(signal: Signal, ready: list[bool], deadline: float | None,
           clock: Any) -> Op[str]:
    """Parks on ``signal`` until ``ready[0]``; "fired", or "deadline" once it passes."""
    while not ready[0]:
        if deadline is not None and clock() >= deadline:
            return "deadline"
        yield Park((signal,), deadline)
    return "fired"


def _twice(signal: Signal, ready: list[bool], clock: Any) -> Op[list[str]]:
    """Two parks in a row, each woken: the second must not see the first one's waker."""
    got = []
    for _ in range(2):
        got.append((yield from _parks(signal, ready, None, clock)))
        ready[0] = False
    return got


def test_threads_park_fired_from_another_thread_leaves_no_waker() -> None:
    lock = threading.RLock()
    signal, ready = Signal(), [False]

    def fire_soon() -> None:
        deadline = time.monotonic() + 10
        while not signal._wakers and time.monotonic() < deadline:
            time.sleep(0.001)  # bounded: until the driver registered its waker
        with lock:
            ready[0] = True
            signal.fire()

    firer = threading.Thread(target=fire_soon)
    firer.start()
    assert threads_drive.drive(_parks(signal, ready, None, time.monotonic), lock) == "fired"
    firer.join(10)
    assert signal._wakers == []


def test_threads_park_at_its_deadline_leaves_no_waker() -> None:
    lock = threading.RLock()
    signal = Signal()
    deadline = time.monotonic() + 0.01
    assert threads_drive.drive(_parks(signal, [False], deadline, time.monotonic),
                               lock) == "deadline"
    assert signal._wakers == []


def test_threads_parks_in_a_row_each_resume_once() -> None:
    lock = threading.RLock()
    signal, ready = Signal(), [False]
    fired = threading.Event()

    def fire_twice() -> None:
        for _ in range(2):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with lock:
                    if signal._wakers and not ready[0]:
                        ready[0] = True
                        signal.fire()
                        break
                time.sleep(0.001)  # bounded: until the next park registered
        fired.set()

    firer = threading.Thread(target=fire_twice)
    firer.start()
    assert threads_drive.drive(_twice(signal, ready, time.monotonic), lock) == ["fired",
                                                                                "fired"]
    assert fired.wait(10)
    firer.join(10)
    assert signal._wakers == []


def test_threads_park_interrupted_by_an_error_leaves_no_waker() -> None:
    lock = threading.RLock()
    signal = Signal()

    def raises_after_park() -> Op[None]:
        yield Park((signal,), time.monotonic() + 0.01)
        raise ValueError("after the park")

    with pytest.raises(ValueError, match="after the park"):
        threads_drive.drive(raises_after_park(), lock)
    assert signal._wakers == []


def test_asyncio_park_fired_and_at_deadline_leaves_no_waker() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        signal, ready = Signal(), [False]

        def fire() -> None:
            ready[0] = True
            signal.fire()

        loop.call_later(0.005, fire)
        assert await aio_drive.drive(_parks(signal, ready, None, loop.time)) == "fired"
        assert signal._wakers == []
        deadline = loop.time() + 0.01
        assert await aio_drive.drive(_parks(signal, [False], deadline, loop.time)) == "deadline"
        assert signal._wakers == []

    asyncio.run(asyncio.wait_for(main(), 10))


def test_trio_park_fired_and_at_deadline_leaves_no_waker() -> None:
    async def main() -> None:
        signal, ready = Signal(), [False]

        async def fire() -> None:
            await trio.sleep(0.005)
            ready[0] = True
            signal.fire()

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(fire)
                assert await trio_drive.drive(
                    _parks(signal, ready, None, trio.current_time)) == "fired"
            assert signal._wakers == []
            deadline = trio.current_time() + 0.01
            assert await trio_drive.drive(
                _parks(signal, [False], deadline, trio.current_time)) == "deadline"
            assert signal._wakers == []

    trio.run(main)
