"""Serve a fake cluster on real sockets from trio, so that other clients can connect.

``async with serve(cluster) as served:`` runs ``trio.serve_tcp`` once per broker (on
``port + i``, or each on a free port when ``port`` is 0) in a nursery of its own, makes the
cluster's Metadata advertise those addresses, and moves bytes between the streams and the
cluster's ``FakeServer`` (``kproto.testing.fake.pipe``), which decides everything else. A
task per connection reads, a sender per connection writes what a channel brings it, one task
keeps the deadlines.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING

import trio

from kproto.testing.fake.pipe import server_for

if TYPE_CHECKING:
    from kproto.testing.fake.cluster import FakeCluster

__all__ = ["Served", "serve"]

_RECV = 256 * 1024


class _Stream:
    """A served connection: its stream, and a channel of what to write (None: then close)."""

    __slots__ = ("inbox", "outbox", "stream")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.outbox, self.inbox = trio.open_memory_channel[bytes | None](math.inf)


class Served:
    """A fake cluster served on sockets; ``bootstrap`` is its address list."""

    def __init__(self, cluster: FakeCluster) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._server = server_for(cluster, trio.current_time(), time.monotonic(),
                                  self._notify, threading.RLock)
        self._cluster = cluster
        self._streams: dict[int, _Stream] = {}
        self._moved = trio.Event()

    @property
    def bootstrap(self) -> str:
        return self._server.bootstrap

    async def _run(self, host: str, port: int, nursery: trio.Nursery) -> None:
        for i, node_id in enumerate(self._cluster.brokers):
            listeners = await nursery.start(partial(
                trio.serve_tcp, partial(self._connection, node_id), port + i if port else 0,
                host=host))
            self._server.advertise(node_id, host, listeners[0].socket.getsockname()[1])
        nursery.start_soon(self._timer)

    def _notify(self) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._pump)

    def _pump(self) -> None:
        for conn_id, data, close in self._server.pump(trio.current_time()):
            target = self._streams.get(conn_id)
            if target is not None:
                target.outbox.send_nowait(data)
                if close:
                    target.outbox.send_nowait(None)
        self._moved.set()

    async def _timer(self) -> None:
        while True:
            deadline = self._server.next_deadline()
            self._moved = trio.Event()
            with trio.move_on_at(float("inf") if deadline is None else deadline):
                await self._moved.wait()
            if deadline is not None and trio.current_time() >= deadline:
                self._pump()

    async def _connection(self, node_id: int, stream: trio.SocketStream) -> None:
        conn_id = self._server.accept(node_id, trio.current_time(),
                                      str(stream.socket.getpeername()[0]))
        if conn_id is None:  # the broker is stopped
            await stream.aclose()
            return
        served = self._streams[conn_id] = _Stream(stream)
        try:
            async with trio.open_nursery() as inner:
                inner.start_soon(self._sender, served, inner.cancel_scope)
                while data := await stream.receive_some(_RECV):
                    self._server.receive(conn_id, data, trio.current_time())
                    self._pump()
                inner.cancel_scope.cancel()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self._streams.pop(conn_id, None)
            self._server.lost(conn_id, trio.current_time())
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)
            self._pump()

    async def _sender(self, served: _Stream, scope: trio.CancelScope) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            async for data in served.inbox:
                if data is None:  # the broker closes this connection
                    break
                await served.stream.send_all(data)
        scope.cancel()


@contextlib.asynccontextmanager
async def serve(cluster: FakeCluster, host: str = "127.0.0.1",
                port: int = 0) -> AsyncIterator[Served]:
    """Serve ``cluster`` on ``host`` (one port per broker) for the ``async with`` block."""
    served = Served(cluster)
    async with trio.open_nursery() as nursery:
        await served._run(host, port, nursery)
        try:
            yield served
        finally:
            nursery.cancel_scope.cancel()
            served._server.close(trio.current_time())
