"""The trio Client: version and metadata queries, awaited inside a nursery it opens."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import trio

from kproto.config import Config, from_options
from kproto.errors import ObjectClosedError
from kproto.facade.client import AsyncClient
from kproto_trio._loop import Loop

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from kproto.options import Options


__all__ = ["Client"]


class Client(AsyncClient):
    """A connection pool to one cluster. ``async with Client("host:9092") as client:``."""

    def __init__(self, bootstrap: str | list[str], config: Config | None = None, *,
                 rng: random.Random | None = None, **options: Unpack[Options]) -> None:
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
