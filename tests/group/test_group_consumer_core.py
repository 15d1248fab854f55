"""What the GroupConsumer asks of the group core, against a scripted coordinator: a join
restarted while its claims are starting does not run the session on the old assignment;
seek, session_lost and commits of some partitions."""

from __future__ import annotations

from typing import Any

from kproto.errors import ClosedError
from kproto.group.assignors import TopicPartition
from kproto.group.events import ClaimsStopping, SessionInfo
from tests.group.scripted import COMMIT, JOIN, FakeFetcher, Harness


class StartingFetcher(FakeFetcher):
    """Like the real fetcher: unassigning a partition that has not started reports its
    start as failed."""

    def unassign(self, stream: int, now: float) -> None:
        started = stream not in self.on_start or self.on_start[stream] is None
        super().unassign(stream, now)
        callback = self.on_start.pop(stream, None)
        if not started and callback is not None:
            callback(stream, -1, ClosedError("unassigned"))

    def start(self, stream: int, offset: int, error: BaseException | None = None) -> None:
        callback = self.on_start.pop(stream)
        callback(stream, offset, error)


def test_a_join_restarted_while_claims_start_runs_on_the_new_assignment() -> None:
    fetcher = StartingFetcher(auto_start=False)
    h = Harness({"t": 2}, fetcher=fetcher)
    token = h.run(lambda g, now: g.consume(("t",), now))
    h.step()
    first = sorted(fetcher.assigned)
    assert len(first) == 2 and not h.settled(token)
    fetcher.start(first[0], 5)
    # The group rebalances before the second partition started: the join restarts.
    h.run(lambda g, now: g.rebalance_started("the group is rebalancing", now))
    assert not h.settled(token), "the session ran on the assignment of the abandoned join"
    h.step()
    assert len(h.broker.requests(JOIN)) >= 3
    second = sorted(fetcher.assigned)
    assert second and not set(second) & set(first)
    for stream in second:
        fetcher.start(stream, 7)
    h.step()
    info: SessionInfo = h.result(token)
    assert info.generation_id == 2
    assert {c.stream for c in info.claims} == set(second)


def test_seek_session_lost_and_a_commit_of_some_partitions() -> None:
    h = Harness({"t": 2}, enable_auto_commit=False)
    info = h.start()
    by_tp = {(c.topic, c.partition): c.stream for c in info.claims}
    seeks: list[Any] = []
    h.fetcher.seek = lambda stream, offset, now: seeks.append((stream, offset))  # type: ignore[attr-defined]
    assert h.run(lambda g, now: g.seek(info.session, "t", 1, 3, now)) is True
    assert seeks == [(by_tp[("t", 1)], 3)]
    assert h.run(lambda g, now: g.seek(info.session, "t", 9, 3, now)) is False
    assert h.run(lambda g, now: g.seek(info.session + 1, "t", 1, 3, now)) is False
    h.run(lambda g, now: g.mark_offset(info.session, "t", 0, 10))
    h.run(lambda g, now: g.mark_offset(info.session, "t", 1, 20))
    token = h.run(lambda g, now: g.commit(now, [TopicPartition("t", 1)]))
    h.step()
    assert h.result(token) is None
    [req] = [r for r, _v in h.broker.requests(COMMIT)]
    assert [(t.name, [(p.partition_index, p.committed_offset) for p in t.partitions])
            for t in req.topics] == [("t", [(1, 20)])]
    assert h.group.session_lost(info.session) is False
    h.run(lambda g, now: g.membership_lost(KeyError("gone"), now))  # type: ignore[arg-type]
    assert h.of(ClaimsStopping)
    assert h.group.session_lost(info.session) is True
    assert h.group.session_lost(info.session + 1) is False
