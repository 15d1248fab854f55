"""The blocking Client: version and metadata queries over the engine's IO thread."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from kproto.config import Config, from_options
from kproto.engine.client import BrokerApiVersions
from kproto.engine.cluster import Metadata
from kproto.facade.client import ClientBase
from kproto_threads._loop import Loop

__all__ = ["Client"]


class Client(ClientBase):
    """A connection pool to one cluster, driven by a background IO thread.

    ``Client("host:9092", config=Config(...))`` or ``Client("host:9092", client_id="x")``.
    """

    def __init__(self, bootstrap: str | list[str], config: Config | None = None, *,
                 rng: random.Random | None = None, **options: Any) -> None:
        self.config = from_options(config, options) if options or config is None else config
        self._loop_obj: Loop = Loop(bootstrap, self.config, rng)

    @property
    def _loop(self) -> Loop:
        return self._loop_obj

    def api_versions(self, node_id: int | None = None,
                     timeout: float | None = None) -> BrokerApiVersions:
        return self._loop.drive(self._api_versions(node_id, self._wait(timeout)))

    def metadata(self, topics: list[str] | None = None, timeout: float | None = None) -> Metadata:
        return self._loop.drive(self._metadata(topics, self._wait(timeout)))

    def request(self, api_key: int, build: Callable[[int], Any], node_id: int | None = None,
                timeout: float | None = None) -> tuple[int, Any]:
        """A raw request: ``build(version)`` returns the message; gives (version, response)."""
        return self._loop.drive(self._request(api_key, build, node_id, self._wait(timeout)))

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
