"""The asyncio Client: its loop is made on first use inside the running event loop."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from kproto.config import Config, from_options
from kproto.facade.client import AsyncClient
from kproto_asyncio._loop import Loop

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from kproto.options import Options


__all__ = ["Client"]


class Client(AsyncClient):
    """A connection pool to one cluster inside the running asyncio loop.

    Use as ``async with Client("host:9092") as client:``; it connects on first use.
    """

    def __init__(self, bootstrap: str | list[str], config: Config | None = None, *,
                 rng: random.Random | None = None, **options: Unpack[Options]) -> None:
        self.config = from_options(config, options) if options or config is None else config
        self._bootstrap = bootstrap
        self._rng = rng
        self._loop_obj: Loop | None = None

    @property
    def _loop(self) -> Loop:
        if self._loop_obj is None:
            self._loop_obj = Loop(self._bootstrap, self.config, self._rng)
        return self._loop_obj

    async def __aenter__(self) -> Client:
        _ = self._loop
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
