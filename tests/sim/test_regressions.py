"""One test per seed that found something, named after the seed (default scenario and fault
mix unless the name says otherwise). Replay any with ``./dev simulate --seeds 1 --seed S``."""

from __future__ import annotations

from kproto.testing.sim import FaultMix, run_seed
from kproto.testing.sim.actors import SLACK

REQUEST_TIMEOUT = 5.0  # Scenario().options["request_timeout"]


def test_seed_1_a_delayed_join_answer_does_not_stall_the_clock() -> None:
    """The fake cluster reports a JoinGroup answer held by a delay fault with the delay's
    end as its deadline for as long as the join waits, a deadline in the past: the
    scheduler once spun at t=5.4464 for ever. It now wakes the cluster once per instant."""
    out = run_seed(1)
    assert not [v for v in out.violations if v.invariant == "progress"], out.report()
    assert out.simulated >= 150.0


def test_seed_9_nothing_raises_into_the_adapter() -> None:
    """At t=24.3 an OffsetFetch answer reached ``GroupCore._start_claims.fetched``, whose
    ``Fetcher.assign`` raised AlreadyConsumingError("t[0] is already being consumed") out of
    ``receive_data``: the join had restarted while the first assignment's offsets were
    being fetched, and both batches started claims. A batch fetched for an earlier join is
    now dropped. (Also seeds 87, 355, 411 and 534 of the CI's small scenario.)"""
    out = run_seed(9)
    assert not [v for v in out.violations if v.invariant == "crash"], out.report()


def test_seed_132_heavy_an_unclean_change_may_lose_an_abort_marker() -> None:
    """Transaction 2 aborted at t=8.16, then an unclean leader change at t=9.01 cut the
    abort marker: read_committed readers may see those records; the check excepts such
    partitions as it does for acked records."""
    out = run_seed(132, faults=FaultMix.heavy())
    assert ("t", 0) in out.history.unclean
    assert not [v for v in out.violations if v.invariant == "no-aborted-reads"]


def _commit_overruns(seed: int) -> list[str]:
    out = run_seed(seed)
    return [f"{host} {kind} at t={start:.3f} took {took:.3f}s"
            for host, kind, start, took, _bound, _ok in out.history.operations
            if kind in ("commit", "finish session") and took > REQUEST_TIMEOUT + SLACK]


def test_seed_19_a_group_commit_finishes_within_request_timeout() -> None:
    """g2's commit at t=43.111 took 7.919s with request_timeout 5s: it was queued behind a
    commit in flight (held by the network), then merged with three later ones into one
    commit that ran until the latest of their deadlines. Each caller now gets its answer,
    or a timeout, by its own deadline."""
    assert _commit_overruns(19) == []


def test_seed_22_commits_queued_behind_a_slow_one_keep_their_bounds() -> None:
    """Two commits of g1 (t=9.882, t=10.376) took 8.972s and 8.478s the same way."""
    assert _commit_overruns(22) == []


def test_seed_113_a_group_commit_does_not_take_three_request_timeouts() -> None:
    """g1's commit at t=37.560 took 16.004s: merged again and again with later commits."""
    assert _commit_overruns(113) == []


def test_seed_63_net_a_producer_id_change_does_not_duplicate_a_written_batch() -> None:
    """``--faults spike=0.1,spike_delay=12,cut=0.02 --scenario members=3,partitions=5,
    storm=40,calm=40``: p1's record 129 (sent t=25.50, t[0]) was written at offset 19
    under producer id 1002, sequence 16; its answer was lost (the request timed out while
    the network held it), so the batch waited for a retry. At t=44.094 another batch expired
    in flight (delivery_timeout), ``sequence_gap`` asked for an epoch bump, the producer got
    id 1003, and the waiting batch was re-sequenced (sequence 0) and written again at
    offset 20. The broker cannot tell: a new producer id has no history. A bump now waits
    for queued retries sent under the current id: they go again as they were sent (here
    answered as a duplicate), and the epoch moves on after them."""
    from kproto.testing.sim.__main__ import parse_scenario

    out = run_seed(63, parse_scenario("members=3,partitions=5,storm=40,calm=40"),
                   FaultMix.parse("spike=0.1,spike_delay=12,cut=0.02"))
    assert not [v for v in out.violations if v.invariant == "no-duplicates"], out.report()


def test_seed_87_net_records_settle_within_delivery_timeout() -> None:
    """Same options as seed 63: p1's seven records for t[0] sent from t=0.000 failed at
    t=35.141, 5.1s past their delivery_timeout of 30s: they waited 5.1s for the topic's
    metadata, and the batch they were placed in then got a deadline of its own, counted
    from its creation. A batch now keeps the earliest deadline of its records."""
    from kproto.testing.sim.__main__ import parse_scenario

    out = run_seed(87, parse_scenario("members=3,partitions=5,storm=40,calm=40"),
                   FaultMix.parse("spike=0.1,spike_delay=12,cut=0.02"))
    late = [v for v in out.violations if v.invariant == "bounded" and " send " in v.message]
    assert late == [], out.report()


def test_seed_801120_mix_batches_wait_for_those_on_the_wire_to_an_old_leader() -> None:
    """``--faults default,unclean=0.02,crashes=0.02,pauses=0.03,slow_handlers=0.05
    --scenario transactional=2,readers=2,storm=40,calm=30``: p1's batches with sequences
    16-18 for t[2] were written by b2 at t=5.7-6.8, but their answers were held by the
    network and b2 stopped at t=7.39. Meanwhile the client learned t[2]'s new leader and sent
    it sequences 19-23, acknowledged, which pushed 16-18 out of the broker's five-batch
    window: their retries were refused as out of order, the producer took a new id and wrote
    records 41, 42 and 46 (and 58) a second time, after later ones. A partition's batches
    now go to one broker at a time."""
    from kproto.testing.sim.__main__ import parse_scenario

    out = run_seed(801120, parse_scenario("transactional=2,readers=2,storm=40,calm=30"),
                   FaultMix.parse("default,unclean=0.02,crashes=0.02,pauses=0.03,"
                                  "slow_handlers=0.05"))
    assert not [v for v in out.violations if v.invariant in ("no-duplicates", "order")], \
        out.report()


def _cooperative(seed: int) -> list[str]:
    """``--faults default,coordinator_moves=0.05,pauses=0.04,resets=0.04,leader_moves=0.04
    --scenario members=4,readers=0,partitions=6,rate=10,storm=40,calm=40 --option
    assignors=cooperative-sticky``: the group-ownership violations of a seed."""
    from kproto.testing.sim.__main__ import parse_options, parse_scenario

    scenario = parse_options(["assignors=cooperative-sticky"], parse_scenario(
        "members=4,readers=0,partitions=6,rate=10,storm=40,calm=40"))
    out = run_seed(seed, scenario, FaultMix.parse(
        "default,coordinator_moves=0.05,pauses=0.04,resets=0.04,leader_moves=0.04"))
    return [v.message for v in out.violations
            if v.invariant in ("one-owner", "commits-forward")]


def test_seed_920121_coop_partitions_kept_through_a_rejoin_are_lost_with_the_membership() -> None:
    """g3, a cooperative member keeping t[4] and t[5] through a rejoin, had been removed from
    the group: its JoinGroup was answered UNKNOWN_MEMBER_ID at t=7.056, and generation 3 had
    given t[4] to g2 and t[5] to g5. g3 joined afresh and went on consuming both; under its
    new member id and generation 4 it committed t[4] at 10 (t=8.548) after g2 had committed
    21. A join or sync answered UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION now loses the kept
    partitions, as a heartbeat's answer does."""
    assert _cooperative(920121) == []


def test_seed_920066_coop_a_removed_member_does_not_consume_beside_the_new_owners() -> None:
    """g2 was removed during a cooperative rejoin (its commits answered UNKNOWN_MEMBER_ID at
    t=34.47); generation 7 gave its t[2] to g5 and t[3] to g1, and in generation 8 g2 still
    took messages of both beside them."""
    assert _cooperative(920066) == []


def test_seed_920670_coop_partitions_still_starting_are_named_in_a_rejoin() -> None:
    """g3, the leader, got generation 4's SyncGroup answer (held by the network for 4.9s,
    adding t[2]) in one read with a heartbeat's "rebalancing"; it fetched t[2]'s committed
    offset and rejoined at once, naming as owned only the partitions whose claims had
    started. Its own assignment for generation 5 gave t[2] to g2, and both consumed it. A
    partition whose offsets are being fetched now counts as owned."""
    assert _cooperative(920670) == []


def test_seed_930041_eos_an_abort_keeps_a_batch_that_already_has_its_sequence() -> None:
    """``--scenario transformers=2,members=1``. Transformer e2's batch to o[2] (sequences 23
    and 24) was cut off on the wire and waited to be sent again when its transaction aborted
    (a TxnOffsetCommit fenced at t=16.889). The abort dropped it with the unsent records,
    so the producer's next sequence was 25 where the broker expected 23: the next
    transaction's first batch was refused OUT_OF_ORDER_SEQUENCE_NUMBER and that transaction
    aborted too (t=17.839). An abort now keeps batches that hold sequence numbers of the
    current producer id and epoch: they go out again and are aborted with the
    transaction."""
    from kproto.testing.sim.__main__ import parse_scenario

    out = run_seed(930041, parse_scenario("transformers=2,members=1"))
    assert out.ok, out.report()
    assert "e2" in {host for _, host, _ in out.trace.entries}
    refused = [what for _, _, what in out.trace.entries if "OutOfOrderSequence" in what]
    assert refused == [], refused
