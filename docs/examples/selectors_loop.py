"""Embedding kproto's core in a hand-written event loop built on ``selectors``.

The whole contract between a loop and the core is: feed it socket reports and timer
wake-ups with the current time, then perform what it asks (open/close sockets, write bytes),
re-arm one timer and collect events. This example runs one ApiVersions and one Metadata
request against a broker and prints the results:

    python docs/examples/selectors_loop.py 127.0.0.1:9092 [topic ...]
"""

from __future__ import annotations

import random
import selectors
import socket
import sys
import time

from kproto.engine.client import ClientCore
from kproto.events import CloseConnection, OpenConnection, OperationCompleted, OperationFailed


class SelectorsDriver:
    def __init__(self, bootstrap: str) -> None:
        self.core = ClientCore(bootstrap, rng=random.Random(), now=time.monotonic())
        self.sel = selectors.DefaultSelector()
        self.socks: dict[int, socket.socket] = {}
        self.pending: dict[int, bytearray] = {}
        self.results: dict[int, object] = {}

    def perform(self) -> None:
        """Carry out everything the core asked for after its last input."""
        while (action := self.core.next_action()) is not None:
            if isinstance(action, OpenConnection):
                sock = socket.socket()
                sock.setblocking(False)
                self.socks[action.conn_id] = sock
                self.pending[action.conn_id] = bytearray()
                sock.connect_ex((action.host, action.port))
                self.sel.register(sock, selectors.EVENT_WRITE, ("connecting", action.conn_id))
            elif isinstance(action, CloseConnection):
                self.drop(action.conn_id)
        for conn_id, data in self.core.pending_writes():
            self.pending[conn_id] += data
            self.flush(conn_id)
        while (event := self.core.next_event()) is not None:
            if isinstance(event, (OperationCompleted, OperationFailed)):
                self.results[event.token] = event

    def flush(self, conn_id: int) -> None:
        sock, buf = self.socks[conn_id], self.pending[conn_id]
        try:
            sent = sock.send(buf)
        except BlockingIOError:
            sent = 0
        del buf[:sent]
        mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if buf else 0)
        self.sel.modify(sock, mask, ("open", conn_id))

    def drop(self, conn_id: int) -> None:
        sock = self.socks.pop(conn_id, None)
        if sock is not None:
            self.sel.unregister(sock)
            sock.close()
        self.pending.pop(conn_id, None)

    def on_socket(self, state: str, conn_id: int, mask: int) -> None:
        sock, now = self.socks[conn_id], time.monotonic()
        if state == "connecting":
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.drop(conn_id)
                self.core.connection_lost(conn_id, f"connect failed: errno {err}", now)
                return
            self.sel.modify(sock, selectors.EVENT_READ, ("open", conn_id))
            self.core.connection_made(conn_id, now)
            return
        if mask & selectors.EVENT_READ:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as exc:
                data, reason = b"", str(exc)
            else:
                reason = "closed by peer"
            if not data:
                self.drop(conn_id)
                self.core.connection_lost(conn_id, reason, now)
                return
            self.core.receive_data(conn_id, data, now)
        if conn_id in self.socks and mask & selectors.EVENT_WRITE:
            self.flush(conn_id)

    def wait_for(self, token: int) -> object:
        """Run the loop until the operation ``token`` settles."""
        self.perform()
        while token not in self.results:
            deadline = self.core.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            for key, mask in self.sel.select(timeout):
                self.on_socket(*key.data, mask)
            self.core.handle_timer(time.monotonic())
            self.perform()
        event = self.results.pop(token)
        if isinstance(event, OperationFailed):
            raise event.error
        assert isinstance(event, OperationCompleted)
        return event.value

    def close(self) -> None:
        self.core.close(time.monotonic())
        self.perform()
        for conn_id in list(self.socks):
            self.drop(conn_id)
        self.sel.close()


def main(argv: list[str]) -> int:
    driver = SelectorsDriver(argv[1] if len(argv) > 1 else "127.0.0.1:9092")
    try:
        versions = driver.wait_for(driver.core.api_versions(time.monotonic()))
        print(f"broker speaks {len(versions.versions)} APIs")  # type: ignore[attr-defined]
        meta = driver.wait_for(driver.core.metadata(argv[2:] or None, time.monotonic()))
        for broker in meta.brokers:  # type: ignore[attr-defined]
            print(f"broker {broker.node_id} at {broker.host}:{broker.port}")
        for name, topic in sorted(meta.topics.items()):  # type: ignore[attr-defined]
            print(f"topic {name}: {len(topic.partitions)} partitions")
    finally:
        driver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
