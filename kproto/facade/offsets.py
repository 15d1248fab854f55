"""The OffsetManager (sarama's), written once over the adapters' loops.

Theory of operation
-------------------
An :class:`kproto.group.offset_manager.OffsetManagerCore` runs in the engine and keeps the
marks and committed offsets of the partitions this manager manages. The facade hands out a
partition offset manager per managed partition: its ``next_offset`` / ``mark_offset`` /
``reset_offset`` are immediate calls into the core, its ``errors`` stream is the adapter's
partition error stream (the one a partition consumer has) fed by the core's
``OffsetManagerError`` events, and closing it commits its mark and releases the partition.
``commit`` and ``close`` on the manager wait for the commit and raise its error.

The waits are bounded by the core (``request_timeout`` for a fetch or a commit, with its
retries); the facade's own bound only guards against a stuck loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from kproto.config import from_options
from kproto.consumer.events import ConsumerError
from kproto.errors import ConfigurationError, ObjectClosedError
from kproto.facade._feature import EntersClient, Feature, L
from kproto.facade._streams import PartitionErrors
from kproto.facade._wait import AsyncLoop, Op, call
from kproto.group.assignors import TopicPartition
from kproto.group.offset_manager import OffsetManagerCore, OffsetManagerError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from kproto.options import Options


__all__ = ["AsyncOffsetManager", "AsyncPartitionOffsetManager", "OffsetManagerBase",
           "PartitionOffsetManagerBase"]

T = TypeVar("T")


class PartitionOffsetManagerBase(PartitionErrors):
    """The offsets of one managed partition. The adapter names its errors stream class in
    ``_error_stream`` (the partition consumer's)."""

    _error_stream: Callable[[Any], Any]

    def __init__(self, manager: OffsetManagerBase[Any], topic: str, partition: int) -> None:
        super().__init__()
        self.topic = topic
        self.partition = partition
        self._manager = manager
        self.errors = self._error_stream(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<PartitionOffsetManager {self.topic}[{self.partition}] {state}>"

    @property
    def _loop(self) -> Any:
        return self._manager._loop

    def next_offset(self) -> tuple[int, str]:
        """Where to resume reading and the metadata stored with it: the marked offset, else
        the committed one, else OFFSET_NEWEST / OFFSET_OLDEST (``auto_offset_reset``)."""
        return self._do(lambda core: core.next_offset(self.topic, self.partition))

    def mark_offset(self, offset: int, metadata: str = "") -> None:
        """Mark every message before ``offset`` processed (the offset of the next message to
        read, as committed offsets are); a mark only moves forward."""
        self._do(lambda core: core.mark(self.topic, self.partition, offset, metadata))

    def reset_offset(self, offset: int, metadata: str = "") -> None:
        """Move the mark back to ``offset`` (a reset never moves it forward)."""
        self._do(lambda core: core.reset(self.topic, self.partition, offset, metadata))

    def _do(self, fn: Callable[[OffsetManagerCore], T]) -> T:
        if self._closed:
            raise ObjectClosedError(f"{self.topic}[{self.partition}]: the partition offset "
                                    f"manager is closed")
        return self._manager._do(lambda core, now: fn(core))

    def _push(self, error: BaseException) -> None:
        self._errors.append(ConsumerError(self.topic, self.partition, error))
        self._signal.fire()

    def _end(self) -> None:
        self._closed = True
        self._signal.fire()

    def _close(self, timeout: float | None = None) -> Op[None]:
        """Commit the partition's mark, then release it; the commit's error is raised."""
        if self._closed:
            return
        manager = self._manager
        try:
            yield from manager._call(
                lambda core, now: core.release(self.topic, self.partition, now),
                f"closing the offset manager of {self.topic}[{self.partition}]", timeout)
        finally:
            manager._partitions.pop(TopicPartition(self.topic, self.partition), None)
            manager._do(lambda core, now: self._end())


class OffsetManagerBase(Feature[L, OffsetManagerCore]):
    """Commits a group's offsets without joining it (sarama's OffsetManager): the group is
    ``group_id`` in the options. The adapter names its partition class in
    ``_partition_class``."""

    _what = "offset manager"
    _partition_class: Any

    def __init__(self, bootstrap: str | list[str] | None = None, config: Any = None, *,
                 client: Any = None, rng: Any = None, **options: Unpack[Options]) -> None:
        base = config or (client.config if client is not None else None)
        if not (from_options(base, options) if options or base is None else base).group_id:
            raise ConfigurationError("an offset manager needs group_id")
        super().__init__(bootstrap, config, client=client, rng=rng, **options)
        self._partitions: dict[TopicPartition, Any] = {}

    def _make_core(self, engine: Any, now: float) -> OffsetManagerCore:
        assert self.config.group_id is not None
        return OffsetManagerCore(engine, self.config, self.config.group_id)

    def _on_event(self, event: Any) -> bool:
        if not isinstance(event, OffsetManagerError) or event.manager != self._core.id:
            return False
        pom = self._partitions.get(TopicPartition(event.topic, event.partition))
        if pom is not None:
            pom._push(event.error)
        return True

    def _do(self, fn: Callable[[OffsetManagerCore, float], T]) -> T:
        """``fn(core, now)`` inside the engine, then perform what it asked for."""
        core = self._core
        return self._loop.run(lambda _, now: fn(core, now))  # type: ignore[attr-defined, no-any-return]

    def _call(self, start: Callable[[OffsetManagerCore, float], int], what: str,
              timeout: float | None = None) -> Op[Any]:
        """Start a core call and wait for it; the core bounds it (``request_timeout`` and its
        retries), ``timeout`` (threads) bounds the wait instead when given."""
        core = self._core
        cfg = self.config
        bound = timeout if timeout is not None else \
            2 * cfg.request_timeout + cfg.connect_timeout + 5.0
        return (yield from call(self._loop, lambda _, now: start(core, now), bound, what))  # type: ignore[arg-type]

    # -- operations ------------------------------------------------------------------------

    def _manage_partition(self, topic: str, partition: int,
                          timeout: float | None = None) -> Op[Any]:
        self._check_open()
        if not isinstance(topic, str) or not topic:
            raise ValueError(f"topic must be a non-empty str, not {topic!r}")
        if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
            raise ValueError(f"partition must be an int >= 0, not {partition!r}")
        pom = self._partition_class(self, topic, partition)
        tp = TopicPartition(topic, partition)
        started = []

        def start(core: OffsetManagerCore, now: float) -> int:
            token = core.manage(topic, partition, now)
            started.append(token)
            return token

        try:
            yield from self._call(start, f"manage_partition({topic!r}, {partition})", timeout)
        except BaseException:
            # Cancelled or failed: the partition must not stay managed with nobody to close it.
            if started:
                self._do(lambda core, now: core.abandon(topic, partition))
            raise
        self._partitions[tp] = pom
        return pom

    def _commit(self, timeout: float | None = None) -> Op[None]:
        self._check_open()
        yield from self._call(lambda core, now: core.commit(now), "commit()", timeout)

    def _close(self, timeout: float | None = None) -> Op[None]:
        """Commit every mark and close; the commit's error is raised once closed."""
        if self._closed or self._core_obj is None:
            self._closed = True
            return
        self._closed = True
        try:
            yield from self._call(lambda core, now: core.close(now), "closing the offset manager",
                                  timeout)
        finally:
            def end(core: OffsetManagerCore, now: float) -> None:
                for pom in self._partitions.values():
                    pom._end()
                self._partitions.clear()
            self._do(end)
            self._release_handler()


class AsyncPartitionOffsetManager(PartitionOffsetManagerBase):
    """The awaited partition offset manager of asyncio and trio."""

    async def close(self) -> None:
        """Commit this partition's mark and stop managing it; the errors stream ends."""
        await self._loop.drive(self._close())

    async def __aenter__(self: S) -> S:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


S = TypeVar("S", bound=AsyncPartitionOffsetManager)
AP = TypeVar("AP", bound=AsyncPartitionOffsetManager)


class AsyncOffsetManager(EntersClient, OffsetManagerBase[AsyncLoop], Generic[AP]):
    """The OffsetManager's awaited operations, shared by the asyncio and trio adapters."""

    _partition_class: type[AP]

    async def manage_partition(self, topic: str, partition: int) -> AP:
        """Manage ``topic[partition]``'s offset in the group; returns once the committed
        offset is known."""
        return await self._loop.drive(self._manage_partition(topic, partition))

    async def commit(self) -> None:
        """Commit every marked offset now (CommitFailed names each partition that failed)."""
        await self._loop.drive(self._commit())

    async def close(self) -> None:
        """Commit every marked offset, then close (and close its own client)."""
        try:
            await self._loop.drive(self._close())
        finally:
            if self._owns_client:
                await self._client.close()
