"""Finding a group's coordinator and talking to it.

Theory of operation: :class:`CoordinatorLink` owns what the member knows about its group
coordinator: the broker, the node id requests go to (a connection of its own when the engine
offers one, so a JoinGroup parked at the coordinator for the whole rebalance does not block
fetches), the FindCoordinator in flight and its retry timer. Callers ask for the coordinator
with ``with_coordinator(fn, now)``; ``fn(now, node, error)`` runs once it is known (at once when
it already is), or with the error that makes finding it hopeless (group authorization). When
a response says the coordinator moved or is gone (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
a broken connection, a timeout), callers ``mark_dead`` it and ask again; retriable failures of
FindCoordinator itself retry with exponential backoff for as long as anybody waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.engine.coordinators import GROUP_KEY, find_coordinator
from kproto.engine.timers import TimerHandle
from kproto.errors import (
    AuthenticationError,
    ClosedError,
    ClusterUnreachableError,
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    KafkaError,
    NotCoordinatorError,
)
from kproto.retry import retry_backoff

__all__ = ["COORDINATOR_MOVED", "CoordinatorLink", "backoff_delay", "engine_now"]

log = logging.getLogger("kproto.group")

COORDINATOR_MOVED = frozenset({NotCoordinatorError.code, CoordinatorNotAvailableError.code})
"""Error codes that mean: find the coordinator again, then retry."""

Waiter = Callable[[float, int | None, BaseException | None], None]


def engine_now(core: ClientCore) -> float:
    """The time of the engine's latest input (for callbacks that get no ``now``)."""
    return core.now


def backoff_delay(config: Config, core: ClientCore, failures: int) -> float:
    """Exponential retry backoff with +-20% jitter from the engine's RNG."""
    return retry_backoff(config, core.rng, failures)


class CoordinatorLink:
    """The group coordinator: discovery, rediscovery and the node to send to."""

    def __init__(self, core: ClientCore, config: Config, group_id: str) -> None:
        self.core = core
        self.config = config
        self.group_id = group_id
        self.node: int | None = None
        """Where coordinator requests go (None while unknown)."""
        self.broker: int | None = None
        """The coordinator's broker id."""
        self._waiters: list[Waiter] = []
        self._finding = False
        self._failures = 0
        self._retry: TimerHandle | None = None
        self._closed = False

    def with_coordinator(self, fn: Waiter, now: float) -> None:
        """Call ``fn(now, node, None)`` once the coordinator is known, or ``fn(now, None, err)``."""
        if self._closed:
            fn(now, None, ClosedError("the consumer group was closed"))
            return
        if self.node is not None:
            fn(now, self.node, None)
            return
        self._waiters.append(fn)
        self._find(now)

    def mark_dead(self, reason: str, now: float) -> None:
        if self.node is not None:
            log.info("group %s: coordinator %s is gone (%s); finding it again",
                     self.group_id, self.broker, reason)
        self.node = None
        self.broker = None

    def close(self) -> None:
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
        waiters, self._waiters = self._waiters, []
        now = engine_now(self.core)
        for fn in waiters:
            fn(now, None, ClosedError("the consumer group was closed"))

    # -- internals ------------------------------------------------------------------------

    def _find(self, now: float) -> None:
        if self._finding or self._closed or (self._retry is not None and not self._retry.cancelled):
            return
        self._finding = True
        find_coordinator(self.core, GROUP_KEY, self.group_id, now, self._found)

    def _found(self, now: float, broker: int | None, err: BaseException | None) -> None:
        self._finding = False
        if self._closed:
            return
        if err is None and broker is not None:
            self._failures = 0
            self._set(broker, now)
            return
        assert err is not None
        retriable = not isinstance(err, KafkaError) or err.retriable or err.code in (
            CoordinatorLoadInProgressError.code, *COORDINATOR_MOVED)
        # No broker reachable for metadata_max_wait, or credentials refused: the waiters
        # learn it now instead of waiting for a coordinator that cannot be found.
        if isinstance(err, (ClosedError, ClusterUnreachableError, AuthenticationError)) \
                or not retriable:
            waiters, self._waiters = self._waiters, []
            for fn in waiters:
                fn(now, None, err)
            return
        self._failures += 1
        delay = backoff_delay(self.config, self.core, self._failures)
        log.debug("group %s: FindCoordinator failed (%s); retrying in %.3fs",
                  self.group_id, err, delay)
        if self._waiters:
            self._retry = self.core.timers.call_at(now + delay, self._retry_now)

    def _retry_now(self, now: float) -> None:
        self._retry = None
        if self._waiters:
            self._find(now)

    def _set(self, broker: int, now: float) -> None:
        if self.core.cluster.broker(broker) is None:
            # Not in the metadata yet: look again, then retry shortly.
            self.core.request_metadata_update(now)
            self._failures += 1
            self._retry = self.core.timers.call_at(
                now + backoff_delay(self.config, self.core, self._failures), self._retry_now)
            return
        # Its own connection: a JoinGroup parked there must not hold up fetches.
        node = self.core.dedicated_node(broker)
        self.broker = broker
        self.node = node
        log.debug("group %s: coordinator is broker %d", self.group_id, broker)
        waiters, self._waiters = self._waiters, []
        for fn in waiters:
            fn(now, node, None)
