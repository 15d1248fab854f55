"""30 simulated minutes of a producer: the run covers them and the producer keeps going.

What this costs is measured by ``bench/bench_sim.py`` (CPU seconds per 30 simulated minutes
for each kind of scenario), never asserted here: the project times nothing in its tests.
"""

from __future__ import annotations

from kproto.testing.sim import Scenario, run_seed

THIRTY_MINUTES = Scenario(brokers=1, partitions=1, producers=1, transactional=0, readers=0,
                          members=0, storm=1800.0, calm=0.0, rate=1.0)


def test_thirty_simulated_minutes_of_a_producer_hold_every_invariant() -> None:
    out = run_seed(1, THIRTY_MINUTES)
    assert out.ok, out.report()
    assert out.simulated >= 1800.0
    # About a record a second for all 30 minutes, under the default fault mix: nearly all
    # acknowledged, the last ones in the run's final minute.
    acked = [s.acked for s in out.history.sent.values() if s.acked]
    assert len(acked) > 1500
    assert max(when for _, when in acked) > 1740.0
