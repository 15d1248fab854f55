"""asyncio producers: SyncProducer and AsyncProducer, awaited (kproto.facade.producer).

Cancelling an awaiting call stops the wait; the record itself stays in the producer (its
result still arrives). Cancelling a close drops what is left.
"""

from __future__ import annotations

from kproto.facade.producer import AwaitedAsyncProducer, AwaitedSyncProducer, ResultStream
from kproto_asyncio.client import Client

__all__ = ["AsyncProducer", "ResultStream", "SyncProducer"]


class SyncProducer(AwaitedSyncProducer):
    __doc__ = AwaitedSyncProducer.__doc__
    _client_class = Client


class AsyncProducer(AwaitedAsyncProducer):
    __doc__ = AwaitedAsyncProducer.__doc__
    _client_class = Client
