"""Serve a fake cluster on real sockets from a thread, so that other clients can connect.

``with serve(cluster) as served:`` listens once per broker (on ``port + i``, or each on a
free port when ``port`` is 0), makes the cluster's Metadata advertise those addresses, and
runs one selector thread that moves bytes between the sockets and the cluster's
``FakeServer`` (``kproto.testing.fake.pipe``), which decides everything else.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from kproto.testing.fake.pipe import server_for

if TYPE_CHECKING:
    from kproto.testing.fake.cluster import FakeCluster

__all__ = ["Served", "serve"]

_RECV = 256 * 1024


class _Sock:
    __slots__ = ("closing", "conn_id", "outbuf", "sock")

    def __init__(self, conn_id: int, sock: socket.socket) -> None:
        self.conn_id = conn_id
        self.sock = sock
        self.outbuf = bytearray()
        self.closing = False


class Served:
    """A fake cluster served on sockets; ``bootstrap`` is its address list."""

    def __init__(self, cluster: FakeCluster, host: str = "127.0.0.1", port: int = 0,
                 listeners: tuple[str, ...] = ()) -> None:
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        for s in (self._wake_r, self._wake_w):
            s.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        now = time.monotonic()
        self._server = server_for(cluster, now, now, self._wake, threading.RLock)
        self._listeners: list[socket.socket] = []
        self._socks: dict[int, _Sock] = {}
        self._stop = False
        for i, node_id in enumerate(cluster.brokers):
            self._listen(host, port + i if port else 0, node_id, "")
        # Extra named listeners: a free port per broker, advertising itself until
        # ``advertise`` names another address (a proxy in front of it).
        self.ports: dict[str, dict[int, int]] = {
            name: {node_id: self._listen(host, 0, node_id, name) for node_id in cluster.brokers}
            for name in listeners}
        self._thread = threading.Thread(target=self._run, name="kproto-fake-server",
                                        daemon=True)
        self._thread.start()

    def _listen(self, host: str, port: int, node_id: int, name: str) -> int:
        """Listen for ``node_id`` on listener ``name`` ("" the main one); the bound port."""
        listener = socket.create_server((host, port))
        listener.setblocking(False)
        self._listeners.append(listener)
        self._sel.register(listener, selectors.EVENT_READ, (node_id, name))
        bound: int = listener.getsockname()[1]
        self._server.advertise(node_id, host, bound, name)
        return bound

    @property
    def bootstrap(self) -> str:
        return self._server.bootstrap

    def advertise(self, listener: str, node_id: int, host: str, port: int) -> None:
        """Connections accepted on ``listener`` are told ``host:port`` for ``node_id``."""
        self._server.advertise(node_id, host, port, listener)

    def close(self) -> None:
        self._stop = True
        self._wake()
        self._thread.join(10.0)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # -- the server thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop:
                deadline = self._server.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                for key, mask in self._sel.select(timeout):
                    self._on_ready(key.fileobj, key.data, mask)
                self._apply(self._server.pump(time.monotonic()))
        finally:
            self._server.close(time.monotonic())
            for sock in [*self._listeners, *(s.sock for s in self._socks.values()),
                         self._wake_r, self._wake_w]:
                sock.close()
            self._sel.close()

    def _on_ready(self, fileobj: Any, data: Any, mask: int) -> None:
        if data is None:
            with contextlib.suppress(OSError):
                while self._wake_r.recv(4096):
                    pass
        elif isinstance(data, tuple):
            self._accept(fileobj, *data)
        else:
            if mask & selectors.EVENT_READ:
                self._read(data)
            if mask & selectors.EVENT_WRITE and data.conn_id in self._socks:
                self._flush(data)

    def _accept(self, listener: socket.socket, node_id: int, name: str) -> None:
        try:
            sock, peer = listener.accept()
        except OSError:
            return
        conn_id = self._server.accept(node_id, time.monotonic(), str(peer[0]), name)
        if conn_id is None:  # the broker is stopped
            sock.close()
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        served = self._socks[conn_id] = _Sock(conn_id, sock)
        self._sel.register(sock, selectors.EVENT_READ, served)

    def _read(self, served: _Sock) -> None:
        try:
            data = served.sock.recv(_RECV)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._server.receive(served.conn_id, data, time.monotonic())
        else:
            self._server.lost(served.conn_id, time.monotonic())
            self._shut(served)

    def _apply(self, outputs: list[tuple[int, bytes, bool]]) -> None:
        for conn_id, data, close in outputs:
            served = self._socks.get(conn_id)
            if served is not None:
                served.outbuf += data
                served.closing = close
                self._flush(served)

    def _flush(self, served: _Sock) -> None:
        while served.outbuf:
            try:
                sent = served.sock.send(served.outbuf)
            except BlockingIOError:
                break
            except OSError:
                self._server.lost(served.conn_id, time.monotonic())
                self._shut(served)
                return
            del served.outbuf[:sent]
        if served.closing and not served.outbuf:
            self._shut(served)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if served.outbuf else 0)
        self._sel.modify(served.sock, events, served)

    def _shut(self, served: _Sock) -> None:
        if self._socks.pop(served.conn_id, None) is not None:
            self._sel.unregister(served.sock)
            served.sock.close()


def serve(cluster: FakeCluster, host: str = "127.0.0.1", port: int = 0,
          listeners: tuple[str, ...] = ()) -> Served:
    """Serve ``cluster`` on ``host`` (one port per broker, and one more per broker for each
    name in ``listeners``: ``Served.ports[name]``) until ``close()``."""
    return Served(cluster, host, port, listeners)
