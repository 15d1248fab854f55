"""What the fetch engine tells its adapter, and the error values users receive.

Every event names the assignment it belongs to by ``stream`` (the id ``Fetcher.assign``
returned), so several consumers sharing one engine each pick out their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from kproto.events import Event
from kproto.message_types import ConsumerMessage

__all__ = ["ConsumerError", "FetchError", "RecordsFetched"]


@dataclass(frozen=True, slots=True)
class RecordsFetched(Event):
    """Messages of one partition from one fetch response, in offset order.

    ``size`` counts against the partition's buffer bound until the adapter hands it back
    with ``Fetcher.release(stream, size, now)``. ``messages`` is never empty, except for a
    stream that asked for it (``Fetcher.report_moves``): then an empty one (``size`` 0) says
    the position moved past records a reader never sees (transaction markers, aborted
    records), so a reader waiting for a position (``stop_at_end``) is woken.
    ``seeks`` counts the stream's seeks when it was fetched: a reader that sought since
    drops it (``Fetcher.seek`` forgets those bytes).
    """

    stream: int
    topic: str
    partition: int
    messages: tuple[ConsumerMessage, ...]
    high_watermark: int
    size: int
    seeks: int = 0


@dataclass(frozen=True, slots=True)
class FetchError(Event):
    """An error for one partition; ``stopped`` means it no longer fetches."""

    stream: int
    topic: str
    partition: int
    error: BaseException
    stopped: bool


@dataclass(frozen=True, slots=True)
class ConsumerError:
    """What a partition consumer's ``errors`` stream yields."""

    topic: str
    partition: int
    error: BaseException

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]: {self.error}"
