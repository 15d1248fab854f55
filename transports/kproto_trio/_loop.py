"""Drives the engine from trio: a task per connection and one timer task.

Reads feed the engine as they arrive; writes go through a per-connection sender task
woken when the engine has bytes for it (trio streams allow one sender at a time), except
that a connection's receiver sends what its own answer made the engine queue (the next
Fetch) itself, at once, when the sender is idle. The timer task sleeps until
``next_deadline()`` or until poked because the deadline moved.

These tasks run in the Client's nursery but under shielded cancel scopes of their own: a
cancelled scope around ``async with Client/ConsumerGroup/...`` cancels the user's code, and the
objects' closes (shielded and bounded) still reach the broker; ``Loop.close`` ends the tasks.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import ssl
import threading
import time
from typing import Any, TypeVar

import trio

from kproto.config import Config
from kproto.events import (
    CloseConnection,
    OpenConnection,
    describe_os_error,
)
from kproto.facade import Op
from kproto.facade._loop import LoopBase
from kproto.testing.fake.pipe import link_for
from kproto_trio._drive import drive as _drive

log = logging.getLogger("kproto.trio")

_RECV = 256 * 1024
_DIRECT = 1024
"""The most a receiver sends itself (a Fetch request is a few hundred bytes)."""


class _Conn:
    __slots__ = ("cancel", "conn_id", "outbuf", "sending", "stream", "wake")

    def __init__(self, conn_id: int) -> None:
        self.conn_id = conn_id
        self.stream: trio.abc.Stream | None = None
        self.outbuf = bytearray()
        self.wake = trio.Event()
        self.sending = False  # a task of this connection is in send_all
        # Shielded: a cancelled scope around the client must not cut the connection that
        # the close (a final commit, a LeaveGroup) still needs; Loop.close cancels it.
        self.cancel = trio.CancelScope(shield=True)


T = TypeVar("T")


class Loop(LoopBase):
    """Owns a :class:`ClientCore`; its tasks live in the nursery given to ``start``."""

    def __init__(self, bootstrap: Any, config: Config, nursery: trio.Nursery,
                 rng: random.Random | None = None) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._fake = link_for(bootstrap, trio.current_time(), time.monotonic(), self._fake_notify,
                              threading.RLock)
        super().__init__(self._fake.bootstrap if self._fake else bootstrap, config, rng,
                         trio.current_time, time.time)
        self._nursery = nursery
        self._ssl = (config.ssl_context or ssl.create_default_context(
            cafile=config.ssl_cafile)) if config.uses_tls else None
        self._conns: dict[int, _Conn] = {}
        self._timer_moved = trio.Event()
        self._armed: float | None = None
        self._timer_scope = trio.CancelScope(shield=True)  # ended by close(), as connections
        nursery.start_soon(self._timer_task)

    async def drive(self, op: Op[T], nursery: trio.Nursery | None = None) -> T:
        return await _drive(op, nursery)

    def kick(self) -> None:
        self.pump()

    def open_connections(self) -> int:
        """Broker connections open or being opened; 0 once closed."""
        return 0 if self.closed else len(self._conns)

    async def close(self) -> None:
        if self.closed:
            return
        self.core.close(trio.current_time())
        self.pump()
        if self._fake is not None:
            self._fake.close(self.core, trio.current_time())
        self.closed = True
        self._timer_scope.cancel()
        for conn in list(self._conns.values()):
            await self._shut(conn)
        self._conns.clear()
        self._fail_pending()

    # -- the engine's outputs ------------------------------------------------------------

    def pump(self) -> None:
        core = self.core
        if self._fake is not None:  # in-process: the link takes the actions and writes
            self._fake.pump(core, trio.current_time())
        while (action := core.next_action()) is not None:
            if isinstance(action, OpenConnection):
                conn = _Conn(action.conn_id)
                self._conns[action.conn_id] = conn
                self._nursery.start_soon(self._connection, conn, action)
            elif isinstance(action, CloseConnection):
                dropped = self._conns.pop(action.conn_id, None)
                if dropped is not None:
                    dropped.cancel.cancel()
        for conn_id, data in core.pending_writes():
            target = self._conns.get(conn_id)
            if target is not None:
                target.outbuf += data
                target.wake.set()
        self._dispatch()
        if self._deadline() != self._armed:
            self._timer_moved.set()

    async def _timer_task(self) -> None:
        with self._timer_scope:
            while True:
                self._armed = deadline = self._deadline()
                self._timer_moved = trio.Event()
                with trio.move_on_at(float("inf") if deadline is None else deadline):
                    await self._timer_moved.wait()
                if deadline is not None and trio.current_time() >= deadline:
                    # After the tasks woken at this same tick (trio runs a batch of
                    # woken tasks in either order): an application sending on a clock
                    # gets its records of this tick into the batch the linger closes,
                    # not the next one (asyncio's _fire says what that saves).
                    await trio.lowlevel.checkpoint()
                    self.core.handle_timer(trio.current_time())
                    self.pump()

    def _deadline(self) -> float | None:
        return self._fake.next_deadline(self.core) if self._fake else self.core.next_deadline()

    def _fake_notify(self) -> None:
        """A fake cluster has bytes for this client (maybe from another thread's client)."""
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(lambda: None if self.closed else self.pump())

    # -- sockets -------------------------------------------------------------------------

    async def _connection(self, conn: _Conn, action: OpenConnection) -> None:
        with conn.cancel:
            try:
                stream: trio.abc.Stream = await trio.open_tcp_stream(action.host, action.port)
                if action.tls:
                    assert self._ssl is not None
                    tls = trio.SSLStream(stream, self._ssl, server_hostname=action.host)
                    try:
                        await tls.do_handshake()
                    except trio.BrokenResourceError as exc:
                        await trio.aclose_forcefully(stream)
                        self._report_lost(conn, str(exc.__cause__ or exc), tls_failed=True)
                        return
                    stream = tls
            except OSError as exc:
                self._report_lost(conn, describe_os_error(exc))
                return
            conn.stream = stream
            self.core.connection_made(conn.conn_id, trio.current_time())
            self.pump()
            try:
                async with trio.open_nursery() as inner:
                    inner.start_soon(self._sender, conn, inner.cancel_scope)
                    await self._receiver(conn, stream)
                    inner.cancel_scope.cancel()
            finally:
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(stream)

    async def _receiver(self, conn: _Conn, stream: trio.abc.Stream) -> None:
        try:
            while True:
                data = await stream.receive_some(_RECV)
                if not data:
                    self._report_lost(conn, "connection closed by the broker")
                    return
                self.core.receive_data(conn.conn_id, data, trio.current_time())
                self.pump()
                if conn.outbuf and not conn.sending and _fits_now(stream, conn.outbuf):
                    # What the answer made the engine queue here (the next Fetch of a
                    # consumer) goes out now, not when the sender task's turn comes: that
                    # turn came after every task the answer woke (the reader among them,
                    # up to 64 messages a turn), so the next long poll reached the broker
                    # late. Measured on the latency bench under load: the Fetch handed
                    # out -> sent p50 0.48 ms, p90 8.7 ms, p99 25 ms before; p50 0.1 ms,
                    # p90 0.2-0.9 ms after.
                    try:
                        await self._send_now(conn, stream)
                    except (OSError, trio.BrokenResourceError,
                            trio.ClosedResourceError) as exc:
                        self._report_lost(conn, f"send failed: {describe_os_error(exc)}")
                        return
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._report_lost(conn, f"receive failed: {describe_os_error(exc)}")

    async def _sender(self, conn: _Conn, scope: trio.CancelScope) -> None:
        assert conn.stream is not None
        try:
            while True:
                await conn.wake.wait()
                conn.wake = trio.Event()
                await self._send_out(conn)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._report_lost(conn, f"send failed: {describe_os_error(exc)}")
            scope.cancel()

    async def _send_out(self, conn: _Conn) -> None:
        """Send the connection's queued bytes, unless another of its tasks is sending (that
        one sends them: it loops until the buffer is empty)."""
        if conn.sending:
            return
        assert conn.stream is not None
        conn.sending = True
        try:
            while conn.outbuf:
                data = bytes(conn.outbuf)
                conn.outbuf.clear()
                await conn.stream.send_all(data)
        finally:
            conn.sending = False

    async def _send_now(self, conn: _Conn, stream: trio.abc.Stream) -> None:
        """The receiver's send: what is queued now, once (what its send's checkpoint lets
        other tasks add is the sender task's)."""
        conn.sending = True
        try:
            data = bytes(conn.outbuf)
            conn.outbuf.clear()
            await stream.send_all(data)
        finally:
            conn.sending = False
        if conn.outbuf:
            conn.wake.set()

    def _report_lost(self, conn: _Conn, reason: str, tls_failed: bool = False) -> None:
        if self._conns.get(conn.conn_id) is conn:
            del self._conns[conn.conn_id]
            if not self.closed:
                self.core.connection_lost(conn.conn_id, reason, trio.current_time(),
                                          tls_failed=tls_failed)
                self.pump()

    async def _shut(self, conn: _Conn) -> None:
        conn.cancel.cancel()


def _fits_now(stream: trio.abc.Stream, data: bytearray) -> bool:
    """A receiver may send ``data`` itself only if that cannot block: a small request on a
    plain socket whose send buffer has room. Blocked in a send, it would stop reading, and
    a broker whose answer to this connection is stuck behind an unread receive buffer reads
    no request: neither side would move. TLS streams are left to the sender task (a TLS
    send may need to read)."""
    if len(data) > _DIRECT or not isinstance(stream, trio.SocketStream):
        return False
    poller = select.poll()
    poller.register(stream.socket.fileno(), select.POLLOUT)
    return bool(poller.poll(0))
