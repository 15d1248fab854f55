"""Properties every assignor must keep, for any group Hypothesis can think of."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kproto.errors import ConfigurationError
from kproto.group.assignors import (
    Assignment,
    Assignor,
    CooperativeStickyAssignor,
    RangeAssignor,
    RoundRobinAssignor,
    StickyAssignor,
    Subscription,
    TopicPartition,
    assignor_for,
    encode_sticky_user_data,
    normalize_assignment,
    sticky_plan,
)

TOPICS = ["a", "b", "c"]
EXAMPLES = settings(max_examples=150, deadline=None)


@st.composite
def groups(draw: Any, identical: bool = False) -> tuple[dict[str, int], dict[str, Subscription]]:
    partitions = draw(st.dictionaries(st.sampled_from(TOPICS), st.integers(1, 9),
                                      min_size=1, max_size=3))
    names = sorted(partitions)
    count = draw(st.integers(1, 6))
    shared = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    members = {}
    for i in range(count):
        topics = shared if identical else draw(
            st.lists(st.sampled_from(names), min_size=1, unique=True))
        instance = draw(st.sampled_from([None, None, f"static-{i}"]))
        members[f"member-{draw(st.integers(0, 999)):03d}-{i}"] = Subscription(
            tuple(topics), group_instance_id=instance)
    return partitions, members


def all_partitions(partitions: dict[str, int],
                   members: dict[str, Subscription]) -> set[TopicPartition]:
    wanted = {t for s in members.values() for t in s.topics}
    return {TopicPartition(t, p) for t, n in partitions.items() if t in wanted for p in range(n)}


def check_complete(partitions: dict[str, int], members: dict[str, Subscription],
                   result: dict[str, Assignment]) -> Counter[TopicPartition]:
    counts = Counter(tp for a in result.values() for tp in a.partitions)
    assert set(counts) == all_partitions(partitions, members)
    assert all(n == 1 for n in counts.values()), "a partition was assigned twice"
    for m, a in result.items():
        assert all(tp.topic in members[m].topics for tp in a.partitions)
    return counts


def check_balanced(members: dict[str, Subscription], result: dict[str, Assignment]) -> None:
    """No partition could move to another member subscribed to it that has 2+ fewer."""
    sizes = {m: len(a.partitions) for m, a in result.items()}
    for m, a in result.items():
        for tp in a.partitions:
            for other, sub in members.items():
                if tp.topic in sub.topics:
                    assert sizes[other] >= sizes[m] - 1, (tp, m, other, sizes)


@EXAMPLES
@given(groups())
def test_every_assignor_assigns_every_partition_exactly_once(group: Any) -> None:
    partitions, members = group
    for assignor in (RangeAssignor(), RoundRobinAssignor(), StickyAssignor(),
                     CooperativeStickyAssignor()):
        check_complete(partitions, members, assignor.assign(partitions, members))


@EXAMPLES
@given(groups(identical=True))
def test_identical_subscriptions_are_balanced(group: Any) -> None:
    partitions, members = group
    for assignor in (RoundRobinAssignor(), StickyAssignor(), CooperativeStickyAssignor()):
        result = assignor.assign(partitions, members)
        sizes = [len(a.partitions) for a in result.values()]
        assert max(sizes) - min(sizes) <= 1


@EXAMPLES
@given(groups())
def test_sticky_is_balanced_for_any_subscriptions(group: Any) -> None:
    partitions, members = group
    check_balanced(members, StickyAssignor().assign(partitions, members))


def previous(draw: Any, partitions: dict[str, int], members: dict[str, Subscription],
             ) -> dict[str, list[TopicPartition]]:
    """A previous assignment: each partition owned by at most one subscribed member, or by a
    member no longer subscribed to it (its subscription changed), or by nobody."""
    names = sorted(members)
    owned: dict[str, list[TopicPartition]] = {m: [] for m in names}
    for tp in sorted(all_partitions(partitions, members)):
        owner = draw(st.sampled_from([*names, None]))
        if owner is not None:
            owned[owner].append(tp)
    return owned


@EXAMPLES
@given(st.data(), groups(identical=True))
def test_sticky_moves_only_what_balance_needs(data: Any, group: Any) -> None:
    partitions, members = group
    owned = previous(data.draw, partitions, members)
    plan = sticky_plan(partitions, members, {m: (p, 1) for m, p in owned.items()})
    before = {m: set(p) for m, p in owned.items()}
    after = {m: set(p) for m, p in plan.items()}
    for m in members:
        gained, lost = after[m] - before[m], before[m] - after[m]
        assert not (gained and lost), f"{m} gave up {lost} while taking {gained}"
        assert len(after[m] & before[m]) == min(len(before[m]), len(after[m]))
    # As many owned partitions stay put as any balanced assignment could keep: the best
    # gives the larger shares to the members that owned the most.
    total, count = sum(len(p) for p in after.values()), len(members)
    shares = [total // count + (1 if i < total % count else 0) for i in range(count)]
    owned_sizes = sorted((len(p) for p in before.values()), reverse=True)
    best = sum(min(o, s) for o, s in zip(owned_sizes, shares, strict=True))
    assert sum(len(after[m] & before[m]) for m in members) == best


@EXAMPLES
@given(st.data(), groups())
def test_sticky_reads_java_user_data_history(data: Any, group: Any) -> None:
    partitions, members = group
    owned = previous(data.draw, partitions, members)
    with_history = {m: Subscription(s.topics, encode_sticky_user_data(owned[m], 4),
                                    group_instance_id=s.group_instance_id)
                    for m, s in members.items()}
    result = StickyAssignor().assign(partitions, with_history)
    plan = sticky_plan(partitions, members, {m: (p, 4) for m, p in owned.items()})
    assert {m: list(a.partitions) for m, a in result.items()} == plan


@EXAMPLES
@given(st.data(), groups())
def test_cooperative_revokes_only_partitions_that_move(data: Any, group: Any) -> None:
    partitions, members = group
    owned = previous(data.draw, partitions, members)
    subs = {m: Subscription(s.topics, owned_partitions=tuple(owned[m]), generation=3,
                            group_instance_id=s.group_instance_id) for m, s in members.items()}
    result = CooperativeStickyAssignor().assign(partitions, subs)
    target = sticky_plan(partitions, subs, {m: (owned[m], 3) for m in subs})
    assigned = Counter(tp for a in result.values() for tp in a.partitions)
    assert all(n == 1 for n in assigned.values())
    moved = {tp for m, parts in target.items() for tp in parts
             if any(tp in owned[o] for o in subs if o != m)}
    for m, a in result.items():
        revoked = set(owned[m]) - set(a.partitions)
        # Revoked: what moves to someone else, or what m may no longer have at all.
        valid = {tp for tp in revoked if tp.topic in subs[m].topics}
        assert valid <= moved
        assert set(a.partitions) == set(target[m]) - moved
    assert not (set(assigned) & moved), "a moving partition went straight to its new owner"
    # The follow-up rebalance, with the revoked partitions released, completes the plan.
    for _ in range(len(subs) + 1):
        subs = {m: Subscription(s.topics, owned_partitions=result[m].partitions, generation=4,
                                group_instance_id=s.group_instance_id) for m, s in subs.items()}
        result = CooperativeStickyAssignor().assign(partitions, subs)
        revoked_any = any(set(subs[m].owned_partitions) - set(result[m].partitions)
                          for m in subs)
        if not revoked_any and sum(len(a.partitions) for a in result.values()) == \
                len(all_partitions(partitions, members)):
            break
    else:
        pytest.fail("cooperative rebalancing did not settle")
    check_complete(partitions, members, result)
    check_balanced(members, result)


def test_cooperative_keeps_newest_generation_claim() -> None:
    # A zombie from generation 2 still claims p0, which the generation-5 owner keeps.
    subs = {"a": Subscription(("t",), owned_partitions=(TopicPartition("t", 0),), generation=5),
            "b": Subscription(("t",), owned_partitions=(TopicPartition("t", 0),
                                                          TopicPartition("t", 1)), generation=2)}
    result = CooperativeStickyAssignor().assign({"t": 2}, subs)
    assert result["a"].partitions == (TopicPartition("t", 0),)
    assert result["b"].partitions == (TopicPartition("t", 1),)


def test_three_members_twelve_partitions_new_member_takes_four_moving_ones() -> None:
    t = [TopicPartition("t", p) for p in range(12)]
    subs = {"a": Subscription(("t",), owned_partitions=tuple(t[:6]), generation=1),
            "b": Subscription(("t",), owned_partitions=tuple(t[6:]), generation=1),
            "c": Subscription(("t",))}
    first = CooperativeStickyAssignor().assign({"t": 12}, subs)
    assert len(first["a"].partitions) == len(first["b"].partitions) == 4
    assert first["c"].partitions == ()
    subs = {m: Subscription(("t",), owned_partitions=first[m].partitions, generation=2)
            for m in subs}
    second = CooperativeStickyAssignor().assign({"t": 12}, subs)
    assert second["a"] == first["a"] and second["b"] == first["b"]
    assert len(second["c"].partitions) == 4


class Reverse(Assignor):
    name = "reverse"

    def assign(self, partitions: Any, members: Any) -> Any:
        last = sorted(members)[-1]
        return {last: [(t, p) for t, n in partitions.items() for p in range(n)]}


def test_custom_assignor_lists_are_normalized_and_checked() -> None:
    members = {"x": Subscription(("t",)), "y": Subscription(("t",))}
    out = normalize_assignment(Reverse().assign({"t": 2}, members), members, {"t": 2}, "reverse")
    assert out == {"x": Assignment(), "y": Assignment((TopicPartition("t", 0),
                                                       TopicPartition("t", 1)))}
    with pytest.raises(ConfigurationError, match="unknown member 'z'"):
        normalize_assignment({"z": []}, members, {"t": 2}, "reverse")
    with pytest.raises(ConfigurationError, match=r"t\[0\] to both"):
        normalize_assignment({"x": [("t", 0)], "y": [("t", 0)]}, members, {"t": 2}, "reverse")
    with pytest.raises(ConfigurationError, match=r"t\[5\], which is not in the metadata"):
        normalize_assignment({"x": [("t", 5)]}, members, {"t": 2}, "reverse")


def test_assignor_names() -> None:
    assert isinstance(assignor_for("cooperative-sticky"), CooperativeStickyAssignor)
    assert assignor_for(Reverse).name == "reverse"
    with pytest.raises(ConfigurationError, match="unknown assignor 'nope'"):
        assignor_for("nope")
