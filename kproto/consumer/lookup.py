# Theory of operation: one Client call, get_offset(topic, partition, time): the offset of the
# first record at or after ``time`` (a timestamp in ms), or the oldest / newest offset
# (OFFSET_OLDEST -2 / OFFSET_NEWEST -1). It owns no state beyond one lookup: the leader comes
# from the Client's query cache (kproto.engine.queries), then one ListOffsets goes to it. A
# reply saying the leader moved (or a lost connection) forgets the topic's cached entry, so the
# next attempt fetches metadata, and tries again after retry_backoff, all within one
# request_timeout; a topic or partition that metadata says does not exist fails at once.
# Output: the token completes with the offset (-1 when no record is that new).
"""The Client's get_offset: ListOffsets to the partition leader, retried across leader moves."""

from __future__ import annotations

from typing import Any

from kproto.engine.cluster import BrokerInfo
from kproto.engine.queries import ClientQueries, check_partition, check_topic, leader
from kproto.errors import (
    BrokerConnectionError,
    ClientTimeoutError,
    KafkaError,
    KprotoError,
    LeaderNotAvailableError,
    error_for_code,
)
from kproto.message_types import OFFSET_NEWEST, OFFSET_OLDEST

from .offsets import LIST_OFFSETS, list_offsets_request, list_offsets_results

__all__ = ["check_time", "get_offset"]

ISOLATION = {"read_uncommitted": 0, "read_committed": 1}


def check_time(time: object) -> int:
    if not isinstance(time, int) or isinstance(time, bool):
        raise TypeError(f"time must be an int (a timestamp in ms, OFFSET_NEWEST or "
                        f"OFFSET_OLDEST), not {type(time).__name__} ({time!r})")
    if time < OFFSET_OLDEST:
        raise ValueError(f"time must be a timestamp in ms >= 0, OFFSET_NEWEST ({OFFSET_NEWEST}) "
                         f"or OFFSET_OLDEST ({OFFSET_OLDEST}), not {time}")
    return time


def get_offset(queries: ClientQueries, topic: str, partition: int, time: int,
               now: float) -> int:
    """Start the lookup; returns the token its offset (or error) completes."""
    check_topic(topic)
    check_partition(partition)
    check_time(time)
    core = queries.core
    config = core.config
    token = core.new_token()
    deadline = now + config.request_timeout
    where = f"{topic}[{partition}]"

    def attempt(t: float) -> None:
        queries.resolve(leader(topic, partition), t, with_leader, deadline)

    def retry(t: float, error: BaseException) -> None:
        queries.forget_topic(topic)
        if t + config.retry_backoff < deadline and not core.closed:
            core.timers.call_at(t + config.retry_backoff, attempt)
        else:
            core.fail(token, error)

    def with_leader(broker: BrokerInfo | None, err: BaseException | None) -> None:
        t = core.now
        if err is not None:
            if isinstance(err, LeaderNotAvailableError):  # an election under way
                retry(t, err)
            else:
                core.fail(token, err)
            return
        assert broker is not None
        chosen: list[int] = []

        def build(version: int) -> Any:
            chosen.append(version)
            return list_offsets_request(
                [(topic, partition, -1, time)],
                isolation_level=ISOLATION.get(config.isolation_level, 0),
                timeout_ms=int(config.request_timeout * 1000))

        def answer(resp: Any, error: BaseException | None) -> None:
            t = core.now
            if error is not None:
                if isinstance(error, (BrokerConnectionError, ClientTimeoutError)):
                    queries.forget_node(broker.node_id)
                    retry(t, error)
                else:
                    core.fail(token, error)
                return
            for name, index, code, offset, _epoch in list_offsets_results(resp, chosen[-1]):
                if (name, index) != (topic, partition):
                    continue
                if not code:
                    core.complete(token, offset)
                    return
                failed = error_for_code(code)(f"ListOffsets for {where} at broker "
                                              f"{broker.node_id}")
                if isinstance(failed, KafkaError) and failed.retriable:
                    retry(t, failed)
                else:
                    core.fail(token, failed)
                return
            core.fail(token, KprotoError(f"ListOffsets: broker {broker.node_id} did not "
                                        f"answer for {where}"))

        core.send(broker.node_id, LIST_OFFSETS, build, answer, t,
                  timeout=max(0.001, deadline - t))

    attempt(now)
    return token
