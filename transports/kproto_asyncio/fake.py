"""Serve a fake cluster on real sockets from asyncio, so that other clients can connect.

``async with serve(cluster) as served:`` starts one ``asyncio.start_server`` per broker (on
``port + i``, or each on a free port when ``port`` is 0), makes the cluster's Metadata
advertise those addresses, and moves bytes between the connections and the cluster's
``FakeServer`` (``kproto.testing.fake.pipe``), which decides everything else; its deadlines
run on one ``call_at`` timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING

from kproto.testing.fake.pipe import server_for

if TYPE_CHECKING:
    from kproto.testing.fake.cluster import FakeCluster

__all__ = ["Served", "serve"]

_RECV = 256 * 1024


class Served:
    """A fake cluster served on sockets; ``bootstrap`` is its address list."""

    def __init__(self, cluster: FakeCluster) -> None:
        self._aio = asyncio.get_running_loop()
        self._server = server_for(cluster, self._aio.time(), time.monotonic(), self._notify,
                                  threading.RLock)
        self._cluster = cluster
        self._servers: list[asyncio.Server] = []
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def bootstrap(self) -> str:
        return self._server.bootstrap

    async def _start(self, host: str, port: int) -> None:
        for i, node_id in enumerate(self._cluster.brokers):
            server = await asyncio.start_server(partial(self._connection, node_id), host,
                                                port + i if port else 0)
            self._servers.append(server)
            self._server.advertise(node_id, host, server.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._server.close(self._aio.time())
        for server in self._servers:
            server.close()
        for writer in list(self._writers.values()):
            writer.close()
        for server in self._servers:
            await server.wait_closed()

    def _notify(self) -> None:
        with contextlib.suppress(RuntimeError):  # the event loop is closed
            self._aio.call_soon_threadsafe(self._pump)

    def _pump(self) -> None:
        if self._closed:
            return
        for conn_id, data, close in self._server.pump(self._aio.time()):
            writer = self._writers.get(conn_id)
            if writer is not None:
                writer.write(data)
                if close:
                    writer.close()
        deadline = self._server.next_deadline()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None if deadline is None else self._aio.call_at(deadline, self._pump)

    async def _connection(self, node_id: int, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        conn_id = None if self._closed else self._server.accept(
            node_id, self._aio.time(), str(peer[0]) if peer else "127.0.0.1")
        if conn_id is None:  # the broker is stopped
            writer.close()
            return
        self._writers[conn_id] = writer
        try:
            while data := await reader.read(_RECV):
                self._server.receive(conn_id, data, self._aio.time())
                self._pump()
        except OSError:
            pass
        finally:
            self._writers.pop(conn_id, None)
            self._server.lost(conn_id, self._aio.time())
            writer.close()
            self._pump()


@contextlib.asynccontextmanager
async def serve(cluster: FakeCluster, host: str = "127.0.0.1",
                port: int = 0) -> AsyncIterator[Served]:
    """Serve ``cluster`` on ``host`` (one port per broker) for the ``async with`` block."""
    served = Served(cluster)
    try:
        await served._start(host, port)
        yield served
    finally:
        await served.aclose()
