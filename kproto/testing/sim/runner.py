"""Running seeds: one ``Outcome`` per seed, and the report a failing seed prints.

An exception escaping the engines or the cluster during a run is a failure too (the
``crash`` invariant: nothing may raise into an adapter), as is a run that stops making
progress (``SimulationStuck``).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from kproto.testing.sim.faults import FaultMix
from kproto.testing.sim.invariants import History, Violation, check
from kproto.testing.sim.simulation import Scenario, Simulation, SimulationStuck
from kproto.testing.sim.trace import Trace

__all__ = ["Outcome", "run_seed", "run_seeds"]


@dataclass
class Outcome:
    """What one seed's run ended with."""

    seed: int
    violations: list[Violation]
    trace: Trace
    history: History
    simulated: float
    """Simulated seconds the run covered."""

    @property
    def ok(self) -> bool:
        return not self.violations

    def report(self, last: int = 200) -> str:
        """The seed, each violation, and the end of the trace (``last`` entries)."""
        lines = [f"seed {self.seed}: {len(self.violations)} violation(s) after "
                 f"{self.simulated:.1f} simulated seconds"]
        lines += [f"  {v}" for v in self.violations[:20]]
        if len(self.violations) > 20:
            lines.append(f"  ... and {len(self.violations) - 20} more")
        lines.append(f"trace (last {last} of {len(self.trace.entries)} entries; replay with "
                     f"--seed {self.seed}):")
        lines.append(self.trace.format(last=last))
        return "\n".join(lines)


def run_seed(seed: int, scenario: Scenario | None = None, faults: FaultMix | None = None,
             ) -> Outcome:
    """Run one simulation and check every invariant."""
    sim = Simulation(seed, scenario, faults)
    violations: list[Violation] = []
    try:
        history = sim.run()
    except SimulationStuck as exc:
        violations.append(Violation("progress", str(exc)))
        history = sim.history
    except Exception as exc:  # anything raised by an engine or the cluster is a bug
        tb = traceback.format_exception(exc)
        sim.trace.add(sim.now, "crash", "".join(tb))
        violations.append(Violation("crash", f"{type(exc).__name__}: {exc}"))
        history = sim.history
    else:
        violations = check(history)
    return Outcome(seed, violations, sim.trace, history, sim.now)


def run_seeds(seeds: Iterable[int], scenario: Scenario | None = None,
              faults: FaultMix | None = None,
              on_outcome: Callable[[Outcome], None] | None = None) -> Iterator[Outcome]:
    """Run each seed in turn, yielding its outcome."""
    for seed in seeds:
        out = run_seed(seed, scenario, faults)
        if on_outcome is not None:
            on_outcome(out)
        yield out
