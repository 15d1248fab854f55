"""Run one blocking-style test through every transport.

``open_remote(transport, factory)`` builds an adapter object and yields a proxy whose methods
block: on ``threads`` it is the object itself; on ``asyncio`` and ``trio`` the object lives in
an event loop on a helper thread and each call runs there (awaited when it returns an
awaitable). The adapters under test still run in their own event loops, so a behaviour test
written once covers all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import trio

TRANSPORTS = ("threads", "asyncio", "trio")
CALL_TIMEOUT = 120.0


def adapter(transport: str) -> Any:
    if transport == "threads":
        import kproto_threads as mod
    elif transport == "asyncio":
        import kproto_asyncio as mod  # type: ignore[no-redef]
    else:
        import kproto_trio as mod  # type: ignore[no-redef]
    return mod


class Remote:
    """Forwards attribute access and calls to an object living in an event-loop thread."""

    def __init__(self, runner: Any, obj: Any) -> None:
        self._runner = runner
        self._obj = obj

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._runner.call(lambda: value(*args, **kwargs))

        return call

    @property
    def target(self) -> Any:
        return self._obj


class AsyncioThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-asyncio",
                                       daemon=True)
        self.thread.start()

    def call(self, fn: Callable[[], Any], timeout: float = CALL_TIMEOUT) -> Any:
        async def runner() -> Any:
            result = fn()
            if inspect.isawaitable(result):
                result = await result
            return result
        return asyncio.run_coroutine_threadsafe(runner(), self.loop).result(timeout)

    def tasks(self) -> set[asyncio.Task[Any]]:
        return self.call(lambda: {t for t in asyncio.all_tasks(self.loop)
                                  if t is not asyncio.current_task()})  # type: ignore[no-any-return]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class TrioThread:
    """A trio run on a helper thread hosting one ``async with`` object until closed."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._ready = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self.obj: Any = None
        self.token: Any = None
        self.thread = threading.Thread(target=self._main, name="test-trio", daemon=True)
        self.thread.start()
        if not self._ready.wait(CALL_TIMEOUT):
            raise TimeoutError("trio host did not start")
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        async def host() -> None:
            self.token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            try:
                async with self._factory() as obj:
                    self.obj = obj
                    self._ready.set()
                    await self._stop.wait()
            except BaseException as exc:  # reported to the test thread
                self._error = exc
                self._ready.set()
        try:
            trio.run(host)
        finally:
            self._done.set()

    def call(self, fn: Callable[[], Any], timeout: float = CALL_TIMEOUT) -> Any:
        async def runner() -> Any:
            with trio.fail_after(timeout):
                result = fn()
                if inspect.isawaitable(result):
                    result = await result
                return result
        return trio.from_thread.run(runner, trio_token=self.token)

    def close(self) -> None:
        trio.from_thread.run_sync(self._stop.set, trio_token=self.token)
        self._done.wait(30)
        self.thread.join(10)
        if self._error is not None:
            raise self._error


@contextlib.contextmanager
def open_remote(transport: str, factory: Callable[[Any], Any]) -> Iterator[Any]:
    """Yield ``factory(adapter_module)`` usable with blocking calls, then close it."""
    mod = adapter(transport)
    if transport == "threads":
        with factory(mod) as obj:
            yield obj
        return
    if transport == "asyncio":
        runner = AsyncioThread()
        try:
            obj = runner.call(lambda: factory(mod))
            runner.call(obj.__aenter__)
            try:
                yield Remote(runner, obj)
            finally:
                runner.call(lambda: obj.__aexit__(None, None, None))
                leftover = runner.tasks()
                assert not leftover, f"asyncio tasks left behind: {leftover}"
        finally:
            runner.close()
        return
    host = TrioThread(lambda: factory(mod))
    try:
        yield Remote(host, host.obj)
    finally:
        host.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def kproto_threads_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("kproto")]


class NoopHandler:
    """A consumer group handler that does nothing; plain methods, so every transport's
    ConsumerGroup accepts it."""

    def setup(self, session: Any) -> None:
        pass

    def cleanup(self, session: Any) -> None:
        pass

    def consume_claim(self, session: Any, claim: Any) -> None:
        pass
