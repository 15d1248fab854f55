"""The simulated network: one ``Link`` per engine connection, bytes delivered by the scheduler.

Theory of operation: each direction of a link is a TCP stream. A chunk written at ``now``
arrives at ``max(now + latency + jitter (+ a spike), when the previous chunk of that
direction arrives)``: chunks of one stream never overtake each other, chunks of different
connections do. A cut delivers a prefix of one chunk and then resets the connection; a reset
loses whatever is still in flight both ways, and each side hears of it (the broker at once,
the client one latency later). Nothing here touches a socket; the ``Simulation`` owns the
links and the scheduler that delivers their chunks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kproto.testing.sim.trace import FrameNamer

if TYPE_CHECKING:
    from kproto.testing.fake.server import ServerConnection
    from kproto.testing.sim.simulation import Host

__all__ = ["Link"]


class Link:
    """One engine connection (``conn_id`` of ``host``) to broker ``node``."""

    __slots__ = ("client_closed", "conn_id", "dead", "down", "down_last", "host", "id",
                 "label", "node", "server", "up", "up_last")

    def __init__(self, link_id: int, host: Host, conn_id: int, node: int) -> None:
        self.id = link_id
        self.host = host
        self.conn_id = conn_id
        self.node = node
        self.server: ServerConnection | None = None
        self.dead = False
        """Reset or closed: chunks still in flight are lost."""
        self.client_closed = False
        self.up_last = 0.0
        self.down_last = 0.0
        sent: dict[int, str] = {}
        self.up = FrameNamer(True, sent)
        self.down = FrameNamer(False, sent)
        self.label = f"{host.name}#{conn_id}-b{node}"
        """How the trace names it (made once: every delivery's entry uses it)."""
