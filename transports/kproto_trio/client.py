"""The trio Client: version and metadata queries, awaited inside a nursery it opens."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import trio

from kproto.client import BrokerApiVersions
from kproto.cluster import Metadata
from kproto.config import Config, from_options
from kproto.errors import ObjectClosedError
from kproto.lifetime import warn_dropped
from kproto_trio._loop import Loop

__all__ = ["Client"]


class Client:
    """A connection pool to one cluster. ``async with Client("host:9092") as client:``."""

    _owned = False
    """True when a producer, consumer or group made this client: their warning covers it."""

    def __del__(self) -> None:
        """Dropped without close: say which connections are left open."""
        loop = self.__dict__.get("_loop_obj")
        if loop is not None and not self._owned:
            warn_dropped(self, loop)

    def __init__(self, bootstrap: str | list[str], config: Config | None = None, *,
                 rng: random.Random | None = None, **options: Any) -> None:
        self.config = from_options(config, options) if options or config is None else config
        self._bootstrap = bootstrap
        self._rng = rng
        self._nursery_cm: Any = None
        self._loop_obj: Loop | None = None

    @property
    def _loop(self) -> Loop:
        if self._loop_obj is None:
            raise ObjectClosedError("use the trio Client inside 'async with'")
        return self._loop_obj

    async def api_versions(self, node_id: int | None = None) -> BrokerApiVersions:
        return await self._loop.call(  # type: ignore[no-any-return]
            lambda core, now: core.api_versions(now, node_id)).wait()

    async def metadata(self, topics: list[str] | None = None) -> Metadata:
        return await self._loop.call(  # type: ignore[no-any-return]
            lambda core, now: core.metadata(topics, now)).wait()

    async def request(self, api_key: int, build: Callable[[int], Any],
                      node_id: int | None = None) -> tuple[int, Any]:
        """A raw request: ``build(version)`` returns the message; gives (version, response)."""
        return await self._loop.call(  # type: ignore[no-any-return]
            lambda core, now: core.request(api_key, build, now, node_id)).wait()

    def metrics(self) -> dict[str, Any]:
        return self._loop.run(lambda core, now: core.metrics())  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self._loop_obj is not None:
            await self._loop_obj.close()

    async def __aenter__(self) -> Client:
        self._nursery_cm = trio.open_nursery()
        nursery = await self._nursery_cm.__aenter__()
        self._loop_obj = Loop(self._bootstrap, self.config, nursery, self._rng)
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        try:
            await self.close()
        finally:
            exited = await self._nursery_cm.__aexit__(*exc)
        return exited  # type: ignore[no-any-return]
