"""The member's group metadata for transactional offset commits (KIP-447), in the group core.

A consume-transform-produce handler passes ``session.group_metadata()`` to the producer; the
value must be the generation the session runs with, and once the session is over never the
next generation nor generation -1 (which the coordinator does not check), so that a late
commit from it is rejected."""

from __future__ import annotations

from kproto.group.events import ClaimsStopping, SessionInfo
from kproto.group.metadata import ConsumerGroupMetadata
from tests.group.scripted import HEARTBEAT, JOIN, Harness
from tests.group.test_cooperative_core import rebalance, with_other


def drain_and_finish(h: Harness, info: SessionInfo) -> None:
    for claim in info.claims:
        h.run(lambda g, now, c=claim: g.claim_finished(info.session, c.stream, now))
    h.result(h.run(lambda g, now: g.finish_session(info.session, now)))


def test_a_session_keeps_its_generation_after_a_rebalance() -> None:
    h = Harness({"t": 2})
    info = h.start()
    first = h.group.group_metadata(info)
    assert first == ConsumerGroupMetadata("g", 1, "m-1", None)
    assert h.group.group_metadata() == first
    h.broker.script[HEARTBEAT].append(lambda r, v: h.broker.heartbeat(r, v, error=27))
    h.advance(1.0)
    assert h.of(ClaimsStopping)
    assert h.group.group_metadata(info, first) == first
    drain_and_finish(h, info)
    again = h.start()
    assert again.generation_id == 2
    # The old session's late commit carries generation 1 (rejected), the new one 2.
    assert h.group.group_metadata(info, first) == first
    assert h.group.group_metadata(again) == ConsumerGroupMetadata("g", 2, "m-1", None)
    assert h.group.group_metadata().generation_id == 2


def test_a_lost_membership_never_turns_into_generation_minus_one() -> None:
    h = Harness({"t": 2})
    info = h.start()
    last = h.group.group_metadata(info)
    h.broker.script[HEARTBEAT].append(lambda r, v: h.broker.heartbeat(r, v, error=25))
    h.advance(1.0)
    assert h.group.generation_id == -1 and h.group.member_id == ""
    assert h.group.group_metadata() == ConsumerGroupMetadata("g")  # the member now: none
    assert h.group.group_metadata(info, last) == ConsumerGroupMetadata("g", 1, "m-1", None)
    assert h.group.group_metadata(info) == ConsumerGroupMetadata("g", 1, "m-1", None)


def test_a_static_member_names_its_group_instance_id() -> None:
    h = Harness({"t": 2}, group_instance_id="inst-1")
    info = h.start()
    meta = h.group.group_metadata(info)
    assert meta.group_instance_id == "inst-1" and meta.generation_id == 1
    assert meta.member_id == info.member_id != ""


def test_a_cooperative_session_follows_the_generation_while_it_runs() -> None:
    h = Harness({"t": 6}, assignors=("cooperative-sticky",))
    info = h.start()
    last = h.group.group_metadata(info)
    assert last.generation_id == 1
    h.broker.script[JOIN].append(with_other(h))
    rebalance(h)
    assert h.group.generation_id >= 2
    now = h.group.group_metadata(info, last)
    assert now.generation_id == h.group.generation_id and now.member_id == "m-1"
