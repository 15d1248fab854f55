"""The Client's queries (versions, metadata, raw requests, and sarama's cluster calls), written
once: each is an operation over the engine's query cache (``kproto.engine.queries``), which
answers from the cache at once when it can and otherwise fetches, so the adapters only spell the
calls (blocking with ``timeout=``, or awaited)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kproto.config import Config
from kproto.engine import queries as q
from kproto.engine.client import BrokerApiVersions
from kproto.engine.cluster import BrokerInfo, Metadata
from kproto.engine.queries import ClientQueries, check_partition, check_topic, check_topics
from kproto.errors import KprotoError, ObjectClosedError
from kproto.facade._wait import AsyncLoop, EngineLoop, Op, call
from kproto.lifetime import warn_dropped

T = TypeVar("T")


class ClientBase:
    """A connection pool to one cluster; the adapter provides ``_loop`` (made on first use
    on asyncio, inside ``async with`` on trio, at once on threads) as ``_loop_obj``."""

    config: Config
    _loop_obj: Any = None
    _owned = False
    """True when a producer, consumer or group made this client: their warning covers it."""
    _close_called = False
    _queries_obj: ClientQueries | None = None

    @property
    def _loop(self) -> Any:
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called (or the client's loop has shut down)."""
        loop = self.__dict__.get("_loop_obj")
        return self._close_called or bool(loop is not None and loop.closed)

    def __del__(self) -> None:
        """Dropped without close: say which connections are left open."""
        loop = self.__dict__.get("_loop_obj")
        if loop is not None and not self._owned:
            warn_dropped(self, loop)

    def _api_versions(self, node_id: int | None,
                      timeout: float | None = None) -> Op[BrokerApiVersions]:
        loop: EngineLoop = self._loop
        return call(loop, lambda core, now: core.api_versions(now, node_id), timeout,
                    "api_versions")

    def _metadata(self, topics: list[str] | None, timeout: float | None = None) -> Op[Metadata]:
        loop: EngineLoop = self._loop
        return call(loop, lambda core, now: core.metadata(topics, now), timeout, "metadata")

    def _request(self, api_key: int, build: Callable[[int], Any], node_id: int | None,
                 timeout: float | None = None) -> Op[tuple[int, Any]]:
        loop: EngineLoop = self._loop
        try:
            answer: tuple[int, Any] = yield from call(
                loop, lambda core, now: core.request(api_key, build, now, node_id), timeout,
                "request")
        except KprotoError:
            if node_id is not None:  # a coordinator there is looked up anew next time
                with loop.lock:
                    if self._queries_obj is not None:
                        self._queries_obj.forget_node(node_id)
            raise
        return answer

    def metrics(self) -> dict[str, Any]:
        return self._loop.run(lambda core, now: core.metrics())  # type: ignore[no-any-return]

    # -- sarama's Client calls -------------------------------------------------------------

    def _queries(self, core: Any) -> ClientQueries:
        """The query cache of ``core`` (called inside the engine)."""
        queries = self._queries_obj
        if queries is None or queries.core is not core:
            queries = self._queries_obj = ClientQueries(core)
        return queries

    def _ask(self, read: q.Reader[T], timeout: float | None, what: str) -> Op[T]:
        """Answer from the cache when it can, else wait for the fetch it starts."""
        if self.closed:
            raise ObjectClosedError("the client was closed")
        loop: Any = self._loop
        with loop.lock:
            hit, value = self._queries(loop.core).cached(read, loop.now())
        if hit:
            return value  # type: ignore[return-value]
        answer: T = yield from call(loop, lambda core, now: self._queries(core).ask(read, now),
                                    timeout, what)
        return answer

    def _start(self, start: Callable[[ClientQueries, float], int], timeout: float | None,
               what: str) -> Op[Any]:
        if self.closed:
            raise ObjectClosedError("the client was closed")
        return (yield from call(self._loop, lambda core, now: start(self._queries(core), now),
                                timeout, what))

    def _topics(self, timeout: float | None = None) -> Op[list[str]]:
        return self._ask(q.topics(), timeout, "topics()")

    def _partitions(self, topic: str, timeout: float | None = None) -> Op[list[int]]:
        check_topic(topic)
        return self._ask(q.partitions(topic), timeout, f"partitions({topic!r})")

    def _writable_partitions(self, topic: str, timeout: float | None = None) -> Op[list[int]]:
        check_topic(topic)
        return self._ask(q.writable_partitions(topic), timeout,
                         f"writable_partitions({topic!r})")

    def _partition_query(self, reader: Callable[[str, int], q.Reader[T]], topic: str,
                         partition: int, timeout: float | None) -> Op[T]:
        check_topic(topic)
        check_partition(partition)
        return self._ask(reader(topic, partition), timeout,
                         f"{reader.__name__}({topic!r}, {partition})")

    def _leader(self, topic: str, partition: int,
                timeout: float | None = None) -> Op[BrokerInfo]:
        return self._partition_query(q.leader, topic, partition, timeout)

    def _replicas(self, topic: str, partition: int,
                  timeout: float | None = None) -> Op[list[int]]:
        return self._partition_query(q.replicas, topic, partition, timeout)

    def _in_sync_replicas(self, topic: str, partition: int,
                          timeout: float | None = None) -> Op[list[int]]:
        return self._partition_query(q.in_sync_replicas, topic, partition, timeout)

    def _offline_replicas(self, topic: str, partition: int,
                          timeout: float | None = None) -> Op[list[int]]:
        return self._partition_query(q.offline_replicas, topic, partition, timeout)

    def _get_offset(self, topic: str, partition: int, time: int,
                    timeout: float | None = None) -> Op[int]:
        from kproto.consumer.lookup import check_time, get_offset  # the consumer loads on use
        check_topic(topic)
        check_partition(partition)
        check_time(time)
        return self._start(lambda qs, now: get_offset(qs, topic, partition, time, now),
                           timeout, f"get_offset({topic!r}, {partition}, {time})")

    def _coordinator(self, key_type: int, key: str, name: str,
                     timeout: float | None = None) -> Op[BrokerInfo]:
        check_topic(key, name)
        return self._ask(q.coordinator(key_type, key), timeout, f"coordinator({key!r})")

    def _controller(self, timeout: float | None = None) -> Op[BrokerInfo]:
        return self._ask(q.controller(), timeout, "controller()")

    def _brokers(self, timeout: float | None = None) -> Op[list[BrokerInfo]]:
        return self._ask(q.brokers(), timeout, "brokers()")

    def _refresh_metadata(self, topics: tuple[str, ...],
                          timeout: float | None = None) -> Op[None]:
        names = check_topics(topics) or None
        return self._start(lambda qs, now: qs.refresh(names, now), timeout,
                           "refresh_metadata()")

    def _refresh_coordinator(self, group: str, timeout: float | None = None) -> Op[None]:
        check_topic(group, "group")
        return self._start(lambda qs, now: qs.refresh_coordinator(q.GROUP_KEY, group, now),
                           timeout, f"refresh_coordinator({group!r})")


class AsyncClient(ClientBase):
    """The Client's awaited queries, shared by the asyncio and trio adapters."""

    async def api_versions(self, node_id: int | None = None) -> BrokerApiVersions:
        loop: AsyncLoop = self._loop
        return await loop.drive(self._api_versions(node_id))

    async def metadata(self, topics: list[str] | None = None) -> Metadata:
        loop: AsyncLoop = self._loop
        return await loop.drive(self._metadata(topics))

    async def request(self, api_key: int, build: Callable[[int], Any],
                      node_id: int | None = None) -> tuple[int, Any]:
        """A raw request: ``build(version)`` returns the message; gives (version, response)."""
        loop: AsyncLoop = self._loop
        return await loop.drive(self._request(api_key, build, node_id))

    async def close(self) -> None:
        """Close every connection; calls made after it raise ObjectClosedError."""
        self._close_called = True
        loop = self.__dict__.get("_loop_obj")
        if loop is not None:
            await loop.close()

    async def _run(self, op: Op[T]) -> T:
        loop: AsyncLoop = self._loop
        return await loop.drive(op)

    async def topics(self) -> list[str]:
        """Every topic in the cluster, sorted (from the cache while it is fresh)."""
        return await self._run(self._topics())

    async def partitions(self, topic: str) -> list[int]:
        """The partition ids of ``topic``, sorted."""
        return await self._run(self._partitions(topic))

    async def writable_partitions(self, topic: str) -> list[int]:
        """The partitions of ``topic`` that have a leader now."""
        return await self._run(self._writable_partitions(topic))

    async def leader(self, topic: str, partition: int) -> BrokerInfo:
        """The broker leading ``topic[partition]``."""
        return await self._run(self._leader(topic, partition))

    async def replicas(self, topic: str, partition: int) -> list[int]:
        """The broker ids holding a replica of ``topic[partition]``."""
        return await self._run(self._replicas(topic, partition))

    async def in_sync_replicas(self, topic: str, partition: int) -> list[int]:
        """The broker ids of ``topic[partition]``'s in-sync replicas."""
        return await self._run(self._in_sync_replicas(topic, partition))

    async def offline_replicas(self, topic: str, partition: int) -> list[int]:
        """The broker ids of ``topic[partition]``'s offline replicas."""
        return await self._run(self._offline_replicas(topic, partition))

    async def get_offset(self, topic: str, partition: int, time: int) -> int:
        """The offset of the first record at or after ``time`` (ms), or OFFSET_NEWEST /
        OFFSET_OLDEST's offset; -1 when there is none."""
        return await self._run(self._get_offset(topic, partition, time))

    async def coordinator(self, group: str) -> BrokerInfo:
        """The broker coordinating consumer group ``group``."""
        return await self._run(self._coordinator(q.GROUP_KEY, group, "group"))

    async def transaction_coordinator(self, transactional_id: str) -> BrokerInfo:
        """The broker coordinating the transactions of ``transactional_id``."""
        return await self._run(self._coordinator(q.TXN_KEY, transactional_id,
                                                 "transactional_id"))

    async def controller(self) -> BrokerInfo:
        """The cluster's active controller, as Metadata names it."""
        return await self._run(self._controller())

    async def brokers(self) -> list[BrokerInfo]:
        """Every broker in the cluster, by node id."""
        return await self._run(self._brokers())

    async def refresh_metadata(self, *topics: str) -> None:
        """Fetch metadata now, for ``topics`` or (none given) every topic."""
        await self._run(self._refresh_metadata(topics))

    async def refresh_coordinator(self, group: str) -> None:
        """Look up ``group``'s coordinator again (FindCoordinator)."""
        await self._run(self._refresh_coordinator(group))
