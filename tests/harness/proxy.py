"""A TCP proxy that can cut, stall or delay the traffic it forwards.

Every broker advertises a FAULTY listener at a FaultProxy's address, so a client that
bootstraps through the proxy keeps talking through it (metadata hands back proxy addresses).
Tests then break the network on purpose:

    cut()        close every open connection; new ones are closed at once (RST) until restore()
    stall()      keep connections open but forward nothing, in either direction
    delay(s)     forward everything, each chunk s seconds after it arrived
    restore()    forward normally again (data held by stall() or delay() is then sent)

Each connection has a reader and a writer thread per direction, joined by a bounded queue:
a stalled or delayed direction stops reading once MAX_BUFFERED bytes are waiting, so TCP
backpressure reaches the sender instead of memory growing. Every wait has a timeout, and
close() shuts all sockets and joins all threads.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import struct
import threading
import time

MAX_BUFFERED = 4 * 1024 * 1024
CHUNK = 64 * 1024
POLL = 0.2
JOIN_TIMEOUT = 5.0


def _hard_close(sock: socket.socket) -> None:
    """Close with RST, so the peer sees a reset rather than a clean end of stream."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def _shut(sock: socket.socket) -> None:
    """Wake any thread blocked on the socket, then close it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class _Direction:
    """Bytes travelling one way: a queue of (due time, chunk) fed by a reader thread."""

    def __init__(self) -> None:
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.buffered = 0
        self.eof = False


class _Pair:
    """One client connection and its upstream connection."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = False
        self.threads: list[threading.Thread] = []
        for src, dst, label in ((client, upstream, "c2s"), (upstream, client, "s2c")):
            d = _Direction()
            self.threads.append(
                threading.Thread(target=self._read, args=(src, d), daemon=True, name=f"{proxy.name}-{label}-r")
            )
            self.threads.append(
                threading.Thread(target=self._write, args=(dst, d), daemon=True, name=f"{proxy.name}-{label}-w")
            )

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _read(self, src: socket.socket, d: _Direction) -> None:
        cond = self.proxy._cond
        while True:
            with cond:
                while not self.closed and d.buffered >= MAX_BUFFERED:
                    cond.wait(POLL)
                if self.closed:
                    return
            try:
                data = src.recv(CHUNK)
            except OSError:
                data = b""
            with cond:
                if not data:
                    d.eof = True
                    cond.notify_all()
                    return
                d.queue.append((time.monotonic() + self.proxy._delay, data))
                d.buffered += len(data)
                cond.notify_all()

    def _write(self, dst: socket.socket, d: _Direction) -> None:
        cond = self.proxy._cond
        while True:
            with cond:
                while True:
                    if self.closed:
                        return
                    if self.proxy._mode == "normal" and d.queue:
                        due, data = d.queue[0]
                        wait = due - time.monotonic()
                        if wait <= 0:
                            d.queue.popleft()
                            d.buffered -= len(data)
                            cond.notify_all()
                            break
                        cond.wait(min(wait, POLL))
                    elif d.eof and not d.queue:
                        self.proxy._drop(self)
                        return
                    else:
                        cond.wait(POLL)
            try:
                dst.sendall(data)
            except OSError:
                with cond:
                    self.proxy._drop(self)
                return

    def close(self, hard: bool = False) -> None:
        """Mark closed and shut both sockets (the caller holds the proxy's lock)."""
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.upstream):
            if hard:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                _hard_close(sock)
            else:
                _shut(sock)


class FaultProxy:
    """Forward ``listen_host:listen_port`` (0 picks a free port) to ``target``."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        name: str = "proxy",
        connect_timeout: float = 5.0,
    ) -> None:
        self.target = (target_host, target_port)
        self.name = name
        self.connect_timeout = connect_timeout
        self._cond = threading.Condition()
        self._mode = "normal"
        self._delay = 0.0
        self._pairs: set[_Pair] = set()
        self._finished: list[_Pair] = []
        self._closed = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((listen_host, listen_port))
        self._listener.listen(64)
        self._listener.settimeout(POLL)
        self.host, self.port = self._listener.getsockname()[:2]
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True, name=f"{name}-accept")
        self._accept_thread.start()

    # -- faults -------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def cut(self) -> None:
        """Close every connection now; close new ones on arrival until restore()."""
        with self._cond:
            self._mode = "cut"
            for pair in list(self._pairs):
                self._drop(pair, hard=True)
            self._cond.notify_all()

    def stall(self) -> None:
        """Keep connections open but forward no bytes in either direction."""
        with self._cond:
            self._mode = "stall"
            self._cond.notify_all()

    def delay(self, seconds: float) -> None:
        """Forward each chunk ``seconds`` after it arrived (applies to data read from now on)."""
        if seconds < 0:
            raise ValueError("delay must be >= 0")
        with self._cond:
            self._mode = "normal"
            self._delay = float(seconds)
            self._cond.notify_all()

    def restore(self) -> None:
        """Forward normally again, without added latency."""
        with self._cond:
            self._mode = "normal"
            self._delay = 0.0
            self._cond.notify_all()

    def connection_count(self) -> int:
        with self._cond:
            return len(self._pairs)

    # -- plumbing -----------------------------------------------------------------------------

    def _drop(self, pair: _Pair, hard: bool = False) -> None:
        """Forget and close a pair (the caller holds the lock)."""
        if pair in self._pairs:
            self._pairs.discard(pair)
            self._finished.append(pair)
        pair.close(hard=hard)
        self._cond.notify_all()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._cond:
                refuse = self._closed or self._mode == "cut"
            if refuse:
                _hard_close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=self.connect_timeout)
            except OSError:
                _hard_close(client)
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(self, client, upstream)
            with self._cond:
                if self._closed or self._mode == "cut":
                    pair.closed = True
                    _hard_close(client)
                    _hard_close(upstream)
                    continue
                self._pairs.add(pair)
                self._reap()
            pair.start()

    def _reap(self) -> None:
        """Forget finished pairs whose threads have ended (the caller holds the lock)."""
        self._finished = [p for p in self._finished if any(t.is_alive() for t in p.threads)]

    def close(self) -> None:
        """Stop accepting, close every connection and join every thread (bounded)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            for pair in list(self._pairs):
                self._drop(pair)
            pairs = list(self._finished)
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            self._listener.close()
        deadline = time.monotonic() + JOIN_TIMEOUT
        self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        for pair in pairs:
            for t in pair.threads:
                if t.is_alive():
                    t.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FaultProxy({self.host}:{self.port} -> {self.target[0]}:{self.target[1]}, {self._mode})"
