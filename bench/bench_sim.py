"""The simulator's speed: CPU seconds per 30 simulated minutes, for each kind of scenario.

The aim: 30 simulated minutes in well under a second of CPU. Each row runs one
seed under the default fault mix and prints the CPU time (``time.process_time()``) it took,
scaled to 30 simulated minutes (``per 30 min``), beside the simulated seconds it covered
and the run's own CPU time:

- ``producer``: one idempotent producer, a record a second, one broker, 30 minutes;
- ``member``: one group member, idle (heartbeats, long-polling Fetches), 30 minutes;
- ``producer+reader``: a producer and a read_committed reader long-polling, 30 minutes;
- ``default``: the default mixed scenario (3 brokers; idempotent, transactional producers,
  a reader, two group members; 2 simulated minutes), over ``--seeds`` seeds;
- ``default-30min``: the same clients for a full 30 simulated minutes (a one-minute storm,
  then 29 calm minutes of heartbeats, long polls and metadata refreshes), one seed, so the
  figure per 30 minutes is measured, not scaled from 2 minutes;
- ``ci-small``: test_many_seeds' scenario, over ``--seeds`` seeds (also per seed);
- ``codec``: the codec's share of an idle long poll: an incremental-session Fetch v17 with
  no partitions encoded and decoded, its empty answer (v16) encoded and decoded, as many
  times as the ``default-30min`` run makes Fetches (21,600); the rest of a round trip's
  cost is the engines', the fake cluster's and the simulator's bookkeeping.

    .venv/bin/python bench/bench_sim.py [--seeds N] [--only producer,member,...]

Performance is measured here, never asserted in tests. The machine is shared and small: an
idle core gives the numbers in docs/simulation.md; under load they grow together.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "transports")]

from kproto.testing.sim import Scenario, run_seed  # noqa: E402

HALF_HOUR = 1800.0


def _half_hour(producers: int, readers: int, members: int) -> Scenario:
    return Scenario(brokers=1, partitions=1, producers=producers, transactional=0,
                    readers=readers, members=members, storm=HALF_HOUR, calm=0.0, rate=1.0)


SCENARIOS: dict[str, Scenario] = {
    "producer": _half_hour(producers=1, readers=0, members=0),
    "member": _half_hour(producers=0, readers=0, members=1),
    "producer+reader": _half_hour(producers=1, readers=1, members=0),
    "default": Scenario(),
    "default-30min": Scenario(storm=60.0, calm=HALF_HOUR - 60.0),
    "ci-small": Scenario(storm=8.0, calm=8.0, partitions=2),
}
LONG = ("producer", "member", "producer+reader", "default-30min")
"""Rows of one 30-minute seed; the others run ``--seeds`` seeds."""
IDLE_FETCHES = 21_600
"""Fetch round trips of the ``default-30min`` run (three long-polling consumers, 0.5 s)."""


def codec_floor() -> float:
    """CPU seconds of the codec alone for ``IDLE_FETCHES`` idle Fetch round trips."""
    from kproto import protocol
    from kproto.protocol.apis import FETCH
    req = protocol.FetchRequest(replica_id=-1, max_wait_ms=500, min_bytes=1,
                                max_bytes=50 << 20, isolation_level=1, session_id=1,
                                session_epoch=7, topics=[], forgotten_topics_data=[],
                                rack_id="")
    resp = protocol.FetchResponse(throttle_time_ms=0, error_code=0, session_id=1,
                                  responses=[])
    start = time.process_time()
    for corr in range(IDLE_FETCHES):
        frame = protocol.encode_request(req, 17, corr, "sim")
        protocol.decode_request(frame[4:])
        answer = protocol.encode_response(resp, 16, corr, FETCH)
        protocol.decode_response(answer[4:], FETCH, 16)
    return time.process_time() - start


def measure(name: str, seeds: int) -> tuple[float, float, int]:
    """(CPU seconds, simulated seconds, failing seeds) of the row's runs."""
    scenario = SCENARIOS[name]
    count = 1 if name in LONG else seeds
    cpu = simulated = 0.0
    failures = 0
    for seed in range(1, count + 1):
        start = time.process_time()
        out = run_seed(seed, scenario)
        cpu += time.process_time() - start
        simulated += out.simulated
        failures += not out.ok
    return cpu, simulated, failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20,
                    help="seeds of the default and ci-small rows (default 20)")
    rows = [*SCENARIOS, "codec"]
    ap.add_argument("--only", default=",".join(rows),
                    help=f"rows to run, of {', '.join(rows)}")
    args = ap.parse_args()
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in rows]
    if unknown:
        ap.error(f"--only: unknown rows {', '.join(unknown)} (rows: {', '.join(rows)})")
    run_seed(1, Scenario(storm=1.0, calm=1.0))  # imports and first-call costs, not timed
    print(f"{'scenario':<16} {'seeds':>5} {'simulated s':>11} {'CPU s':>8} "
          f"{'per 30 min':>10} {'per seed':>9}")
    failed = 0
    for name in names:
        if name == "codec":
            cpu = codec_floor()
            print(f"{name:<16} {'-':>5} {'-':>11} {cpu:>8.2f} {cpu:>10.2f} "
                  f"{cpu / IDLE_FETCHES * 1e6:>7.1f}us  (per Fetch round trip)", flush=True)
            continue
        cpu, simulated, failures = measure(name, args.seeds)
        count = 1 if name in LONG else args.seeds
        failed += failures
        note = f"  ({failures} failing)" if failures else ""
        print(f"{name:<16} {count:>5} {simulated:>11.0f} {cpu:>8.2f} "
              f"{cpu / simulated * HALF_HOUR:>10.2f} {cpu / count:>9.3f}{note}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
