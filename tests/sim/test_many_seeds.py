"""A thousand seeds of a small scenario under the default fault mix, two hundred with
cooperative and static group members, and a hundred with exactly-once transformers and a
seeking reader.

The seeds are fixed, so this is deterministic: a failure here is a seed to replay with
``./dev simulate --seeds 1 --seed S --scenario storm=8,calm=8,partitions=2``. Its cost is
measured by ``bench/bench_sim.py`` (row ``ci-small``), never asserted here.
"""

from __future__ import annotations

import pytest

from kproto.testing.sim import Scenario, run_seed

SMALL = Scenario(storm=8.0, calm=8.0, partitions=2)
SEEDS = 1000


def _assert_all_hold(scenario: Scenario, seeds: int) -> None:
    failures = []
    for seed in range(1, seeds + 1):
        out = run_seed(seed, scenario)
        if not out.ok:
            failures.append(out.report(last=60))
    assert not failures, f"{len(failures)} failing seeds; the first:\n{failures[0]}"


@pytest.mark.slow
def test_a_thousand_seeds_hold_every_invariant() -> None:
    _assert_all_hold(SMALL, SEEDS)


COOPERATIVE_SEEDS = 200


@pytest.mark.slow
def test_cooperative_and_static_members_hold_every_invariant() -> None:
    """Cooperative rebalancing and static membership, which the default scenario does not
    run: ``./dev simulate --seeds 1 --seed S --scenario
    storm=8,calm=8,partitions=3,static_members=1 --option assignors=cooperative-sticky``."""
    from kproto.testing.sim.__main__ import parse_options, parse_scenario

    scenario = parse_options(["assignors=cooperative-sticky"], parse_scenario(
        "storm=8,calm=8,partitions=3,static_members=1"))
    _assert_all_hold(scenario, COOPERATIVE_SEEDS)


TRANSFORMER_SEEDS = 100


@pytest.mark.slow
def test_exactly_once_transformers_and_a_seeker_hold_every_invariant() -> None:
    """Consume-transform-produce in transactions (one transformer with a group instance
    id) and a reader that seeks, which the default scenario does not run:
    ``./dev simulate --seeds 1 --seed S --scenario
    storm=8,calm=8,partitions=2,transformers=1,static_transformers=1,members=1,seekers=1``."""
    from kproto.testing.sim.__main__ import parse_scenario

    _assert_all_hold(parse_scenario(
        "storm=8,calm=8,partitions=2,transformers=1,static_transformers=1,members=1,"
        "seekers=1"),
        TRANSFORMER_SEEDS)
