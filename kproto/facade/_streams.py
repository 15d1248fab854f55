"""The iteration protocols every stream shares: ``for`` / ``async for`` over ``get()``,
ending when the stream is closed and drained (``get`` raises ClosedError)."""

from __future__ import annotations

from typing import Generic, TypeVar

from kproto.errors import ClosedError

T = TypeVar("T")


class Iterates(Generic[T]):
    """Blocking iteration (threads)."""

    def get(self) -> T:
        raise NotImplementedError

    def __iter__(self) -> Iterates[T]:
        return self

    def __next__(self) -> T:
        try:
            return self.get()
        except ClosedError:
            raise StopIteration from None


class AsyncIterates(Generic[T]):
    """Awaited iteration (asyncio, trio)."""

    async def get(self) -> T:
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterates[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.get()
        except ClosedError:
            raise StopAsyncIteration from None
