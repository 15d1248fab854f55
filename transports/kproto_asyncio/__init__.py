"""kproto driven by asyncio: protocols feed the engine, futures carry its results."""

from kproto_asyncio.client import Client

__all__ = ["Client"]
