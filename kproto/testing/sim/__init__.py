"""Deterministic simulation: kproto's engines against the fake cluster over a simulated
network, with faults drawn from a seed, and Kafka's guarantees checked after every run.

``run_seed(seed)`` runs one ``Simulation`` (a ``Scenario`` of producers, transactional
producers, readers and group members; a ``FaultMix``) and returns an ``Outcome``: the
violations of the invariants (``invariants.py``) and the trace that replays identically for
that seed. ``python -m kproto.testing.sim --seeds N`` runs many. See docs/simulation.md.
"""

from __future__ import annotations

from kproto.testing.sim.faults import FaultMix
from kproto.testing.sim.invariants import CHECKS, History, Violation, check
from kproto.testing.sim.runner import Outcome, run_seed, run_seeds
from kproto.testing.sim.simulation import Scenario, Simulation, SimulationStuck

__all__ = ["CHECKS", "FaultMix", "History", "Outcome", "Scenario", "Simulation",
           "SimulationStuck", "Violation", "check", "run_seed", "run_seeds"]
