"""The Client's cached queries (kproto.engine.queries) and get_offset, driven by hand against
scripted brokers: a cache hit sends nothing, a miss or a stale entry sends exactly one request."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from kproto import OFFSET_NEWEST, OFFSET_OLDEST, protocol
from kproto.config import Config
from kproto.consumer.lookup import check_time, get_offset
from kproto.engine import queries as q
from kproto.engine.client import ClientCore
from kproto.engine.cluster import BrokerInfo
from kproto.engine.queries import GROUP_KEY, TXN_KEY, ClientQueries, check_partition, check_topic
from kproto.errors import (
    BrokerNotAvailableError,
    CoordinatorNotAvailableError,
    LeaderNotAvailableError,
    NotLeaderOrFollowerError,
    UnknownTopicOrPartitionError,
)
from kproto.events import OpenConnection, OperationCompleted, OperationFailed
from tests.core.wire import all_api_versions, frames

METADATA, FIND_COORDINATOR, LIST_OFFSETS = 3, 10, 2
BROKERS = [(1, "h1", 9091), (2, "h2", 9092), (3, "h3", 9093)]

Handler = Callable[[str, Any], Any]


class Cluster:
    """Scripted brokers: answers every request the core writes with ``answers[api_key]``
    (``(host, request) -> response``), and records them as (host, api key, request)."""

    def __init__(self, core: ClientCore) -> None:
        self.core = core
        self.hosts: dict[int, str] = {}
        self.sent: list[tuple[str, int, Any]] = []
        self.answers: dict[int, Handler] = {}

    def pump(self, now: float) -> None:
        core = self.core
        while True:
            moved = False
            while (action := core.next_action()) is not None:
                if isinstance(action, OpenConnection):
                    self.hosts[action.conn_id] = action.host
                    core.connection_made(action.conn_id, now)
                    moved = True
            for conn_id, data in core.pending_writes():
                for frame in frames(data):
                    header, req, version = protocol.decode_request(frame)
                    key = header.request_api_key
                    if key == 18:
                        resp = all_api_versions()
                    else:
                        host = self.hosts[conn_id]
                        self.sent.append((host, key, req))
                        resp = self.answers[key](host, req)
                    core.receive_data(conn_id, protocol.encode_response(
                        resp, version, header.correlation_id, key), now)
                    moved = True
            if not moved:
                return

    def requests(self, api_key: int) -> list[tuple[str, Any]]:
        return [(host, req) for host, key, req in self.sent if key == api_key]


def metadata(topics: dict[str, list[int]], *, errors: dict[str, int] | None = None,
             controller: int = 1, brokers: list[tuple[int, str, int]] | None = None,
             isr: dict[tuple[str, int], list[int]] | None = None) -> Any:
    from kproto.protocol.messages import metadata_response as m
    replicas = [n for n, _h, _p in (brokers or BROKERS)]
    listed = [m.MetadataResponseTopic(
        error_code=0, name=name,
        partitions=[m.MetadataResponsePartition(
            error_code=0, partition_index=i, leader_id=leader, leader_epoch=0,
            replica_nodes=replicas, isr_nodes=(isr or {}).get((name, i), replicas),
            offline_replicas=[n for n in replicas
                              if n not in (isr or {}).get((name, i), replicas)])
            for i, leader in enumerate(leaders)])
        for name, leaders in topics.items()]
    listed += [m.MetadataResponseTopic(error_code=code, name=name, partitions=[])
               for name, code in (errors or {}).items()]
    return protocol.MetadataResponse(
        brokers=[m.MetadataResponseBroker(node_id=n, host=h, port=p)
                 for n, h, p in (brokers or BROKERS)],
        cluster_id="c", controller_id=controller, topics=listed)


def find_coordinator(node: int, error: int = 0) -> Any:
    from kproto.protocol.messages.find_coordinator_response import Coordinator
    host, port = {n: (h, p) for n, h, p in BROKERS}.get(node, ("", -1))
    entry = Coordinator(key="", node_id=node, host=host, port=port, error_code=error)
    return protocol.FindCoordinatorResponse(coordinators=[entry])  # version 4 and later


def list_offsets(topic: str, partition: int, offset: int, error: int = 0) -> Any:
    from kproto.protocol.messages import list_offsets_response as lo
    return protocol.ListOffsetsResponse(topics=[lo.ListOffsetsTopicResponse(
        name=topic, partitions=[lo.ListOffsetsPartitionResponse(
            partition_index=partition, error_code=error, timestamp=-1, offset=offset,
            leader_epoch=0)])])


def setup(**options: Any) -> tuple[ClientCore, ClientQueries, Cluster]:
    config = Config(**{"metadata_max_age": 60.0, "request_timeout": 5.0, **options})
    core = ClientCore("boot:9090", config, rng=random.Random(1), now=0.0)
    cluster = Cluster(core)
    cluster.answers[METADATA] = lambda host, req: metadata({"t": [1, 2]})
    return core, ClientQueries(core), cluster


def outcome(core: ClientCore, token: int) -> Any:
    """The value ``token`` completed with, or its error; fails the test when it is pending."""
    events = []
    while (event := core.next_event()) is not None:
        events.append(event)
    for event in events:
        if isinstance(event, OperationCompleted) and event.token == token:
            return event.value
        if isinstance(event, OperationFailed) and event.token == token:
            return event.error
    raise AssertionError(f"token {token} is still pending ({events})")


def ask(core: ClientCore, qs: ClientQueries, cluster: Cluster, read: q.Reader[Any],
        now: float) -> Any:
    token = qs.ask(read, now)
    cluster.pump(now)
    return outcome(core, token)


def quiet(core: ClientCore) -> bool:
    """Nothing for the transport to do: no socket to open, no byte to write."""
    return core.next_action() is None and core.pending_writes() == []


def test_a_miss_sends_one_metadata_request_and_then_every_answer_comes_from_the_cache() -> None:
    core, qs, cluster = setup()
    assert qs.cached(q.partitions("t"), 0.0) == (False, None)
    assert quiet(core)  # looking in the cache sends nothing
    assert ask(core, qs, cluster, q.partitions("t"), 0.0) == [0, 1]
    [(_host, req)] = cluster.requests(METADATA)
    assert [t.name for t in req.topics] == ["t"] and req.allow_auto_topic_creation is False
    assert qs.fetches == 1
    h2 = BrokerInfo(2, "h2", 9092)
    hits: list[tuple[q.Reader[Any], Any]] = [
        (q.partitions("t"), [0, 1]),
        (q.writable_partitions("t"), [0, 1]),
        (q.leader("t", 1), h2),
        (q.replicas("t", 0), [1, 2, 3]),
        (q.in_sync_replicas("t", 0), [1, 2, 3]),
        (q.offline_replicas("t", 0), []),
        (q.brokers(), [BrokerInfo(*b) for b in BROKERS]),
        (q.controller(), BrokerInfo(1, "h1", 9091)),
    ]
    for read, expected in hits:
        assert qs.cached(read, 30.0) == (True, expected)
        assert ask(core, qs, cluster, read, 30.0) == expected
        assert quiet(core)
    assert len(cluster.requests(METADATA)) == 1 and qs.fetches == 1


def test_a_stale_entry_costs_exactly_one_metadata_request() -> None:
    core, qs, cluster = setup(metadata_max_age=60.0)
    ask(core, qs, cluster, q.partitions("t"), 0.0)
    assert qs.cached(q.leader("t", 0), 59.9)[0]
    assert qs.cached(q.leader("t", 0), 60.0) == (False, None)
    assert qs.cached(q.partitions("t"), 60.0) == (False, None)
    assert qs.cached(q.brokers(), 60.0) == (False, None)
    cluster.answers[METADATA] = lambda host, req: metadata({"t": [3, 3, 3]})
    assert ask(core, qs, cluster, q.leader("t", 2), 60.0) == BrokerInfo(3, "h3", 9093)
    assert len(cluster.requests(METADATA)) == 2
    assert ask(core, qs, cluster, q.partitions("t"), 61.0) == [0, 1, 2]
    assert len(cluster.requests(METADATA)) == 2


def test_any_metadata_update_refreshes_the_topics_it_carried() -> None:
    core, qs, cluster = setup()
    ask(core, qs, cluster, q.partitions("t"), 0.0)
    token = core.metadata(["t"], 50.0)  # someone else's request, at 50s
    cluster.pump(50.0)
    outcome(core, token)
    assert qs.cached(q.partitions("t"), 100.0) == (True, [0, 1])  # fresh as of 50s


def test_a_topic_still_unknown_after_a_fetch_raises_and_is_asked_again_next_time() -> None:
    core, qs, cluster = setup()
    cluster.answers[METADATA] = lambda host, req: metadata({}, errors={"nope": 3})
    error = ask(core, qs, cluster, q.partitions("nope"), 0.0)
    assert isinstance(error, UnknownTopicOrPartitionError) and "'nope'" in str(error)
    error = ask(core, qs, cluster, q.leader("nope", 0), 1.0)
    assert isinstance(error, UnknownTopicOrPartitionError)
    assert len(cluster.requests(METADATA)) == 2  # an unknown topic is never cached


def test_an_unknown_partition_fetches_once_then_raises() -> None:
    core, qs, cluster = setup()
    ask(core, qs, cluster, q.partitions("t"), 0.0)
    error = ask(core, qs, cluster, q.replicas("t", 7), 1.0)
    assert isinstance(error, UnknownTopicOrPartitionError) and "partition 7" in str(error)
    assert len(cluster.requests(METADATA)) == 2


def test_a_partition_without_leader_is_a_miss_then_leader_not_available() -> None:
    core, qs, cluster = setup()
    cluster.answers[METADATA] = lambda host, req: metadata({"t": [1, -1]})
    ask(core, qs, cluster, q.partitions("t"), 0.0)
    assert qs.cached(q.leader("t", 0), 1.0) == (True, BrokerInfo(1, "h1", 9091))
    assert qs.cached(q.leader("t", 1), 1.0) == (False, None)
    assert qs.cached(q.writable_partitions("t"), 1.0) == (True, [0])
    error = ask(core, qs, cluster, q.leader("t", 1), 1.0)
    assert isinstance(error, LeaderNotAvailableError)
    assert len(cluster.requests(METADATA)) == 2
    cluster.answers[METADATA] = lambda host, req: metadata({"t": [1, 2]})
    assert ask(core, qs, cluster, q.leader("t", 1), 2.0) == BrokerInfo(2, "h2", 9092)
    assert len(cluster.requests(METADATA)) == 3


def test_topics_lists_what_the_last_full_request_named() -> None:
    core, qs, cluster = setup()
    cluster.answers[METADATA] = lambda host, req: metadata({"b": [1], "a": [2]})
    assert ask(core, qs, cluster, q.topics(), 0.0) == ["a", "b"]
    [(_host, req)] = cluster.requests(METADATA)
    assert req.topics is None  # every topic
    assert ask(core, qs, cluster, q.topics(), 10.0) == ["a", "b"] and quiet(core)
    # A deleted topic disappears with the next full refresh.
    cluster.answers[METADATA] = lambda host, req: metadata({"a": [2]})
    token = qs.refresh(None, 11.0)
    cluster.pump(11.0)
    outcome(core, token)
    assert ask(core, qs, cluster, q.topics(), 11.0) == ["a"]
    assert len(cluster.requests(METADATA)) == 2


def test_refresh_metadata_always_sends_and_names_its_topics() -> None:
    core, qs, cluster = setup()
    ask(core, qs, cluster, q.partitions("t"), 0.0)
    token = qs.refresh(("t", "u"), 1.0)
    cluster.pump(1.0)
    assert outcome(core, token) is None
    token = qs.refresh(None, 2.0)
    cluster.pump(2.0)
    assert outcome(core, token) is None
    names = [None if r.topics is None else [t.name for t in r.topics]
             for _h, r in cluster.requests(METADATA)]
    assert names == [["t"], ["t", "u"], None]


def test_coordinators_are_cached_per_key_until_refreshed_or_their_broker_fails() -> None:
    core, qs, cluster = setup()
    cluster.answers[FIND_COORDINATOR] = lambda host, req: find_coordinator(2)
    ask(core, qs, cluster, q.brokers(), 0.0)
    assert ask(core, qs, cluster, q.coordinator(GROUP_KEY, "g"), 0.0) == BrokerInfo(2, "h2", 9092)
    [(_host, req)] = cluster.requests(FIND_COORDINATOR)
    assert req.key_type == GROUP_KEY and req.coordinator_keys == ["g"]
    assert ask(core, qs, cluster, q.coordinator(GROUP_KEY, "g"), 1.0) == BrokerInfo(2, "h2", 9092)
    assert quiet(core) and len(cluster.requests(FIND_COORDINATOR)) == 1
    # Another key, and a transactional id of the same name, are looked up separately.
    cluster.answers[FIND_COORDINATOR] = lambda host, req: find_coordinator(3)
    assert ask(core, qs, cluster, q.coordinator(TXN_KEY, "g"), 1.0) == BrokerInfo(3, "h3", 9093)
    assert len(cluster.requests(FIND_COORDINATOR)) == 2
    # refresh_coordinator asks again even though the entry is cached.
    token = qs.refresh_coordinator(GROUP_KEY, "g", 2.0)
    cluster.pump(2.0)
    assert outcome(core, token) is None
    assert len(cluster.requests(FIND_COORDINATOR)) == 3
    assert qs.cached(q.coordinator(GROUP_KEY, "g"), 2.0) == (True, BrokerInfo(3, "h3", 9093))
    # A request to broker 3 failed: both its coordinators are looked up anew.
    qs.forget_node(3)
    assert qs.cached(q.coordinator(GROUP_KEY, "g"), 2.0) == (False, None)
    assert qs.cached(q.coordinator(TXN_KEY, "g"), 2.0) == (False, None)
    ask(core, qs, cluster, q.coordinator(GROUP_KEY, "g"), 3.0)
    assert len(cluster.requests(FIND_COORDINATOR)) == 4


def test_a_coordinator_whose_broker_left_the_metadata_is_forgotten() -> None:
    core, qs, cluster = setup()
    cluster.answers[FIND_COORDINATOR] = lambda host, req: find_coordinator(3)
    ask(core, qs, cluster, q.coordinator(GROUP_KEY, "g"), 0.0)
    assert qs.cached(q.coordinator(GROUP_KEY, "g"), 1.0)[0]
    cluster.answers[METADATA] = lambda host, req: metadata({"t": [1]}, brokers=BROKERS[:2])
    token = qs.refresh(None, 1.0)
    cluster.pump(1.0)
    outcome(core, token)
    assert qs.cached(q.coordinator(GROUP_KEY, "g"), 1.0) == (False, None)


def test_coordinator_not_available_is_retried_after_the_backoff() -> None:
    core, qs, cluster = setup(retry_backoff=0.5)
    answers = iter([find_coordinator(-1, CoordinatorNotAvailableError.code), find_coordinator(1)])
    cluster.answers[FIND_COORDINATOR] = lambda host, req: next(answers)
    token = qs.ask(q.coordinator(GROUP_KEY, "g"), 0.0)
    cluster.pump(0.0)
    assert len(cluster.requests(FIND_COORDINATOR)) == 1 and core.next_event() is None
    assert core.next_deadline() == pytest.approx(0.5, abs=0.2)
    core.handle_timer(1.0)
    cluster.pump(1.0)
    assert outcome(core, token) == BrokerInfo(1, "h1", 9091)
    assert len(cluster.requests(FIND_COORDINATOR)) == 2


def test_a_coordinator_error_that_lasts_fails_at_the_deadline() -> None:
    core, qs, cluster = setup(retry_backoff=0.5, request_timeout=2.0)
    cluster.answers[FIND_COORDINATOR] = lambda host, req: find_coordinator(
        -1, CoordinatorNotAvailableError.code)
    token = qs.ask(q.coordinator(GROUP_KEY, "g"), 0.0)
    cluster.pump(0.0)
    now = 0.0
    while (deadline := core.next_deadline()) is not None and deadline < 3.0:
        now = deadline
        core.handle_timer(now)
        cluster.pump(now)
    assert isinstance(outcome(core, token), CoordinatorNotAvailableError)
    assert 2 <= len(cluster.requests(FIND_COORDINATOR)) <= 5


def test_no_controller_in_the_metadata_is_broker_not_available() -> None:
    core, qs, cluster = setup()
    cluster.answers[METADATA] = lambda host, req: metadata({}, controller=-1)
    assert isinstance(ask(core, qs, cluster, q.controller(), 0.0), BrokerNotAvailableError)
    [(_host, req)] = cluster.requests(METADATA)
    assert req.topics == []  # brokers and controller only


def test_get_offset_asks_the_leader_and_follows_a_leader_move() -> None:
    core, qs, cluster = setup(retry_backoff=0.1)
    ask(core, qs, cluster, q.partitions("t"), 0.0)

    def offsets(host: str, req: Any) -> Any:
        if host == "h2":  # partition 1 moved from broker 2 to broker 3
            return list_offsets("t", 1, -1, NotLeaderOrFollowerError.code)
        return list_offsets("t", 1, 42)

    cluster.answers[LIST_OFFSETS] = offsets
    token = get_offset(qs, "t", 1, OFFSET_NEWEST, 1.0)
    cluster.pump(1.0)
    [(host, req)] = cluster.requests(LIST_OFFSETS)
    assert host == "h2"
    [topic] = req.topics
    assert (topic.name, topic.partitions[0].partition_index, topic.partitions[0].timestamp) \
        == ("t", 1, OFFSET_NEWEST)
    assert core.next_event() is None
    cluster.answers[METADATA] = lambda host, req: metadata({"t": [1, 3]})
    core.handle_timer(1.2)
    cluster.pump(1.2)
    assert outcome(core, token) == 42
    assert [h for h, _r in cluster.requests(LIST_OFFSETS)] == ["h2", "h3"]
    assert len(cluster.requests(METADATA)) == 2  # the move was learned from one fetch
    assert qs.cached(q.leader("t", 1), 1.3) == (True, BrokerInfo(3, "h3", 9093))


def test_get_offset_of_an_unknown_topic_fails_at_once() -> None:
    core, qs, cluster = setup()
    cluster.answers[METADATA] = lambda host, req: metadata({}, errors={"nope": 3})
    token = get_offset(qs, "nope", 0, OFFSET_OLDEST, 0.0)
    cluster.pump(0.0)
    assert isinstance(outcome(core, token), UnknownTopicOrPartitionError)
    assert cluster.requests(LIST_OFFSETS) == []


def test_bad_arguments_are_refused_naming_the_argument() -> None:
    with pytest.raises(ValueError, match="topic must be a non-empty str"):
        check_topic("")
    with pytest.raises(TypeError, match="topic must be a str"):
        check_topic(b"t")
    with pytest.raises(TypeError, match="group must be a str"):
        check_topic(None, "group")
    with pytest.raises(ValueError, match="partition must be >= 0"):
        check_partition(-1)
    with pytest.raises(TypeError, match="partition must be an int"):
        check_partition(True)
    with pytest.raises(TypeError, match="partition must be an int"):
        check_partition("0")
    with pytest.raises(ValueError, match="time must be"):
        check_time(-3)
    with pytest.raises(TypeError, match="time must be an int"):
        check_time(1.5)
    core, qs, _cluster = setup()
    with pytest.raises(ValueError, match="partition"):
        get_offset(qs, "t", -1, OFFSET_NEWEST, 0.0)
    assert quiet(core)
