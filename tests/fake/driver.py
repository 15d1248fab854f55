"""A tiny pure driver loop: kproto's engine talking to the fake cluster in-process.

Each ``Client`` is a ``ClientCore`` (with whatever feature cores the test puts on it); the
``Driver`` performs their ``OpenConnection`` actions with ``FakeCluster.connect``, moves
bytes both ways, reports connections the fake side closed, and advances one fake clock,
firing the client and cluster timers in deadline order. No sockets, no threads, no sleeps.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Any

from kproto import protocol
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.events import (
    CloseConnection,
    Event,
    OpenConnection,
    OperationCompleted,
    OperationFailed,
)
from kproto.testing import FakeCluster, ServerConnection


class Client:
    def __init__(self, driver: Driver, seed: int, **options: Any) -> None:
        self.driver = driver
        cluster = driver.cluster
        bootstrap = ",".join(f"{b.host}:{b.port}" for b in cluster.brokers.values())
        self.config = Config(**options)
        self.core = ClientCore(bootstrap, self.config, rng=random.Random(seed),
                               now=driver.now)
        self.conns: dict[int, ServerConnection] = {}
        self.events: list[Event] = []
        self.refused = 0

    def pump(self, now: float) -> bool:
        core = self.core
        cluster = self.driver.cluster
        progressed = False
        while (action := core.next_action()) is not None:
            progressed = True
            if isinstance(action, OpenConnection):
                conn = cluster.connect(action.host, action.port, now)
                if conn is None:
                    self.refused += 1
                    core.connection_lost(action.conn_id, "connection refused", now)
                else:
                    self.conns[action.conn_id] = conn
                    core.connection_made(action.conn_id, now)
            elif isinstance(action, CloseConnection):
                conn = self.conns.pop(action.conn_id, None)
                if conn is not None:
                    conn.connection_lost(now)
        for conn_id, data in core.pending_writes():
            conn = self.conns.get(conn_id)
            if conn is not None and data:
                progressed = True
                conn.receive_data(data, now)
        for conn_id, conn in list(self.conns.items()):
            out = conn.data_to_send()
            if out:
                progressed = True
                core.receive_data(conn_id, out, now)
            if conn.closed:
                progressed = True
                del self.conns[conn_id]
                core.connection_lost(conn_id, conn.close_reason, now)
        while (event := core.next_event()) is not None:
            progressed = True
            self.events.append(event)
        return progressed

    def result(self, token: int) -> tuple[str, Any] | None:
        for ev in self.events:
            if isinstance(ev, OperationCompleted) and ev.token == token:
                return "ok", ev.value
            if isinstance(ev, OperationFailed) and ev.token == token:
                return "error", ev.error
        return None

    def take(self, kind: type) -> list[Any]:
        out = [e for e in self.events if isinstance(e, kind)]
        self.events = [e for e in self.events if not isinstance(e, kind)]
        return out


class Driver:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.now = 0.0
        self.clients: list[Client] = []

    def client(self, seed: int = 1, **options: Any) -> Client:
        c = Client(self, seed, **options)
        self.clients.append(c)
        return c

    def step(self) -> None:
        for c in self.clients:
            c.core.handle_timer(self.now)
        self.cluster.handle_timer(self.now)
        while any([c.pump(self.now) for c in self.clients]):
            pass

    def next_deadline(self) -> float | None:
        deadlines = [c.core.next_deadline() for c in self.clients]
        deadlines.append(self.cluster.next_deadline())
        return min((d for d in deadlines if d is not None), default=None)

    def advance(self, dt: float) -> None:
        end = self.now + dt
        self.step()
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > end:
                break
            self.now = max(self.now, deadline)
            self.step()
        self.now = end
        self.step()

    def run_until(self, cond: Callable[[], bool], limit: float = 120.0) -> None:
        start = self.now
        self.step()
        while not cond():
            assert self.now - start < limit, "condition not reached in fake time"
            deadline = self.next_deadline()
            if deadline is not None and deadline > self.now:
                self.advance(min(deadline - self.now, 1.0) + 1e-6)
            else:
                self.advance(0.01)

    def wait(self, client: Client, token: int, limit: float = 120.0) -> Any:
        self.run_until(lambda: client.result(token) is not None, limit)
        kind, value = client.result(token)  # type: ignore[misc]
        if kind == "error":
            raise value
        return value


# -- raw request helpers for per-API tests ---------------------------------------------------

class Raw:
    """Send hand-built requests to one broker of a fake cluster and decode the answers."""

    def __init__(self, cluster: FakeCluster, node: int = 1, now: float = 0.0) -> None:
        self.cluster = cluster
        conn = cluster.connect_node(node, now)
        assert conn is not None
        self.conn = conn
        self.correlation = 0
        self.sent: dict[int, tuple[int, int]] = {}

    def send(self, msg: Any, version: int, now: float = 0.0, client_id: str = "raw") -> int:
        self.correlation += 1
        self.sent[self.correlation] = (msg.API_KEY, version)
        self.conn.receive_data(protocol.encode_request(msg, version, self.correlation,
                                                       client_id), now)
        return self.correlation

    def responses(self) -> list[Any]:
        data = self.conn.data_to_send()
        out = []
        pos = 0
        while pos < len(data):
            (size,) = struct.unpack_from(">i", data, pos)
            frame = data[pos + 4:pos + 4 + size]
            pos += 4 + size
            corr = struct.unpack_from(">i", frame, 0)[0]
            key, version = self.sent[corr]
            out.append(protocol.decode_response(frame, key, version)[1])
        return out

    def call(self, msg: Any, version: int, now: float = 0.0) -> Any:
        self.send(msg, version, now)
        [resp] = self.responses()
        return resp
