"""The producer id and epoch of an idempotent producer.

Theory of operation: a :class:`ProducerIdentity` holds the (producer id, epoch) pair that
stamps every batch of an idempotent producer, and its state: NONE until the first batch
needs it, REQUESTING while an InitProducerId is out, READY, or FAILED with a fatal error.
A non-transactional producer asks any broker for an id (``ensure``); a transactional one
gets it from its coordinator through the transaction manager (``set``).

KIP-360 recovery: when a partition's sequence can no longer continue (the broker lost the
producer's state, accepted a later batch first, or a batch that was sent can no longer be
retried), the sender calls ``request_bump()``; draining stops, and as soon as no produce
request is in flight ``start_bump()`` sends InitProducerId with the current id and epoch.
Without a transactional id Kafka answers with a new producer id at epoch 0; a transaction
coordinator answers with the next epoch of the same id. Every partition then starts again at
sequence 0. ``on_change(now, changed)`` tells the producer
core that the identity moved (or failed), so it can reset sequences and pump.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kproto import protocol
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.errors import KprotoError, error_for_code, is_retriable
from kproto.protocol.apis import INIT_PRODUCER_ID
from kproto.retry import retry_backoff

__all__ = ["ProducerIdentity", "backoff"]

log = logging.getLogger("kproto.producer")


def backoff(client: ClientCore, config: Config, attempts: int) -> float:
    """Exponential backoff for the ``attempts``-th retry, with +-20% jitter."""
    return retry_backoff(config, client.rng, attempts)


class ProducerIdentity:
    """The (producer id, epoch) pair and how it is obtained."""

    NONE = "none"
    REQUESTING = "requesting"
    READY = "ready"
    FAILED = "failed"

    def __init__(self, client: ClientCore, config: Config,
                 on_change: Callable[[float, bool], None]) -> None:
        self.client = client
        self.config = config
        self.on_change = on_change
        self.producer_id = -1
        self.epoch = -1
        self.state = self.NONE
        self.bump_requested = False
        self.error: BaseException | None = None
        self._failures = 0
        self._closed = False

    @property
    def ready(self) -> bool:
        return self.state == self.READY and not self.bump_requested

    def ensure(self, now: float) -> None:
        """Ask for a producer id if none was asked for yet (non-transactional producers)."""
        if self.state == self.NONE and not self._closed:
            self.state = self.REQUESTING
            self._request(now, bump=False)

    def set(self, producer_id: int, epoch: int, now: float) -> None:
        """A producer id obtained elsewhere (the transaction coordinator)."""
        changed = (producer_id, epoch) != (self.producer_id, self.epoch)
        self.producer_id, self.epoch = producer_id, epoch
        self.state = self.READY
        self.bump_requested = False
        self.on_change(now, changed)

    def request_bump(self) -> None:
        if not self.bump_requested:
            log.info("producer id %d epoch %d: sequences must restart; bumping the epoch",
                     self.producer_id, self.epoch)
        self.bump_requested = True

    def start_bump(self, now: float) -> None:
        """Send the epoch bump (call once nothing is in flight)."""
        if self.state == self.REQUESTING or self._closed:
            return
        self.state = self.REQUESTING
        self._request(now, bump=True)

    def close(self) -> None:
        self._closed = True

    def _request(self, now: float, bump: bool) -> None:
        pid, epoch = (self.producer_id, self.epoch) if bump else (-1, -1)
        timeout_ms = int(self.config.transaction_timeout * 1000)

        def build(version: int) -> Any:
            return protocol.InitProducerIdRequest(
                transactional_id=None, transaction_timeout_ms=timeout_ms,
                producer_id=pid, producer_epoch=epoch)

        self.client.send_any(INIT_PRODUCER_ID, build,
                             lambda resp, err: self._done(resp, err, bump), now)

    def _done(self, resp: Any, err: BaseException | None, bump: bool) -> None:
        now = self.client.now
        if self._closed:
            return
        if err is None and resp.error_code:
            err = error_for_code(resp.error_code)(resp.__class__.__name__)
        if err is not None:
            if is_retriable(err) and not self.client.closed:
                self._failures += 1
                delay = backoff(self.client, self.config, self._failures)
                log.debug("InitProducerId failed (%s); retrying in %.3fs", err, delay)
                self.client.timers.call_at(now + delay, lambda t: self._retry(t, bump))
                return
            self.state = self.FAILED
            self.error = err if isinstance(err, KprotoError) else KprotoError(str(err))
            self.on_change(now, True)
            return
        self._failures = 0
        changed = (resp.producer_id, resp.producer_epoch) != (self.producer_id, self.epoch)
        log.debug("producer id %d epoch %d", resp.producer_id, resp.producer_epoch)
        self.producer_id, self.epoch = resp.producer_id, resp.producer_epoch
        self.state = self.READY
        self.bump_requested = False
        self.on_change(now, changed or bump)

    def _retry(self, now: float, bump: bool) -> None:
        if not self._closed and self.state == self.REQUESTING:
            self._request(now, bump)
