"""The IO thread: one selector, the engine, and a wakeup socket.

Every call into the engine happens under one lock, from the user's thread (an operation) or
from the IO thread (socket readiness, timers). After each, the IO thread performs what the
engine asked: open/close sockets, write bytes, re-arm the timer, settle futures.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from kproto.client import ClientCore
from kproto.config import Config
from kproto.errors import ClosedError
from kproto.events import (
    CloseConnection,
    Event,
    OpenConnection,
    describe_os_error,
    dispatch,
)
from kproto.facade import Op, Result
from kproto.lifetime import WeakHandler
from kproto_threads._drive import drive as _drive

log = logging.getLogger("kproto.threads")

_RECV = 256 * 1024


class _Conn:
    __slots__ = ("conn_id", "connected", "handshaking", "host", "outbuf", "sock")

    def __init__(self, conn_id: int, sock: socket.socket, host: str) -> None:
        self.conn_id = conn_id
        self.sock = sock
        self.host = host
        self.outbuf = bytearray()
        self.connected = False
        self.handshaking = False


def make_ssl_context(config: Config) -> ssl.SSLContext:
    if config.ssl_context is not None:
        return config.ssl_context  # type: ignore[no-any-return]
    return ssl.create_default_context(cafile=config.ssl_cafile)

T = TypeVar("T")


class Loop:
    """Owns a :class:`ClientCore` and the thread that drives it."""

    def __init__(self, bootstrap: Any, config: Config, rng: random.Random | None = None) -> None:
        self.lock = threading.RLock()
        self.core = ClientCore(bootstrap, config, rng=rng or random.Random(), now=time.monotonic())
        self.config = config
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._conns: dict[int, _Conn] = {}
        self._futures: dict[int, Any] = {}
        self._handlers: list[Callable[[Event], bool]] = []
        self._ssl: ssl.SSLContext | None = make_ssl_context(config) if config.uses_tls else None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="kproto-io", daemon=True)
        self._thread.start()

    # -- called from user threads --------------------------------------------------------

    def call(self, fn: Callable[[ClientCore, float], int]) -> Future[Any]:
        """Run an engine operation returning a token; the future settles with its result."""
        fut: Future[Any] = Future()
        with self.lock:
            if self._stopping:
                fut.set_exception(ClosedError("the client was closed"))
                return fut
            token = fn(self.core, time.monotonic())
            self._futures[token] = fut
        self.wake()
        return fut

    def start(self, fn: Callable[[ClientCore, float], int]) -> Result[Any]:
        """Start an engine operation returning a token; the result settles with it."""
        result: Result[Any] = Result()
        with self.lock:
            if self._stopping:
                result.set_exception(ClosedError("the client was closed"))
                return result
            self._futures[fn(self.core, time.monotonic())] = result
        self.wake()
        return result

    def drive(self, op: Op[T]) -> T:
        """Run a facade operation on the calling thread."""
        return _drive(op, self.lock)

    def kick(self) -> None:
        self.wake()

    def now(self) -> float:
        return time.monotonic()

    def wall_ms(self) -> int:
        return int(time.time() * 1000)

    @property
    def closed(self) -> bool:
        return self._stopping

    def run(self, fn: Callable[[ClientCore, float], Any]) -> Any:
        """Run ``fn`` under the engine lock and wake the IO thread."""
        with self.lock:
            result = fn(self.core, time.monotonic())
        self.wake()
        return result

    def add_handler(self, fn: Callable[[Event], bool]) -> None:
        """``fn(event)`` sees events that are not operation results; True means consumed."""
        with self.lock:
            self._handlers.append(WeakHandler(fn))

    def remove_handler(self, fn: Callable[[Event], bool]) -> None:
        """Stop routing events to ``fn`` (a feature closed on a shared client)."""
        with self.lock:
            if fn in self._handlers:
                self._handlers.remove(fn)

    def wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass

    def close(self, timeout: float = 10.0) -> None:
        with self.lock:
            if self._stopping:
                return
            self.core.close(time.monotonic())
            self._stopping = True
        self.wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def open_connections(self) -> int:
        """Broker connections open or being opened; 0 once closing."""
        with self.lock:
            return 0 if self._stopping else len(self._conns)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the IO thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self.lock:
                    now = time.monotonic()
                    self.core.handle_timer(now)
                    self._pump()
                    if self._stopping:
                        break
                    deadline = self.core.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                ready = self._sel.select(timeout)
                with self.lock:
                    for key, mask in ready:
                        if key.data is None:
                            self._drain_wakeups()
                        else:
                            self._on_ready(key.data, mask)
        except BaseException:  # pragma: no cover - a bug; make it visible
            log.exception("kproto IO thread crashed")
            raise
        finally:
            self._shutdown()

    def _pump(self) -> None:
        core = self.core
        while (action := core.next_action()) is not None:
            if isinstance(action, OpenConnection):
                self._open(action)
            elif isinstance(action, CloseConnection):
                self._drop(action.conn_id)
        for conn_id, data in core.pending_writes():
            conn = self._conns.get(conn_id)
            if conn is not None:
                conn.outbuf += data
                if conn.connected and not conn.handshaking:
                    self._flush(conn)
        while (event := core.next_event()) is not None:
            dispatch(event, self._futures, self._handlers)

    def _open(self, action: OpenConnection) -> None:
        try:
            infos = socket.getaddrinfo(action.host, action.port, type=socket.SOCK_STREAM)
            family, type_, proto, _, addr = infos[0]
            sock = socket.socket(family, type_, proto)
        except OSError as exc:
            self.core.connection_lost(action.conn_id, f"cannot resolve: {describe_os_error(exc)}",
                                      time.monotonic())
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(action.conn_id, sock, action.host)
        self._conns[action.conn_id] = conn
        err = sock.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self._fail(conn, _describe(err))
            return
        self._sel.register(sock, selectors.EVENT_WRITE, conn)

    def _on_ready(self, conn: _Conn, mask: int) -> None:
        if conn.conn_id not in self._conns:
            return
        now = time.monotonic()
        if not conn.connected:
            err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._fail(conn, _describe(err))
                return
            conn.connected = True
            if self._ssl is not None:
                try:
                    conn.sock = self._ssl.wrap_socket(conn.sock, server_hostname=conn.host,
                                                      do_handshake_on_connect=False)
                except (ssl.SSLError, OSError) as exc:
                    self._fail(conn, f"TLS setup failed: {exc}")
                    return
                self._sel.unregister(conn.sock)
                self._sel.register(conn.sock, selectors.EVENT_READ, conn)
                conn.handshaking = True
            else:
                self.core.connection_made(conn.conn_id, now)
        if conn.handshaking:
            self._handshake(conn)
            return
        if mask & selectors.EVENT_READ:
            self._read(conn)
        if conn.conn_id in self._conns and mask & selectors.EVENT_WRITE:
            self._flush(conn)

    def _handshake(self, conn: _Conn) -> None:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._sel.modify(sock, selectors.EVENT_READ, conn)
            return
        except ssl.SSLWantWriteError:
            self._sel.modify(sock, selectors.EVENT_WRITE, conn)
            return
        except (ssl.SSLError, OSError) as exc:
            self._fail(conn, str(exc), tls_failed=True)
            return
        conn.handshaking = False
        self._sel.modify(sock, selectors.EVENT_READ, conn)
        self.core.connection_made(conn.conn_id, time.monotonic())

    def _read(self, conn: _Conn) -> None:
        chunks: list[bytes] = []
        while True:
            try:
                data = conn.sock.recv(_RECV)
            except (BlockingIOError, ssl.SSLWantReadError):
                break
            except ssl.SSLWantWriteError:
                break
            except OSError as exc:
                if chunks:
                    self.core.receive_data(conn.conn_id, b"".join(chunks), time.monotonic())
                self._fail(conn, f"receive failed: {exc}")
                return
            if not data:
                if chunks:
                    self.core.receive_data(conn.conn_id, b"".join(chunks), time.monotonic())
                self._fail(conn, "connection closed by the broker")
                return
            chunks.append(data)
            if len(data) < _RECV and not isinstance(conn.sock, ssl.SSLSocket):
                break
        if chunks:
            self.core.receive_data(conn.conn_id, b"".join(chunks), time.monotonic())

    def _flush(self, conn: _Conn) -> None:
        while conn.outbuf:
            try:
                sent = conn.sock.send(conn.outbuf)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                break
            except OSError as exc:
                self._fail(conn, f"send failed: {exc}")
                return
            del conn.outbuf[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbuf else 0)
        try:
            self._sel.modify(conn.sock, events, conn)
        except (KeyError, ValueError):
            pass

    def _fail(self, conn: _Conn, reason: str, tls_failed: bool = False) -> None:
        self._drop(conn.conn_id)
        self.core.connection_lost(conn.conn_id, reason, time.monotonic(), tls_failed=tls_failed)

    def _drop(self, conn_id: int) -> None:
        conn = self._conns.pop(conn_id, None)
        if conn is None:
            return
        try:
            self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _shutdown(self) -> None:
        with self.lock:
            for conn_id in list(self._conns):
                self._drop(conn_id)
            err = ClosedError("the client was closed")
            for fut in self._futures.values():
                if not fut.done():
                    fut.set_exception(err)
            self._futures.clear()
            self._sel.close()
            self._wake_r.close()
            self._wake_w.close()


def _describe(err: int) -> str:
    return os.strerror(err).lower()
