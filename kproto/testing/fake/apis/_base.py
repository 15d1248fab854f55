"""What every API module of the fake cluster shares: the request context and the reply kinds.

Theory of operation: an API module defines ``API = Api(key, min_version, max_version,
handle, error_response)``. ``handle(req)`` gets a ``Request`` (the decoded body, its version,
the cluster, the connection, ``now``) and returns a response message, ``NO_RESPONSE`` (a
Produce with acks=0), ``CLOSE`` (Kafka closes the connection for this request), or a
``Pending`` whose ``poll(now, expired)`` the connection calls after every input to the
cluster until it returns the response (a Fetch waiting for bytes, a JoinGroup waiting for
the rebalance); once ``deadline`` has passed, ``expired`` is True and ``poll`` must answer.
``error_response(body, version, code)`` is the answer a fault hook gives instead: every
entry of the response carries ``code`` and nothing is applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kproto.testing.fake.cluster import FakeCluster
    from kproto.testing.fake.server import ServerConnection

__all__ = ["CLOSE", "NO_RESPONSE", "Api", "Pending", "Request"]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NO_RESPONSE: Any = _Sentinel("NO_RESPONSE")
CLOSE: Any = _Sentinel("CLOSE")


class Pending:
    """A response that is not ready yet; see the module docstring."""

    __slots__ = ("deadline", "poll")

    def __init__(self, poll: Callable[[float, bool], Any], deadline: float | None) -> None:
        self.poll = poll
        self.deadline = deadline


@dataclass
class Request:
    cluster: FakeCluster
    conn: ServerConnection
    api_key: int
    header: Any
    body: Any
    version: int
    now: float

    @property
    def node(self) -> int:
        return self.conn.node_id

    def partition_fault(self, topic: str, partition: int) -> int:
        """The error a fault hook puts on this partition of this request (0: none)."""
        return self.cluster.faults.partition_error(self.api_key, self.node, topic, partition)


@dataclass(frozen=True)
class Api:
    key: int
    min_version: int
    max_version: int
    handle: Callable[[Request], Any]
    error_response: Callable[[Any, int, int], Any]
