"""The property-based testing tools for users: Hypothesis stays optional, the strategies draw
valid values, explicit faults apply to a simulation, and the documented example finds the
planted bug in the at-least-once copier while the exactly-once one passes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import Phase, given, settings
from hypothesis.stateful import run_state_machine_as_test

from kproto.message_types import ProducerMessage
from kproto.records import decode_batches
from kproto.testing import strategies as kst
from kproto.testing.sim import FaultMix, Scenario, Simulation
from kproto.testing.sim.schedule import KINDS, Fault, apply_fault, schedule

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_kproto_testing_does_not_import_hypothesis() -> None:
    out = _run("""
        import sys, kproto.testing, kproto.testing.sim
        kproto.testing.FakeCluster
        print('hypothesis' in sys.modules)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("module", ["kproto.testing.strategies", "kproto.testing.stateful"])
def test_without_hypothesis_the_import_error_names_the_extra(module: str) -> None:
    out = _run(f"""
        import sys
        sys.modules['hypothesis'] = None
        try:
            import {module}
        except ImportError as exc:
            print(exc)
    """)
    assert out.returncode == 0, out.stderr
    assert "kproto[testing]" in out.stdout


@settings(max_examples=30, deadline=None)
@given(kst.messages("orders", partitions=3))
def test_messages_are_valid_producer_messages(m: ProducerMessage) -> None:
    assert m.topic == "orders"
    assert m.partition is None or 0 <= m.partition < 3
    assert m.value is None or isinstance(m.value, bytes)
    assert all(isinstance(k, str) for k, _ in m.headers)


@settings(max_examples=15, deadline=None)
@given(kst.record_batches())
def test_record_batches_decode(data: bytes) -> None:
    batches = decode_batches(data).batches
    assert len(batches) == 1 and batches[0].records


@settings(max_examples=30, deadline=None)
@given(kst.fault_mixes(), kst.fault_schedules(horizon=10.0))
def test_fault_mixes_and_schedules_are_valid(mix: FaultMix, faults: list[Fault]) -> None:
    assert isinstance(mix, FaultMix)  # its own checks ran
    assert [f.at for f in faults] == sorted(f.at for f in faults)
    assert all(f.kind in KINDS and 0 <= f.at <= 10.0 for f in faults)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match=r"Fault\.kind"):
        Fault("meteor")
    with pytest.raises(ValueError, match=r"Fault\.target"):
        Fault("reset", -1)
    with pytest.raises(ValueError, match="partitions"):
        kst.messages(partitions=0)
    with pytest.raises(ValueError, match="kinds"):
        kst.faults(("meteor",))


def test_every_fault_kind_applies_and_is_traced() -> None:
    sim = Simulation(1, Scenario(storm=4.0, calm=4.0, members=1, readers=0),
                     FaultMix.none())
    schedule(sim, [Fault(kind, target=i, seconds=1.0, at=1.0 + 0.3 * i)
                   for i, kind in enumerate(KINDS)])
    sim.run()
    faults = [what for _, who, what in sim.trace.entries if who == "fault"]
    assert any("reset" in w for w in faults)
    assert any("stops for" in w for w in faults) and any("restarts" in w for w in faults)
    assert any("leader b" in w for w in faults)
    assert any("coordinator of" in w for w in faults)
    assert any("unclean leader change" in w for w in faults)
    assert any("paused" in w for w in faults)
    assert any("crashed" in w for w in faults)
    assert any("request(s) get error" in w for w in faults)


def test_a_fault_with_nothing_to_hit_says_so() -> None:
    sim = Simulation(1, Scenario(brokers=1, producers=0, transactional=0, readers=0,
                                 members=0), FaultMix.none())
    assert apply_fault(sim, Fault("stop")) == "stop: only one broker is up"
    assert apply_fault(sim, Fault("reset")) == "reset: no live connection"


# -- the documented example ----------------------------------------------------------------


def _example() -> ModuleType:
    path = ROOT / "docs" / "examples" / "copy_app.py"
    spec = importlib.util.spec_from_file_location("copy_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["copy_app"] = module
    spec.loader.exec_module(module)
    return module


EXAMPLE = _example()
FIND = settings(max_examples=60, stateful_step_count=10, deadline=None, derandomize=True,
                database=None, report_multiple_bugs=False, phases=[Phase.generate])


def test_hypothesis_finds_the_planted_bug() -> None:
    with pytest.raises(AssertionError, match=r"written twice|exactly once"):
        run_state_machine_as_test(EXAMPLE.BuggyCopierMachine, settings=FIND)


def test_the_exactly_once_copier_passes() -> None:
    run_state_machine_as_test(EXAMPLE.FixedCopierMachine,
                              settings=settings(FIND, max_examples=25))


def _replay(machine: type) -> None:
    """The shrunk counterexample docs/simulation.md shows."""
    m = machine()
    m.send(ProducerMessage("t", None))
    m.advance(seconds=3.0)
    m.crash_app()
    m.advance(seconds=3.0)
    m.no_input_is_copied_twice()
    m._settle_and_check()


def test_the_short_counterexample_fails_the_buggy_copier_only() -> None:
    with pytest.raises(AssertionError, match="written twice"):
        _replay(EXAMPLE.BuggyCopierMachine)
    _replay(EXAMPLE.FixedCopierMachine)


def test_the_explicit_faults_example_in_the_docs_runs() -> None:
    text = (ROOT / "docs" / "simulation.md").read_text()
    section = text.split("## Explicit faults\n", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(block, "docs/simulation.md", "exec"), {})
