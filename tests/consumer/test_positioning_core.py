"""Positioning in the core, against a scripted cluster: a seek drops the fetch in flight and
tags later deliveries; a position moved only by markers is still reported; ListOffsets by
time goes once to each leader and retries only the partitions that need it."""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.consumer import RecordsFetched
from kproto.consumer.lookup import list_offsets
from kproto.engine.queries import ClientQueries
from kproto.events import OperationCompleted, OperationFailed
from kproto.protocol.messages import list_offsets_response as lo
from tests.consumer.scripted import LIST_OFFSETS, PartitionReply, batch, marker
from tests.consumer.test_fetcher import Rig, vals

NOT_LEADER_OR_FOLLOWER = 6


def fetched(rig: Rig) -> list[RecordsFetched]:
    return [e for e in rig.events() if isinstance(e, RecordsFetched)]


def test_a_seek_drops_the_fetch_in_flight_and_tags_what_comes_after() -> None:
    rig = Rig()
    stream = rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    reqs = rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(3)), high_watermark=9)})
    [first] = fetched(rig)
    assert first.seeks == 0 and rig.fetcher.buffered(stream) == first.size
    in_flight = rig.one_fetch(reqs)
    assert rig.parts(in_flight)[("t", 0)].fetch_offset == 3

    rig.fetcher.seek(stream, 1, rig.now)
    assert rig.fetcher.seeks(stream) == 1
    assert rig.fetcher.buffered(stream) == 0  # the reader drops what it buffered
    # The answer to the fetch made before the seek is ignored.
    reqs = rig.answer(in_flight, {("t", 0): PartitionReply(batch(3, vals(3, 3)),
                                                           high_watermark=9)})
    assert fetched(rig) == []
    req = rig.one_fetch(reqs)
    assert rig.parts(req)[("t", 0)].fetch_offset == 1
    rig.answer(req, {("t", 0): PartitionReply(batch(0, vals(6)), high_watermark=9)})
    [after] = fetched(rig)
    assert after.seeks == 1
    assert [m.offset for m in after.messages] == [1, 2, 3, 4, 5]


def test_a_position_moved_by_markers_alone_is_reported_empty_when_asked() -> None:
    rig = Rig(isolation_level="read_committed")
    stream = rig.consume("t", 0, 0)
    rig.fetcher.report_moves(stream)
    req = rig.one_fetch(rig.step())
    data = batch(0, vals(2), producer_id=7, transactional=True) + marker(2, 7, commit=False)
    rig.answer(req, {("t", 0): PartitionReply(data, high_watermark=3, last_stable_offset=3,
                                              aborted=[(7, 0)])})
    [event] = fetched(rig)
    assert event.messages == () and event.size == 0 and event.stream == stream
    assert rig.fetcher.position(stream) == 3 and rig.fetcher.buffered(stream) == 0


def list_offsets_reply(req: Any, answers: dict[tuple[str, int], tuple[int, int, int]]) -> Any:
    """``{(topic, partition): (error, offset, timestamp)}``."""
    topics: dict[str, list[Any]] = {}
    for (name, partition), (error, offset, timestamp) in answers.items():
        topics.setdefault(name, []).append(lo.ListOffsetsPartitionResponse(
            partition_index=partition, error_code=error, timestamp=timestamp, offset=offset,
            leader_epoch=0))
    return protocol.ListOffsetsResponse(topics=[
        lo.ListOffsetsTopicResponse(name=n, partitions=ps) for n, ps in topics.items()])


def asked(req: Any) -> dict[tuple[str, int], int]:
    return {(t.name, p.partition_index): p.timestamp for t in req.body.topics
            for p in t.partitions}


def test_list_offsets_goes_once_to_each_leader_and_retries_what_moved() -> None:
    rig = Rig(topics={"t": [1, 2, 1], "u": [2]}, brokers={1: "b1", 2: "b2"})
    queries = ClientQueries(rig.core)
    token = list_offsets(queries, {("t", 0): 5000, ("t", 1): -2, ("t", 2): -1,
                                   ("u", 0): 7000}, rig.now)
    reqs = [r for r in rig.step() if r.api_key == LIST_OFFSETS]
    by_node = {r.node: r for r in reqs}
    assert sorted(by_node) == [1, 2]
    assert asked(by_node[1]) == {("t", 0): 5000, ("t", 2): -1}
    assert asked(by_node[2]) == {("t", 1): -2, ("u", 0): 7000}
    by_node[1].reply(list_offsets_reply(by_node[1], {("t", 0): (0, 4, 5100),
                                                     ("t", 2): (0, 30, -1)}), rig.now)
    by_node[2].reply(list_offsets_reply(by_node[2], {("t", 1): (0, 0, -1),
                                                     ("u", 0): (NOT_LEADER_OR_FOLLOWER, -1,
                                                                -1)}), rig.now)
    rig.step()
    assert not [e for e in rig.events() if isinstance(e, (OperationCompleted, OperationFailed))
                and e.token == token]
    reqs = [r for r in rig.advance(1.0) if r.api_key == LIST_OFFSETS]
    [again] = reqs
    assert asked(again) == {("u", 0): 7000}  # only the partition whose leader moved
    again.reply(list_offsets_reply(again, {("u", 0): (0, -1, -1)}), rig.now)
    rig.step()
    [done] = [e for e in rig.events() if isinstance(e, (OperationCompleted, OperationFailed))
              and e.token == token]
    assert isinstance(done, OperationCompleted)
    assert done.value == {("t", 0): (4, 5100), ("t", 1): (0, -1), ("t", 2): (30, -1),
                          ("u", 0): (-1, -1)}


def test_without_asking_markers_alone_emit_nothing() -> None:
    rig = Rig(isolation_level="read_committed")
    stream = rig.consume("t", 0, 0)
    req = rig.one_fetch(rig.step())
    data = batch(0, vals(2), producer_id=7, transactional=True) + marker(2, 7, commit=False)
    rig.answer(req, {("t", 0): PartitionReply(data, high_watermark=3, last_stable_offset=3,
                                              aborted=[(7, 0)])})
    assert fetched(rig) == []
    assert rig.fetcher.position(stream) == 3
