"""The Client's cluster queries, answered from a cache: topics, partitions, leaders, replicas,
brokers, the controller and coordinators.

Theory of operation: :class:`ClientQueries` sits beside one :class:`ClientCore` and owns two
caches. The metadata one is the engine's own :class:`ClusterMetadata` plus *when* each part
of it was last confirmed by a broker: every metadata update (the engine's background refreshes
included) reports through the engine's metadata listener, and a topic whose entry object was
replaced was in that response, so it is fresh as of that update; the broker list and the
controller arrive with every response. The list of all topic names is fresh only as of the
last Metadata request for every topic. An entry younger than ``config.metadata_max_age`` and
holding what was asked answers at once; anything else (an unknown topic or partition, a stale
entry, a partition without leader, a leader missing from the broker list) is a *miss*, which
sends exactly one Metadata request (retried within ``request_timeout`` only when no broker
answered) and answers from the fresh picture, where a topic still unknown raises
UnknownTopicOrPartitionError and a partition still without leader LeaderNotAvailableError.

The coordinator cache maps (key type, key) to a broker id, kept until ``forget_coordinator``
(``refresh_coordinator``), until a request to that broker fails (``forget_node``) or until the
broker leaves the metadata. FindCoordinator is retried on retriable errors within
``request_timeout``.

A query is a *reader*: ``read(queries, now, final)`` returns the answer or raises :class:`_Miss`;
with ``final`` (just after a fetch) it raises the definitive error instead. Inputs: readers and
``now`` through :meth:`cached` (the cache alone, no request: the adapters' fast path),
:meth:`ask` (a token completed through the engine) and :meth:`resolve` (a callback, for
feature cores that need a leader first). Outputs: Metadata and FindCoordinator requests through
the engine, completions by token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from kproto.engine.client import ClientCore
from kproto.engine.cluster import BrokerInfo, PartitionInfo, TopicInfo
from kproto.engine.coordinators import GROUP_KEY, TXN_KEY, find_coordinator
from kproto.errors import (
    BrokerConnectionError,
    BrokerNotAvailableError,
    ClientTimeoutError,
    ClusterUnreachableError,
    KafkaError,
    LeaderNotAvailableError,
    UnknownTopicOrPartitionError,
    error_for_code,
)

__all__ = [
    "GROUP_KEY",
    "TXN_KEY",
    "ClientQueries",
    "Reader",
    "check_group",
    "check_partition",
    "check_topic",
    "check_topics",
]

T = TypeVar("T")

Reader = Callable[["ClientQueries", float, bool], T]
"""``read(queries, now, final)``: the answer from the cache, or :class:`_Miss` (``final``: the
definitive error instead)."""

Then = Callable[[Any, BaseException | None], None]


class _Miss(Exception):
    """The cache cannot answer: fetch metadata for ``topics`` (None: every topic; an empty
    tuple: brokers and controller only), or look up the coordinator ``key``."""

    def __init__(self, topics: tuple[str, ...] | None = (),
                 coordinator: tuple[int, str] | None = None) -> None:
        super().__init__(topics, coordinator)
        self.topics = topics
        self.coordinator = coordinator


def check_topic(topic: object, name: str = "topic") -> str:
    if not isinstance(topic, str):
        raise TypeError(f"{name} must be a str, not {type(topic).__name__} ({topic!r})")
    if not topic:
        raise ValueError(f"{name} must be a non-empty str")
    return topic


def check_partition(partition: object) -> int:
    if not isinstance(partition, int) or isinstance(partition, bool):
        raise TypeError(
            f"partition must be an int, not {type(partition).__name__} ({partition!r})")
    if partition < 0:
        raise ValueError(f"partition must be >= 0, not {partition}")
    return partition


def check_group(key: object, name: str) -> str:
    return check_topic(key, name)


class ClientQueries:
    """The cached answers to a Client's cluster queries, for one engine."""

    def __init__(self, core: ClientCore) -> None:
        self.core = core
        self._seen: dict[str, TopicInfo] = {}
        self._fresh: dict[str, float] = {}
        """Topic -> when a broker last described it."""
        self._all_names: tuple[str, ...] = ()
        self._all_at: float | None = None
        self._brokers_at: float | None = None
        self._coordinators: dict[tuple[int, str], int] = {}
        self.fetches = 0
        """Metadata requests sent for queries (misses and refreshes)."""
        core.add_metadata_listener(self._updated)

    # -- answering -------------------------------------------------------------------------

    def cached(self, read: Reader[T], now: float) -> tuple[bool, T | None]:
        """``(True, answer)`` from the cache alone, or ``(False, None)`` on a miss."""
        try:
            return True, read(self, now, False)
        except _Miss:
            return False, None

    def ask(self, read: Reader[Any], now: float) -> int:
        """A token completed with ``read``'s answer, fetching first on a miss."""
        token = self.core.new_token()

        def then(value: Any, error: BaseException | None) -> None:
            if error is not None:
                self.core.fail(token, error)
            else:
                self.core.complete(token, value)

        self.resolve(read, now, then)
        return token

    def resolve(self, read: Reader[Any], now: float, then: Then,
                deadline: float | None = None) -> None:
        """``then(answer, None)`` or ``then(None, error)``: at once on a hit, else after one
        metadata or coordinator lookup (finished by ``deadline``, else ``request_timeout``)."""
        try:
            value = read(self, now, False)
        except _Miss as miss:
            until = now + self.core.config.request_timeout if deadline is None else deadline
            self._fetch(miss, read, now, until, then)
        except Exception as exc:
            then(None, exc)
        else:
            then(value, None)

    def refresh(self, topics: tuple[str, ...] | None, now: float) -> int:
        """Force a Metadata request (None: every topic); completes with None."""
        return self.ask(_Refresh(topics), now)

    def refresh_coordinator(self, key_type: int, key: str, now: float) -> int:
        """Forget the coordinator of ``key`` and look it up again; completes with None."""
        self.forget_coordinator(key_type, key)
        return self.ask(_Refresh(None, (key_type, key)), now)

    # -- invalidation ----------------------------------------------------------------------

    def forget_topic(self, topic: str) -> None:
        """The next question about ``topic`` fetches (its leader moved, say)."""
        self._fresh.pop(topic, None)

    def forget_coordinator(self, key_type: int, key: str) -> None:
        self._coordinators.pop((key_type, key), None)

    def forget_node(self, node_id: int) -> None:
        """A request to broker ``node_id`` failed: the coordinators there are looked up anew."""
        for key in [k for k, v in self._coordinators.items() if v == node_id]:
            del self._coordinators[key]

    # -- what the cache holds --------------------------------------------------------------

    def max_age(self) -> float:
        return self.core.config.metadata_max_age

    def topic(self, name: str, now: float, final: bool) -> TopicInfo:
        """``name``'s entry, fresh; _Miss, or (``final``) the error the broker gave."""
        info = self.core.cluster.topics.get(name)
        at = self._fresh.get(name)
        if info is not None and (final or (at is not None and now - at < self.max_age())):
            return info
        if not final:
            raise _Miss((name,))
        code = self.core.cluster.topic_errors.get(name, UnknownTopicOrPartitionError.code)
        if code == UnknownTopicOrPartitionError.code:
            raise UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
        raise error_for_code(code)(f"metadata of topic {name!r}")

    def partition(self, topic: str, partition: int, now: float, final: bool) -> PartitionInfo:
        info = self.topic(topic, now, final)
        for p in info.partitions:
            if p.partition == partition:
                return p
        if not final:
            raise _Miss((topic,))
        raise UnknownTopicOrPartitionError(
            f"topic {topic!r} has no partition {partition} (it has {len(info.partitions)})")

    def broker(self, node_id: int, now: float, final: bool, what: str) -> BrokerInfo:
        info = self.core.cluster.brokers.get(node_id)
        if info is not None and (final or self._brokers_fresh(now)):
            return info
        if not final:
            raise _Miss(())
        raise BrokerNotAvailableError(f"{what}: broker {node_id} is not in the metadata")

    def brokers(self, now: float, final: bool) -> list[BrokerInfo]:
        if not final and not self._brokers_fresh(now):
            raise _Miss(())
        return sorted(self.core.cluster.brokers.values(), key=lambda b: b.node_id)

    def controller(self, now: float, final: bool) -> BrokerInfo:
        if not final and not self._brokers_fresh(now):
            raise _Miss(())
        node = self.core.cluster.controller_id
        if node < 0:
            if not final:
                raise _Miss(())
            raise BrokerNotAvailableError("the metadata names no controller")
        return self.broker(node, now, final, "the controller")

    def topic_names(self, now: float, final: bool) -> list[str]:
        if not final and (self._all_at is None or now - self._all_at >= self.max_age()):
            raise _Miss(None)
        return list(self._all_names)

    def coordinator(self, key_type: int, key: str, now: float, final: bool) -> BrokerInfo:
        node = self._coordinators.get((key_type, key))
        if node is None:
            if not final:
                raise _Miss((), (key_type, key))
            raise BrokerNotAvailableError(f"no coordinator was found for {key!r}")
        what = "the coordinator of " + repr(key)
        return self.broker(node, now, final, what)

    def _brokers_fresh(self, now: float) -> bool:
        return self._brokers_at is not None and now - self._brokers_at < self.max_age()

    # -- internals -------------------------------------------------------------------------

    def _updated(self, now: float) -> None:
        """A metadata response was merged: what it replaced is fresh as of ``now``."""
        cluster = self.core.cluster
        self._brokers_at = now
        for name, info in cluster.topics.items():
            if self._seen.get(name) is not info:
                self._seen[name] = info
                self._fresh[name] = now
        for name in [n for n in self._seen if n not in cluster.topics]:
            del self._seen[name]
            self._fresh.pop(name, None)
        for key in [k for k, v in self._coordinators.items() if v not in cluster.brokers]:
            del self._coordinators[key]

    def _fetch(self, miss: _Miss, read: Reader[Any], now: float, deadline: float,
               then: Then) -> None:
        core = self.core
        if miss.coordinator is not None:
            self._find(miss.coordinator, read, now, deadline, then)
            return
        topics = miss.topics

        def attempt(t: float) -> None:
            self.fetches += 1
            core.fetch_metadata(topics, t, answer, timeout=max(0.001, deadline - t))

        def answer(resp: Any, err: BaseException | None) -> None:
            t = core.now
            if err is None:
                if topics is None:
                    self._all_at = t
                    self._all_names = tuple(sorted(
                        x.name for x in resp.topics if x.name is not None and not (
                            x.error_code and not x.partitions)))
                self._finish(read, t, then)
                return
            if _transient(err) and t + core.config.retry_backoff < deadline and not core.closed:
                core.timers.call_at(t + core.config.retry_backoff, attempt)
                return
            then(None, _unreachable(core, err))

        attempt(now)

    def _find(self, key: tuple[int, str], read: Reader[Any], now: float, deadline: float,
              then: Then) -> None:
        core = self.core
        key_type, name = key

        def attempt(t: float) -> None:
            find_coordinator(core, key_type, name, t, found)

        def found(t: float, node: int | None, err: BaseException | None) -> None:
            if node is not None:
                self._coordinators[key] = node
                if node in core.cluster.brokers:
                    self._finish(read, t, then)
                else:  # a broker the metadata does not know yet
                    self._fetch(_Miss(()), read, t, deadline, then)
                return
            assert err is not None
            retriable = _transient(err) or (isinstance(err, KafkaError) and err.retriable)
            if retriable and t + core.config.retry_backoff < deadline and not core.closed:
                core.timers.call_at(t + core.config.retry_backoff, attempt)
                return
            then(None, _unreachable(core, err))

        attempt(now)

    def _finish(self, read: Reader[Any], now: float, then: Then) -> None:
        try:
            value = read(self, now, True)
        except Exception as exc:
            then(None, exc)
        else:
            then(value, None)


class _Refresh:
    """The reader of a forced refresh: fetch what it names, answer None."""

    def __init__(self, topics: tuple[str, ...] | None,
                 coordinator: tuple[int, str] | None = None) -> None:
        self.topics = topics
        self.coordinator = coordinator

    def __call__(self, queries: ClientQueries, now: float, final: bool) -> None:
        if not final:
            raise _Miss(self.topics, self.coordinator)
        return None


def _transient(err: BaseException) -> bool:
    """No broker answered (a lost connection, a timeout): worth asking again."""
    return isinstance(err, (ClientTimeoutError, BrokerConnectionError)) and not isinstance(
        err, ClusterUnreachableError)


def _unreachable(core: ClientCore, err: BaseException) -> BaseException:
    if _transient(err):
        unreachable = core.unreachable_error(f"the query ({err})")
        if unreachable is not None:
            unreachable.__cause__ = err
            return unreachable
    return err


def check_topics(topics: Iterable[object]) -> tuple[str, ...]:
    return tuple(check_topic(t, "each topic") for t in topics)


# -- the readers of the Client's calls ---------------------------------------------------------


def topics() -> Reader[list[str]]:
    return lambda q, now, final: q.topic_names(now, final)


def partitions(topic: str) -> Reader[list[int]]:
    return lambda q, now, final: [p.partition for p in q.topic(topic, now, final).partitions]


def writable_partitions(topic: str) -> Reader[list[int]]:
    def read(q: ClientQueries, now: float, final: bool) -> list[int]:
        writable = q.topic(topic, now, final).writable()
        if not writable and not final:
            raise _Miss((topic,))
        return list(writable)
    return read


def leader(topic: str, partition: int) -> Reader[BrokerInfo]:
    def read(q: ClientQueries, now: float, final: bool) -> BrokerInfo:
        p = q.partition(topic, partition, now, final)
        if p.leader < 0:
            if not final:
                raise _Miss((topic,))
            raise LeaderNotAvailableError(f"{topic}[{partition}] has no leader")
        if p.leader not in q.core.cluster.brokers and not final:
            raise _Miss((topic,))
        return q.broker(p.leader, now, final, f"the leader of {topic}[{partition}]")
    return read


def replicas(topic: str, partition: int) -> Reader[list[int]]:
    return lambda q, now, final: list(q.partition(topic, partition, now, final).replicas)


def in_sync_replicas(topic: str, partition: int) -> Reader[list[int]]:
    return lambda q, now, final: list(q.partition(topic, partition, now, final).isr)


def offline_replicas(topic: str, partition: int) -> Reader[list[int]]:
    return lambda q, now, final: list(
        q.partition(topic, partition, now, final).offline_replicas)


def brokers() -> Reader[list[BrokerInfo]]:
    return lambda q, now, final: q.brokers(now, final)


def controller() -> Reader[BrokerInfo]:
    return lambda q, now, final: q.controller(now, final)


def coordinator(key_type: int, key: str) -> Reader[BrokerInfo]:
    return lambda q, now, final: q.coordinator(key_type, key, now, final)
