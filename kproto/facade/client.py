"""The Client's queries (versions, metadata, raw requests), written once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kproto.config import Config
from kproto.engine.client import BrokerApiVersions
from kproto.engine.cluster import Metadata
from kproto.facade._wait import AsyncLoop, EngineLoop, Op, call
from kproto.lifetime import warn_dropped


class ClientBase:
    """A connection pool to one cluster; the adapter provides ``_loop`` (made on first use
    on asyncio, inside ``async with`` on trio, at once on threads) as ``_loop_obj``."""

    config: Config
    _loop_obj: Any = None
    _owned = False
    """True when a producer, consumer or group made this client: their warning covers it."""

    @property
    def _loop(self) -> Any:
        raise NotImplementedError

    def __del__(self) -> None:
        """Dropped without close: say which connections are left open."""
        loop = self.__dict__.get("_loop_obj")
        if loop is not None and not self._owned:
            warn_dropped(self, loop)

    def _api_versions(self, node_id: int | None,
                      timeout: float | None = None) -> Op[BrokerApiVersions]:
        loop: EngineLoop = self._loop
        return call(loop, lambda core, now: core.api_versions(now, node_id), timeout,
                    "api_versions")

    def _metadata(self, topics: list[str] | None, timeout: float | None = None) -> Op[Metadata]:
        loop: EngineLoop = self._loop
        return call(loop, lambda core, now: core.metadata(topics, now), timeout, "metadata")

    def _request(self, api_key: int, build: Callable[[int], Any], node_id: int | None,
                 timeout: float | None = None) -> Op[tuple[int, Any]]:
        loop: EngineLoop = self._loop
        return call(loop, lambda core, now: core.request(api_key, build, now, node_id),
                    timeout, "request")

    def metrics(self) -> dict[str, Any]:
        return self._loop.run(lambda core, now: core.metrics())  # type: ignore[no-any-return]


class AsyncClient(ClientBase):
    """The Client's awaited queries, shared by the asyncio and trio adapters."""

    async def api_versions(self, node_id: int | None = None) -> BrokerApiVersions:
        loop: AsyncLoop = self._loop
        return await loop.drive(self._api_versions(node_id))

    async def metadata(self, topics: list[str] | None = None) -> Metadata:
        loop: AsyncLoop = self._loop
        return await loop.drive(self._metadata(topics))

    async def request(self, api_key: int, build: Callable[[int], Any],
                      node_id: int | None = None) -> tuple[int, Any]:
        """A raw request: ``build(version)`` returns the message; gives (version, response)."""
        loop: AsyncLoop = self._loop
        return await loop.drive(self._request(api_key, build, node_id))
