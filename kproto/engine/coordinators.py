"""Which broker coordinates a group or a transactional id: the one FindCoordinator lookup that
groups (``kproto.group.coordinator``) and transactions (``kproto.producer.transactions``) use.

The lookup asks any broker and reports the coordinator's broker id, or the error: the
transport's as it came, an error code as its ``KafkaError``. What to do next (wait for
metadata, retry with backoff, give up) is the caller's policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kproto import protocol
from kproto.engine.client import ClientCore
from kproto.errors import error_for_code
from kproto.protocol.apis import FIND_COORDINATOR

GROUP_KEY = 0
TXN_KEY = 1

Found = Callable[[float, int | None, BaseException | None], None]
"""``found(now, broker_id, None)`` or ``found(now, None, error)``."""


def find_coordinator(client: ClientCore, key_type: int, key: str, now: float,
                     found: Found) -> None:
    """Send FindCoordinator for ``key`` (batched ``coordinator_keys`` from version 4)."""

    def build(version: int) -> Any:
        if version >= 4:
            return protocol.FindCoordinatorRequest(key_type=key_type, coordinator_keys=[key])
        return protocol.FindCoordinatorRequest(key=key, key_type=key_type)

    def answer(resp: Any, err: BaseException | None) -> None:
        now = client.now
        if err is None:
            entry = resp.coordinators[0] if getattr(resp, "coordinators", None) else resp
            if not entry.error_code:
                found(now, entry.node_id, None)
                return
            err = error_for_code(entry.error_code)(
                entry.error_message or f"FindCoordinator for {key!r}")
        found(now, None, err)

    client.send_any(FIND_COORDINATOR, build, answer, now)
