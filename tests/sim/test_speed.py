"""30 simulated minutes of a small scenario take well under a second of CPU (0.43 s measured
on an idle core; the budget leaves room for a busy CI machine)."""

from __future__ import annotations

import time

from kproto.testing.sim import Scenario, run_seed

THIRTY_MINUTES = Scenario(brokers=1, partitions=1, producers=1, transactional=0, readers=0,
                          members=0, storm=1800.0, calm=0.0, rate=1.0)


def test_thirty_simulated_minutes_of_a_producer_are_cheap() -> None:
    start = time.process_time()
    out = run_seed(1, THIRTY_MINUTES)
    spent = time.process_time() - start
    assert out.ok, out.report()
    assert out.simulated >= 1800.0
    assert len([s for s in out.history.sent.values() if s.acked]) > 1500
    assert spent < 3.0, f"30 simulated minutes took {spent:.2f}s of CPU"
