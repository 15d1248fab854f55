"""What every object over a client shares: its options, its client (its own or a shared one),
its core created on first use, and the warning when it is dropped unclosed."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from kproto.config import Config, from_options
from kproto.errors import ConfigurationError, ObjectClosedError
from kproto.lifetime import warn_dropped

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from kproto.options import Options


L = TypeVar("L")
"""The adapter's loop type (an AsyncLoop or a BlockingLoop)."""

Core = TypeVar("Core")


class Feature(Generic[L, Core]):
    """A producer, consumer or group over a client. The adapter names its Client class in
    ``_client_class``; the feature makes its core in ``_make_core``."""

    _client_class: ClassVar[Any]
    _what: ClassVar[str] = "object"
    _counts_records: ClassVar[bool] = False
    """True for producers: a dropped one warns of its unsettled records."""

    def __init__(self, bootstrap: str | list[str] | None = None, config: Config | None = None,
                 *, client: Any = None, rng: random.Random | None = None,
                 **options: Unpack[Options]) -> None:
        if client is not None:
            base = config or client.config
            self.config: Config = from_options(base, options) if options else base
            self._client: Any = client
            self._owns_client = False
        else:
            if bootstrap is None:
                raise ConfigurationError("give the bootstrap servers or an existing client=")
            self.config = from_options(config, options) if options or config is None else config
            self._client = self._client_class(bootstrap, self.config, rng=rng)
            self._owns_client = self._client._owned = True
        self._core_obj: Core | None = None
        self._closed = False

    @property
    def _loop(self) -> L:
        return self._client._loop  # type: ignore[no-any-return]

    @property
    def _core(self) -> Core:
        """The feature's core, made (and its event handler added) on first use."""
        if self._core_obj is None:
            self._check_open()
            self._core_obj = self._loop.run(self._make_core)  # type: ignore[attr-defined]
            self._loop.add_handler(self._on_event)  # type: ignore[attr-defined]
        return self._core_obj

    def _make_core(self, engine: Any, now: float) -> Core:
        raise NotImplementedError

    def _on_event(self, event: Any) -> bool:
        return False

    def _check_open(self) -> None:
        if self._closed:
            raise ObjectClosedError(f"the {self._what} is closed")

    def _release_handler(self) -> None:
        if self._core_obj is not None:
            self._loop.remove_handler(self._on_event)  # type: ignore[attr-defined]

    def __del__(self) -> None:
        """Dropped without close: say what is lost (records, its own client's connections)."""
        if self.__dict__.get("_closed", True):
            return
        core = self.__dict__.get("_core_obj") if self._counts_records else None
        own = self.__dict__.get("_owns_client", False)
        if own or core is not None:
            warn_dropped(self, self._client.__dict__.get("_loop_obj") if own else None, core)


E = TypeVar("E", bound="EntersClient")


class EntersClient:
    """``async with`` for an awaited feature (asyncio, trio): it enters its own client (on
    trio that opens the client's nursery) and makes its core; leaving closes both."""

    _owns_client: bool
    _client: Any
    _core: Any

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self: E) -> E:
        if self._owns_client:
            await self._client.__aenter__()
        _ = self._core
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.close()
        finally:
            if self._owns_client:
                await self._client.__aexit__(*exc)

