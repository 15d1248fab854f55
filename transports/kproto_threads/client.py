"""The blocking Client: version and metadata queries over the engine's IO thread."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from kproto.client import BrokerApiVersions
from kproto.cluster import Metadata
from kproto.config import Config, from_options
from kproto.lifetime import warn_dropped
from kproto_threads._loop import Loop

__all__ = ["Client"]


class Client:
    """A connection pool to one cluster, driven by a background IO thread.

    ``Client("host:9092", config=Config(...))`` or ``Client("host:9092", client_id="x")``.
    """

    _owned = False
    """True when a producer, consumer or group made this client: their warning covers it."""

    def __del__(self) -> None:
        """Dropped without close: say which connections are left open."""
        loop = self.__dict__.get("_loop")
        if loop is not None and not self._owned:
            warn_dropped(self, loop)

    def __init__(self, bootstrap: str | list[str], config: Config | None = None, *,
                 rng: random.Random | None = None, **options: Any) -> None:
        self.config = from_options(config, options) if options or config is None else config
        self._loop = Loop(bootstrap, self.config, rng)

    def api_versions(self, node_id: int | None = None,
                     timeout: float | None = None) -> BrokerApiVersions:
        fut = self._loop.call(lambda core, now: core.api_versions(now, node_id))
        return fut.result(self._wait(timeout))  # type: ignore[no-any-return]

    def metadata(self, topics: list[str] | None = None, timeout: float | None = None) -> Metadata:
        fut = self._loop.call(lambda core, now: core.metadata(topics, now))
        return fut.result(self._wait(timeout))  # type: ignore[no-any-return]

    def request(self, api_key: int, build: Callable[[int], Any], node_id: int | None = None,
                timeout: float | None = None) -> tuple[int, Any]:
        """A raw request: ``build(version)`` returns the message; gives (version, response)."""
        fut = self._loop.call(lambda core, now: core.request(api_key, build, now, node_id))
        return fut.result(self._wait(timeout))  # type: ignore[no-any-return]

    def metrics(self) -> dict[str, Any]:
        return self._loop.run(lambda core, now: core.metrics())  # type: ignore[no-any-return]

    def close(self) -> None:
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, timeout: float | None) -> float:
        # The engine bounds every request; this outer bound only guards against a stuck thread.
        if timeout is not None:
            return timeout
        return self.config.request_timeout + self.config.connect_timeout + 5.0
