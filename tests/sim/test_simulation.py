"""The simulator: runs replay identically, faults and scenarios are values with clear errors,
the command line prints its summary last, and the engines survive a run of every kind."""

from __future__ import annotations

import pytest

from kproto.testing.sim import FaultMix, Scenario, Simulation, run_seed
from kproto.testing.sim.__main__ import main, parse_options, parse_scenario

QUICK = Scenario(storm=10.0, calm=10.0, partitions=2)


def test_the_same_seed_replays_the_same_trace() -> None:
    a = run_seed(7, QUICK, FaultMix.heavy())
    b = run_seed(7, QUICK, FaultMix.heavy())
    assert len(a.trace.entries) > 500
    assert a.trace.entries == b.trace.entries
    assert a.violations == b.violations
    c = run_seed(8, QUICK, FaultMix.heavy())
    assert c.trace.entries != a.trace.entries


def test_a_run_without_faults_checks_real_work() -> None:
    out = run_seed(3, QUICK, FaultMix.none())
    assert out.ok, out.report()
    h = out.history
    acked = [s for s in h.sent.values() if s.acked is not None]
    assert len(acked) > 20
    assert all(s.failed is None for s in h.sent.values())
    assert "committed" in h.txns.values()
    assert h.reads and h.commits and h.owners
    assert not [e for e in out.trace.entries if e[1] == "fault"
                and "storm over" not in e[2]]


def test_the_trace_names_frames_faults_and_events() -> None:
    out = run_seed(11, QUICK, FaultMix.heavy())
    text = out.trace.format()
    assert "-> Produce v" in text and "<- answer to Produce v" in text
    assert "fault" in text and "session gen" in text
    assert out.report(last=5).startswith("seed 11:")


def test_heavy_faults_are_survived() -> None:
    for seed in range(3):
        out = run_seed(seed, QUICK, FaultMix.heavy().with_(unclean=0.05))
        kinds = {v.invariant for v in out.violations}
        assert not kinds & {"crash", "progress", "acked-not-lost", "no-duplicates", "order",
                            "one-owner", "no-aborted-reads", "settles"}, out.report()


def test_a_fault_mix_is_a_value_that_narrows_and_widens() -> None:
    mix = FaultMix.parse("none,stops=0.05")
    assert mix.stops == 0.05 and mix.resets == 0 and mix.latency > 0
    assert FaultMix.parse("cut=0.5", FaultMix.none()).cut == 0.5
    assert FaultMix().with_(unclean=0.1).unclean == 0.1
    with pytest.raises(ValueError, match=r"FaultMix\.cut"):
        FaultMix(cut=2.0)
    with pytest.raises(ValueError, match=r"FaultMix\.stops"):
        FaultMix(stops=-1)
    with pytest.raises(ValueError, match="bogus"):
        FaultMix.parse("bogus=1")
    with pytest.raises(ValueError, match="stops must be a number"):
        FaultMix.parse("stops=x")


def test_a_scenario_checks_its_fields() -> None:
    with pytest.raises(ValueError, match=r"Scenario\.brokers"):
        Scenario(brokers=0)
    with pytest.raises(ValueError, match=r"Scenario\.members"):
        Scenario(members=-1)
    assert parse_scenario("members=3,storm=5").members == 3
    with pytest.raises(ValueError, match="scenario"):
        parse_scenario("nope=1")


def test_client_options_are_typed_by_their_config_field_and_checked_at_once() -> None:
    base = parse_scenario("members=1")
    sc = parse_options(["assignors=cooperative-sticky+range", "batch_size=200",
                        "idempotent=false", "linger=0", "group_instance_id=none"], base)
    assert sc.options["assignors"] == ("cooperative-sticky", "range")
    assert sc.options["batch_size"] == 200 and sc.options["idempotent"] is False
    assert sc.options["linger"] == 0.0 and sc.options["group_instance_id"] is None
    assert sc.options["request_timeout"] == base.options["request_timeout"]
    assert base.options.get("batch_size") is None, "the base scenario is not changed"
    for bad, says in (("nosuch=1", "nosuch=1"), ("batch_size", "NAME=VALUE"),
                      ("batch_size=big", "batch_size must be of type int"),
                      ("idempotent=maybe", "idempotent must be of type bool"),
                      ("batch_size=0", "batch_size"), ("assignors=nope", "unknown assignor")):
        with pytest.raises(ValueError, match=says):
            parse_options([bad], base)


def test_the_command_line_prints_the_summary_last(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--seeds", "2", "--seed", "5", "--faults", "none",
                 "--scenario", "storm=5,calm=5,members=1"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out[-1] == "simulate: 2 seeds, 0 failures"
    with pytest.raises(SystemExit):
        main(["--seeds", "0"])
    with pytest.raises(SystemExit):
        main(["--faults", "nope=1"])
    with pytest.raises(SystemExit):
        main(["--option", "batch_size=big"])
    code = main(["--seeds", "1", "--faults", "none", "--scenario", "storm=5,calm=5,members=1",
                 "--option", "assignors=cooperative-sticky"])
    assert code == 0


def test_a_simulation_can_be_driven_step_by_step() -> None:
    sim = Simulation(1, Scenario(storm=3.0, calm=3.0, members=1, readers=0, transactional=0),
                     FaultMix.none())
    history = sim.run()
    assert sim.now >= 6.0
    assert history.end == sim.now
    assert any(s.acked for s in history.sent.values())


def test_the_example_in_the_docs_runs() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "simulation.md").read_text()
    block = text.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(block, "docs/simulation.md", "exec"), {})


def test_custom_actors_replace_the_scenarios() -> None:
    from kproto.testing.sim.actors import Producer

    started = []

    def actors(sim: Simulation) -> None:
        started.append(Producer(sim, idempotent=True))

    sim = Simulation(2, Scenario(storm=5.0, calm=5.0), FaultMix.none(), actors=actors)
    history = sim.run()
    assert [h.name for h in sim.hosts] == ["p1"]
    assert started and all(s.producer == "p1" for s in history.sent.values())
    assert all(s.acked is not None for s in history.sent.values())


def test_a_seed_replays_identically_in_another_process() -> None:
    """Nothing in a run depends on the process: string hashing, ids, dict order."""
    import hashlib
    import os
    import subprocess
    import sys

    code = ("import hashlib; from kproto.testing.sim import FaultMix, Scenario, run_seed; "
            "o = run_seed(7, Scenario(storm=10.0, calm=10.0, partitions=2), FaultMix.heavy()); "
            "print(hashlib.sha256(repr(o.trace.entries).encode()).hexdigest())")
    digests = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True, timeout=120)
        digests.add(out.stdout.strip())
    here = run_seed(7, QUICK, FaultMix.heavy())
    digests.add(hashlib.sha256(repr(here.trace.entries).encode()).hexdigest())
    assert len(digests) == 1


def test_a_crashed_static_member_comes_back_with_its_partitions_in_its_generation() -> None:
    """``static_members`` run with a group instance id each; a crashed one's process comes
    back with the same id within the session timeout and takes over its generation and
    partitions without a rebalance (KIP-345)."""
    sc = Scenario(members=0, static_members=2, producers=1, transactional=0, readers=0,
                  storm=30.0, calm=20.0)
    for seed in range(1, 200):
        out = run_seed(seed, sc, FaultMix.none().with_(crashes=0.02))
        died = [who for _t, _f, what in out.trace.entries if "dies" in what
                for who in [what.split()[0]]]
        if died:
            break
    else:
        raise AssertionError("no seed in 1..199 crashed a member")
    assert out.ok, out.report()
    sessions = [(who, what) for _t, who, what in out.trace.entries
                if what.startswith("session gen")]
    before = next(what for who, what in sessions if who == died[0])
    after = [what for who, what in sessions if who not in ("g1", "g2")]
    assert after and after[0].split(":")[0] == before.split(":")[0], (before, after)
    assert {p.split("@")[0] for p in after[0].split(": ")[1].split(", ")} == \
        {p.split("@")[0] for p in before.split(": ")[1].split(", ")}
    assert {o for owners in out.history.owners.values() for o in owners} == \
        {"static-1", "static-2"}


def test_a_seeker_reads_on_from_each_offset_it_moves_to() -> None:
    """``seekers`` move a partition's stream back to an offset they passed; what a stream
    fetched before the seek (and delivered after it) is dropped, and the next record read
    is the first committed one at or after the new offset."""
    sc = Scenario(readers=0, seekers=1, members=0, storm=30.0, calm=10.0)
    out = run_seed(5, sc, FaultMix.none())
    assert out.ok, out.report()
    h = out.history
    moves = [(part, start, index) for who, _t, part, start, index in h.read_from
             if who == "s1" and start is not None]
    assert len(moves) >= 3
    committed = {p: [off for off, _v, _txn in h.logs[("t", p)]
                     if off not in h.uncommitted.get(("t", p), set())] for p in range(3)}
    for part, start, index in moves:
        after = [r[3] for r in h.reads[index:] if r[0] == "s1" and r[2] == part]
        if after:
            assert after[0] == min(o for o in committed[part] if o >= start), (part, start)
