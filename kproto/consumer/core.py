# Theory of operation: ConsumerCore is the state machine behind the user-facing Consumer.
# It owns one Fetcher and the map of partitions this consumer consumes. Inputs: user
# operations, each with `now` (topics/partitions queries, consume_partition, pause/resume,
# close), and the Fetcher's on_start callbacks. Outputs: tokens completed through the
# engine (query results; a consume_partition token completes with its stream id once the
# start position is known) and, from the Fetcher, RecordsFetched/FetchError events tagged
# with that stream id, which is also the token consume_partition returned.
# A start waits at most metadata_max_wait (and request_timeout + connect_timeout); one that
# fails while no broker is reachable fails with ClusterUnreachableError, and an
# AuthenticationError reported by the engine fails every start still waiting at once, and
# reaches every running partition consumer's errors.
# Positions: `committed` reads a group's committed offset (config.group_id) through the
# group's own pieces, a CoordinatorLink and an OffsetBook made on first use (the OffsetFetch
# code is the group's, never a second one); `fetch_committed` does it for any OffsetBook,
# a group session's included.
"""The Consumer's core: topic queries and partition consumers over one Fetcher."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kproto import protocol
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.errors import (
    AuthenticationError,
    BrokerConnectionError,
    ClientTimeoutError,
    ClosedError,
    ClusterUnreachableError,
    KprotoError,
    ObjectClosedError,
    UnknownTopicOrPartitionError,
    UsageError,
    error_for_code,
)
from kproto.protocol.apis import METADATA

from .fetcher import Fetcher

if TYPE_CHECKING:
    from kproto.protocol.messages.metadata_request import MetadataRequestTopic

__all__ = ["ConsumerCore", "TopicPartitions", "fetch_committed", "topic_partitions"]

UNKNOWN_TOPIC_OR_PARTITION = UnknownTopicOrPartitionError.code

TopicPartitions = Mapping[str, Iterable[int]] | Iterable[tuple[str, int]]


def topic_partitions(partitions: TopicPartitions) -> list[tuple[str, int]]:
    """``{topic: [partition, ...]}`` or ``[(topic, partition), ...]`` as a list of pairs."""
    if isinstance(partitions, Mapping):
        return [(topic, p) for topic, ps in partitions.items() for p in ps]
    out = []
    for item in partitions:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise KprotoError(f"expected (topic, partition) pairs or a mapping; got {item!r}")
        out.append((item[0], item[1]))
    return out


class ConsumerCore:
    """Queries and partition consumers for one Consumer object."""

    def __init__(self, core: ClientCore, config: Config | None = None) -> None:
        self.core = core
        self.config = config or core.config
        self.fetcher = Fetcher(core, self.config)
        self.closed = False
        self._starting: dict[int, BaseException | None] = {}
        """Streams whose start is pending, with the error to fail it with, if decided."""
        self._book: Any = None
        """The OffsetBook reading config.group_id's committed offsets, made on first use."""
        core.add_failure_listener(self._cluster_failed)

    # -- queries ---------------------------------------------------------------------------

    def topics(self, now: float) -> int:
        """Every topic in the cluster; completes with a sorted list of names."""
        token = self.core.new_token()

        def done(resp: Any) -> None:
            self.core.complete(token, sorted(
                t.name for t in resp.topics if t.name is not None and not t.error_code))

        self._query(token, None, done, now)
        return token

    def _query(self, token: int, topics: list[str] | None, on_response: Any,
               now: float) -> None:
        """A Metadata request for a query, asked again of another broker after a lost
        connection or a timeout until ``metadata_max_wait`` has passed; then it fails with
        ClusterUnreachableError when no broker is reachable, else with the last error."""
        until = now + self.config.metadata_max_wait
        core = self.core

        def attempt(t: float) -> None:
            core.send_any(METADATA, lambda v: _metadata_request(topics, v), done, t,
                          timeout=max(0.001, min(self.config.request_timeout, until - t)))

        def done(resp: Any, err: BaseException | None) -> None:
            if err is None:
                on_response(resp)
                return
            t = core.now
            if isinstance(err, (ClientTimeoutError, BrokerConnectionError)) \
                    and not isinstance(err, ClusterUnreachableError):
                if t < until and not core.closed:
                    core.timers.call_at(t + self.config.retry_backoff, attempt)
                    return
                unreachable = core.unreachable_error(f"Metadata request ({err})")
                if unreachable is not None:
                    unreachable.__cause__ = err
                    err = unreachable
            core.fail(token, err)

        attempt(now)

    def partitions(self, topic: str, now: float) -> int:
        """The partition ids of ``topic``; completes with a sorted list."""
        token = self.core.new_token()

        def done(resp: Any) -> None:
            for t in resp.topics:
                if t.name != topic:
                    continue
                if t.error_code and not t.partitions:
                    if t.error_code == UNKNOWN_TOPIC_OR_PARTITION:
                        error: BaseException = UnknownTopicOrPartitionError(
                            f"topic {topic!r} does not exist")
                    else:
                        error = error_for_code(t.error_code)(f"metadata of topic {topic!r}")
                    self.core.fail(token, error)
                    return
                self.core.complete(token, sorted(p.partition_index for p in t.partitions))
                return
            self.core.fail(token, UnknownTopicOrPartitionError(f"topic {topic!r} does not exist"))

        self._query(token, [topic], done, now)
        return token

    def high_water_marks(self) -> dict[str, dict[int, int]]:
        """``{topic: {partition: high water mark}}`` of every partition consumer."""
        out: dict[str, dict[int, int]] = {}
        fetcher = self.fetcher
        for stream in fetcher.streams():
            topic, partition = fetcher.topic_partition(stream)
            out.setdefault(topic, {})[partition] = fetcher.high_water_mark(stream)
        return out

    # -- partition consumers ---------------------------------------------------------------

    def consume_partition(self, topic: str, partition: int, offset: int, now: float) -> int:
        """Start consuming; the token (also the stream id of its events) completes with the
        stream id once the start position is known, or fails with why it cannot start."""
        token = self.core.new_token()
        if self.closed:
            self.core.fail(token, ObjectClosedError("the consumer was closed"))
            return token
        fetcher = self.fetcher

        def on_start(stream: int, start: int, error: BaseException | None) -> None:
            decided = self._starting.pop(token, None)
            if error is None:
                self.core.complete(token, stream)
                return
            if decided is not None:
                error = decided
            elif not isinstance(error, ClosedError):
                unreachable = self.core.unreachable_error(
                    f"{topic}[{partition}] could not start ({error})")
                if unreachable is not None:
                    unreachable.__cause__ = error
                    error = unreachable
            fetcher.unassign(stream, self.core.now)
            self.core.fail(token, error)

        cfg = self.config
        self._starting[token] = None
        try:
            fetcher.assign(topic, partition, offset, now, on_start=on_start, stream=token,
                           start_timeout=min(cfg.request_timeout + cfg.connect_timeout,
                                             cfg.metadata_max_wait))
        except KprotoError as exc:
            self._starting.pop(token, None)
            self.core.fail(token, exc)
        return token

    def _cluster_failed(self, error: KprotoError, now: float) -> None:
        if not isinstance(error, AuthenticationError):
            return
        for stream in list(self._starting):
            self._starting[stream] = error
            self.fetcher.unassign(stream, now)
        self.fetcher.report_everywhere(error)

    def close_partition(self, stream: int, now: float) -> None:
        self.fetcher.unassign(stream, now)

    def streams_of(self, partitions: TopicPartitions) -> list[int]:
        """Stream ids of the given partitions (ones not consumed are ignored)."""
        out = []
        for topic, partition in topic_partitions(partitions):
            stream = self.fetcher.stream_of(topic, partition)
            if stream is not None:
                out.append(stream)
        return out

    def pause(self, partitions: TopicPartitions, now: float) -> None:
        self.fetcher.pause(self.streams_of(partitions), now)

    def resume(self, partitions: TopicPartitions, now: float) -> None:
        self.fetcher.resume(self.streams_of(partitions), now)

    def pause_all(self, now: float) -> None:
        self.fetcher.pause(self.fetcher.streams(), now)

    def resume_all(self, now: float) -> None:
        self.fetcher.resume(self.fetcher.streams(), now)

    def committed(self, topic: str, partition: int, now: float) -> int:
        """The committed offset of ``topic[partition]`` in ``config.group_id`` (-1 when
        none); the token completes with it. UsageError without a group_id."""
        group_id = self.config.group_id
        if not group_id:
            raise UsageError("committed offsets belong to a consumer group: give the Consumer "
                             "the group_id option (Consumer(..., group_id='my-group'))")
        if self._book is None:
            from kproto.group.coordinator import CoordinatorLink
            from kproto.group.offsets import OffsetBook
            link = CoordinatorLink(self.core, self.config, group_id)
            self._book = OffsetBook(self.core, self.config, link, lambda: (-1, "", None),
                                    lambda *_: None)
        return fetch_committed(self.core, self._book, topic, partition, now)

    def close(self, now: float) -> None:
        if self.closed:
            return
        self.closed = True
        self.core.remove_failure_listener(self._cluster_failed)
        self.fetcher.close(now)
        if self._book is not None:
            self._book.close()
            self._book.link.close()


def fetch_committed(core: ClientCore, book: Any, topic: str, partition: int,
                    now: float) -> int:
    """``book``'s group's committed offset of ``topic[partition]`` (-1 when none), fetched
    (OffsetFetch, through the book); returns the token it completes."""
    from kproto.group.assignors import TopicPartition
    token = core.new_token()
    tp = TopicPartition(topic, partition)

    def fetched(result: Any, err: BaseException | None) -> None:
        if result is None:
            core.fail(token, err or ClosedError("no committed offsets"))
        else:
            core.complete(token, result[tp].offset)

    book.fetch([tp], now, fetched)
    return token


def _metadata_request(topics: list[str] | None, version: int) -> Any:
    from kproto.protocol.messages.metadata_request import MetadataRequestTopic
    if topics is None:
        entries: list[MetadataRequestTopic] | None = None if version >= 1 else []
    else:
        entries = [MetadataRequestTopic(name=t) for t in topics]
    return protocol.MetadataRequest(topics=entries, allow_auto_topic_creation=False)
