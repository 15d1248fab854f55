"""trio producers: SyncProducer and AsyncProducer, awaited inside their client's nursery
(kproto.facade.producer).

A producer built from bootstrap servers opens its own client (and nursery) in
``__aenter__``; one built with ``client=`` uses that client's. Cancelling an awaiting call
stops the wait; the record itself stays in the producer (its result still arrives).
Cancelling a close drops what is left; its own client still closes, shielded.
"""

from __future__ import annotations

import trio

from kproto.facade.producer import (
    AwaitedAsyncProducer,
    AwaitedProducer,
    AwaitedSyncProducer,
    ResultStream,
)
from kproto_trio.client import Client

__all__ = ["AsyncProducer", "ResultStream", "SyncProducer"]


class _Producer(AwaitedProducer):
    """An owned client is entered with the producer: its nursery runs the connections."""

    _client_class = Client

    async def _close_client(self) -> None:
        with trio.CancelScope(shield=True):
            await self._client.close()


class SyncProducer(_Producer, AwaitedSyncProducer):
    __doc__ = AwaitedSyncProducer.__doc__


class AsyncProducer(_Producer, AwaitedAsyncProducer):
    __doc__ = AwaitedAsyncProducer.__doc__
