"""Drives the engine from an asyncio event loop.

Each socket is an asyncio Protocol whose callbacks feed the engine directly; after every
input the engine's outputs are performed at once (``_pump``), and its one timer is a
``loop.call_at`` handle re-armed only when ``next_deadline()`` changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import threading
import time
from typing import Any, TypeVar

from kproto.config import Config
from kproto.events import (
    CloseConnection,
    OpenConnection,
    describe_os_error,
)
from kproto.facade import Op
from kproto.facade._loop import LoopBase
from kproto.testing.fake.pipe import link_for
from kproto_asyncio._drive import drive as _drive

log = logging.getLogger("kproto.asyncio")


class _Proto(asyncio.Protocol):
    def __init__(self, owner: Loop, conn_id: int) -> None:
        self.owner = owner
        self.conn_id = conn_id
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.owner._made(self)

    def data_received(self, data: bytes) -> None:
        self.owner._received(self.conn_id, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._lost(self.conn_id, f"{exc}" if exc else None)


T = TypeVar("T")


class Loop(LoopBase):
    """Owns a :class:`ClientCore` inside the running asyncio loop."""

    def __init__(self, bootstrap: Any, config: Config, rng: random.Random | None = None) -> None:
        self._aio = asyncio.get_running_loop()
        self._fake = link_for(bootstrap, self._aio.time(), time.monotonic(), self._fake_notify,
                              threading.RLock)
        super().__init__(self._fake.bootstrap if self._fake else bootstrap, config, rng,
                         self._aio.time, time.time)
        self._ssl = (config.ssl_context or ssl.create_default_context(
            cafile=config.ssl_cafile)) if config.uses_tls else None
        self._connecting: dict[int, asyncio.Task[Any]] = {}
        self._protos: dict[int, _Proto] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._armed: float | None = None

    async def drive(self, op: Op[T]) -> T:
        return await _drive(op)

    def kick(self) -> None:
        self.pump()

    def open_connections(self) -> int:
        """Broker connections open or being opened; 0 once closed."""
        return 0 if self.closed else len(self._protos.keys() | self._connecting.keys())

    async def close(self) -> None:
        if self.closed:
            return
        self.core.close(self._aio.time())
        self.pump()
        if self._fake is not None:
            self._fake.close(self.core, self._aio.time())
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        tasks = list(self._connecting.values())
        for task in tasks:
            task.cancel()
        for proto in list(self._protos.values()):
            if proto.transport is not None:
                proto.transport.abort()
        self._protos.clear()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._fail_pending()
        await asyncio.sleep(0)  # let aborted transports run their connection_lost

    # -- the engine's outputs ------------------------------------------------------------

    def pump(self) -> None:
        core = self.core
        if self._fake is not None:  # in-process: the link takes the actions and writes
            self._fake.pump(core, self._aio.time())
        while (action := core.next_action()) is not None:
            if isinstance(action, OpenConnection):
                self._connecting[action.conn_id] = self._aio.create_task(self._open(action))
            elif isinstance(action, CloseConnection):
                self._drop(action.conn_id)
        for conn_id, data in core.pending_writes():
            proto = self._protos.get(conn_id)
            if proto is not None and proto.transport is not None:
                proto.transport.write(data)
        self._dispatch()
        self._rearm()

    def _rearm(self) -> None:
        deadline = self._fake.next_deadline(self.core) if self._fake else self.core.next_deadline()
        if deadline == self._armed or self.closed:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed = deadline
        self._timer = None if deadline is None else self._aio.call_at(deadline, self._fire)

    def _fire(self) -> None:
        # The engine's timer runs two loop turns late, after the tasks woken at this same
        # tick (a task's sleep ending wakes it one turn later): an application that sends
        # on a clock (epoll rounds every wait to a whole millisecond, so its ticks and the
        # linger deadline fall due together) has its records of this tick in the batch the
        # linger closes, not in the next one a full linger later. Measured on the latency
        # bench (5,000 records/s, linger 5 ms), old and new alternating in one process: the
        # newest record of a batch had waited p50 1.3 ms (quiet machine) to 2.6-4.0 ms
        # (load 10, the sender's ticks carrying more records each) when the batch went out,
        # now 0.25 ms (aiokafka's 0.25); at load 10 sent -> on the wire p50 5.5-6.0 ->
        # 2.5-2.9 ms and end to end p50 8.4-9.2 -> 4.6-6.7 ms, quiet both unchanged.
        # ``_armed`` stays set until then, so a pump in between does not arm it again.
        self._timer = None
        self._aio.call_soon(self._aio.call_soon, self._fire_now)

    def _fire_now(self) -> None:
        self._armed = None
        if self.closed:
            return
        self.core.handle_timer(self._aio.time())
        self.pump()

    def _fake_notify(self) -> None:
        """A fake cluster has bytes for this client (maybe from another thread's client)."""
        with contextlib.suppress(RuntimeError):  # the event loop is closed
            self._aio.call_soon_threadsafe(lambda: None if self.closed else self.pump())

    # -- sockets -------------------------------------------------------------------------

    async def _open(self, action: OpenConnection) -> None:
        conn_id = action.conn_id
        try:
            await self._aio.create_connection(
                lambda: _Proto(self, conn_id), action.host, action.port,
                ssl=self._ssl if action.tls else None,
                server_hostname=action.host if action.tls else None)
        except asyncio.CancelledError:
            raise
        except ssl.SSLError as exc:
            self._lost(conn_id, str(exc), tls_failed=True)
        except OSError as exc:
            self._lost(conn_id, describe_os_error(exc))
        finally:
            self._connecting.pop(conn_id, None)

    def _made(self, proto: _Proto) -> None:
        if self.closed or proto.conn_id not in self._connecting:
            assert proto.transport is not None
            proto.transport.abort()
            return
        self._protos[proto.conn_id] = proto
        self.core.connection_made(proto.conn_id, self._aio.time())
        self.pump()

    def _received(self, conn_id: int, data: bytes) -> None:
        if conn_id in self._protos:
            self.core.receive_data(conn_id, data, self._aio.time())
            self.pump()

    def _lost(self, conn_id: int, reason: str | None, tls_failed: bool = False) -> None:
        self._protos.pop(conn_id, None)
        if not self.closed:
            self.core.connection_lost(conn_id, reason, self._aio.time(), tls_failed=tls_failed)
            self.pump()

    def _drop(self, conn_id: int) -> None:
        task = self._connecting.pop(conn_id, None)
        if task is not None:
            task.cancel()
        proto = self._protos.pop(conn_id, None)
        if proto is not None and proto.transport is not None:
            proto.transport.abort()
