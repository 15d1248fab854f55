# Theory of operation: offsets looked up by time, for the Client's get_offset and the
# Consumer's offsets_for_times / beginning_offsets / end_offsets (and the partition consumers'
# and claims' seeks by time). ``list_offsets`` takes {(topic, partition): time}, where time is
# a timestamp in ms, OFFSET_OLDEST (-2) or OFFSET_NEWEST (-1), and owns no state beyond one
# lookup: each partition's leader comes from the Client's query cache
# (kproto.engine.queries), then one ListOffsets goes to each leader, covering all of that
# leader's partitions. A reply saying a leader moved (or a lost connection) forgets the
# topic's cached entry and asks again, for the partitions concerned only, after retry_backoff,
# all within one request_timeout; a topic or partition that metadata says does not exist
# fails the lookup at once. Output: the token completes with {(topic, partition): (offset,
# timestamp)} (offset -1 when no record is that new; timestamp -1 when the broker does not
# say, as for the oldest and newest offsets).
"""ListOffsets to the partition leaders, batched per leader, retried across leader moves."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
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

from .offsets import LIST_OFFSETS, list_offsets_found, list_offsets_request

__all__ = ["ISOLATION", "check_targets", "check_time", "get_offset", "list_offsets"]

ISOLATION = {"read_uncommitted": 0, "read_committed": 1}

TopicPartition = tuple[str, int]
Found = dict[TopicPartition, tuple[int, int]]


def check_time(time: object, name: str = "time") -> int:
    if not isinstance(time, int) or isinstance(time, bool):
        raise TypeError(f"{name} must be an int (a timestamp in ms, OFFSET_NEWEST or "
                        f"OFFSET_OLDEST), not {type(time).__name__} ({time!r})")
    if time < OFFSET_OLDEST:
        raise ValueError(f"{name} must be a timestamp in ms >= 0, OFFSET_NEWEST "
                         f"({OFFSET_NEWEST}) or OFFSET_OLDEST ({OFFSET_OLDEST}), not {time}")
    return time


def get_offset(queries: ClientQueries, topic: str, partition: int, time: int,
               now: float) -> int:
    """Start the lookup of one partition; returns the token its offset (or error) completes."""
    check_topic(topic)
    check_partition(partition)
    check_time(time)
    core = queries.core
    token = core.new_token()

    def done(found: Found | None, error: BaseException | None) -> None:
        if found is None:
            core.fail(token, error or KprotoError("ListOffsets gave no answer"))
        else:
            core.complete(token, found[(topic, partition)][0])

    _lookup(queries, {(topic, partition): time}, now, done)
    return token


def list_offsets(queries: ClientQueries, targets: Mapping[TopicPartition, int],
                 now: float) -> int:
    """Start the lookup of every ``(topic, partition): time`` in ``targets`` (checked
    first); returns the token its ``{(topic, partition): (offset, timestamp)}`` completes."""
    core = queries.core
    token = core.new_token()

    def done(found: Found | None, error: BaseException | None) -> None:
        if found is None:
            core.fail(token, error or KprotoError("ListOffsets gave no answer"))
        else:
            core.complete(token, found)

    _lookup(queries, check_targets(targets), now, done)
    return token


def check_targets(targets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
    """``targets`` checked: (topic, partition) keys, times as ``check_time`` allows."""
    if not isinstance(targets, Mapping):
        raise TypeError(f"expected a mapping of (topic, partition) to a time; got "
                        f"{type(targets).__name__}")
    wanted: dict[TopicPartition, int] = {}
    for tp, time in targets.items():
        if not (isinstance(tp, tuple) and len(tp) == 2):
            raise TypeError(f"expected (topic, partition) pairs; got {tp!r}")
        check_topic(tp[0])
        check_partition(tp[1])
        wanted[(tp[0], tp[1])] = check_time(time)
    return wanted


def _lookup(queries: ClientQueries, wanted: dict[TopicPartition, int], now: float,
            on_done: Any) -> None:
    """``on_done(found, None)`` or ``on_done(None, error)`` once every partition is known."""
    core = queries.core
    config = core.config
    deadline = now + config.request_timeout
    found: Found = {}
    state: dict[str, Any] = {"failed": False, "waiting": 0}
    if not wanted:
        on_done(found, None)
        return

    def fail(error: BaseException) -> None:
        if not state["failed"]:
            state["failed"] = True
            on_done(None, error)

    def settle_one() -> None:
        state["waiting"] -= 1
        if state["waiting"] == 0 and not state["failed"] and len(found) == len(wanted):
            on_done(found, None)

    def attempt(parts: list[TopicPartition], t: float) -> None:
        """Resolve the leaders of ``parts``, then one ListOffsets per leader."""
        if state["failed"]:
            return
        by_node: dict[int, tuple[BrokerInfo, list[TopicPartition]]] = {}
        pending = {"n": len(parts)}
        state["waiting"] += 1

        def with_leader(tp: TopicPartition, broker: BrokerInfo | None,
                        err: BaseException | None) -> None:
            pending["n"] -= 1
            if err is not None:
                if isinstance(err, LeaderNotAvailableError):  # an election under way
                    retry([tp], core.now, err)
                else:
                    fail(err)
            else:
                assert broker is not None
                by_node.setdefault(broker.node_id, (broker, []))[1].append(tp)
            if pending["n"] == 0:
                for broker, tps in by_node.values():
                    send(broker, tps, core.now)
                settle_one()

        for tp in parts:
            queries.resolve(leader(*tp), t, partial(with_leader, tp), deadline)

    def retry(parts: list[TopicPartition], t: float, error: BaseException) -> None:
        for topic in {tp[0] for tp in parts}:
            queries.forget_topic(topic)
        if t + config.retry_backoff < deadline and not core.closed:
            state["waiting"] += 1

            def again(t2: float) -> None:
                attempt(parts, t2)
                settle_one()
            core.timers.call_at(t + config.retry_backoff, again)
        else:
            fail(error)

    def send(broker: BrokerInfo, parts: list[TopicPartition], t: float) -> None:
        if state["failed"]:
            return
        chosen: list[int] = []
        state["waiting"] += 1

        def build(version: int) -> Any:
            chosen.append(version)
            return list_offsets_request(
                [(topic, partition, -1, wanted[(topic, partition)])
                 for topic, partition in parts],
                isolation_level=ISOLATION.get(config.isolation_level, 0),
                timeout_ms=int(config.request_timeout * 1000))

        def answer(resp: Any, error: BaseException | None) -> None:
            t2 = core.now
            try:
                if error is not None:
                    if isinstance(error, (BrokerConnectionError, ClientTimeoutError)):
                        queries.forget_node(broker.node_id)
                        retry(parts, t2, error)
                    else:
                        fail(error)
                    return
                again: list[TopicPartition] = []
                last: BaseException | None = None
                answered: set[TopicPartition] = set()
                for name, index, code, offset, timestamp, _epoch in list_offsets_found(
                        resp, chosen[-1]):
                    tp = (name, index)
                    if tp not in wanted or tp not in parts:
                        continue
                    answered.add(tp)
                    if not code:
                        found[tp] = (offset, timestamp)
                        continue
                    failed = error_for_code(code)(
                        f"ListOffsets for {name}[{index}] at broker {broker.node_id}")
                    if isinstance(failed, KafkaError) and failed.retriable:
                        again.append(tp)
                        last = failed
                    else:
                        fail(failed)
                        return
                missing = [tp for tp in parts if tp not in answered]
                if missing:
                    fail(KprotoError(f"ListOffsets: broker {broker.node_id} did not answer "
                                     f"for {', '.join(f'{t}[{p}]' for t, p in missing)}"))
                    return
                if again:
                    assert last is not None
                    retry(again, t2, last)
            finally:
                settle_one()

        core.send(broker.node_id, LIST_OFFSETS, build, answer, t,
                  timeout=max(0.001, deadline - t))

    attempt(sorted(wanted), now)
