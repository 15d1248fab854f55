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
from typing import Any, TypeVar

from kproto.config import Config
from kproto.errors import ConfigurationError
from kproto.events import (
    CloseConnection,
    OpenConnection,
    describe_os_error,
)
from kproto.facade import Op
from kproto.facade._loop import LoopBase
from kproto.testing.fake.pipe import link_for
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


T = TypeVar("T")


class Loop(LoopBase):
    """Owns a :class:`ClientCore` and the thread that drives it."""

    def __init__(self, bootstrap: Any, config: Config, rng: random.Random | None = None) -> None:
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        now = time.monotonic()
        try:
            self._fake = link_for(bootstrap, now, now, self.wake, threading.RLock)
        except ConfigurationError:  # a fake:// address that names no cluster
            self._wake_r.close()
            self._wake_w.close()
            raise
        super().__init__(self._fake.bootstrap if self._fake else bootstrap, config, rng,
                         time.monotonic, time.time)
        self.lock = threading.RLock()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._conns: dict[int, _Conn] = {}
        self._ssl: ssl.SSLContext | None = (config.ssl_context or ssl.create_default_context(
            cafile=config.ssl_cafile)) if config.uses_tls else None
        self._thread = threading.Thread(target=self._run, name="kproto-io", daemon=True)
        self._thread.start()

    # -- called from user threads --------------------------------------------------------

    def drive(self, op: Op[T]) -> T:
        """Run a facade operation on the calling thread."""
        return _drive(op, self.lock)

    def kick(self) -> None:
        self.wake()

    def wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass

    def close(self, timeout: float = 10.0) -> None:
        with self.lock:
            if self.closed:
                return
            self.core.close(time.monotonic())
            self.closed = True
        self.wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def open_connections(self) -> int:
        """Broker connections open or being opened; 0 once closing."""
        with self.lock:
            return 0 if self.closed else len(self._conns)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the IO thread -------------------------------------------------------------------

    def _run(self) -> None:
        ready: list[tuple[selectors.SelectorKey, int]] = []
        try:
            while True:
                # One hold of the engine lock per turn: the bytes just read, the timer, and
                # then what they made the engine ask for (the next Fetch written, records
                # handed to the readers). Taken twice (read, release, then pump), the lock
                # fell free in between, so a user thread parked on it woke only to find it
                # taken again (a lost wake-up on a busy machine), and the answer's effects
                # waited for the second acquisition: 2 lock round trips per turn, now 1.
                with self.lock:
                    for key, mask in ready:
                        if key.data is None:
                            self._drain_wakeups()
                        else:
                            self._on_ready(key.data, mask)
                    now = time.monotonic()
                    self.core.handle_timer(now)
                    if self._fake is not None:  # in-process: the link takes actions and writes
                        self._fake.pump(self.core, now)
                    self._pump()
                    if self.closed:
                        break
                    deadline = (self._fake.next_deadline(self.core) if self._fake
                                else self.core.next_deadline())
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                ready = self._sel.select(timeout)
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
        self._dispatch()

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
            if self._fake is not None:
                self._fake.close(self.core, time.monotonic())
            for conn_id in list(self._conns):
                self._drop(conn_id)
            self._fail_pending()
            self._sel.close()
            self._wake_r.close()
            self._wake_w.close()


def _describe(err: int) -> str:
    return os.strerror(err).lower()
