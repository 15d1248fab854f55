"""Explicit faults: one named fault applied to a simulation now, or a list of them at set times.

Theory of operation: a ``FaultMix`` draws faults from the seed; a ``Fault`` is one of them
written down (what, which, how long, when), so a test or a Hypothesis strategy can choose
exactly what goes wrong. ``target`` picks among the candidates that exist when the fault
applies (the live connections, the brokers that are up, the partitions, ...), sorted, by
index modulo their number: any ``Fault`` applies to any state, which lets Hypothesis shrink a
schedule freely. ``apply_fault(sim, fault)`` performs it through the ``Simulation``'s and the
fake cluster's own methods and writes it into the trace; a fault with nothing to hit (a stop
with one broker left up) says so in the trace and does nothing. ``schedule(sim, faults)``
puts each one on the simulation's clock at its ``at``. Nothing here draws randomness.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from kproto.testing.fake.faults import RETRIABLE
from kproto.testing.sim.trace import api_name

if TYPE_CHECKING:
    from kproto.testing.sim.simulation import Simulation

__all__ = ["KINDS", "Fault", "apply_fault", "schedule"]

KINDS = ("reset", "stop", "leader_move", "coordinator_move", "unclean", "pause", "crash",
         "broker_error")
"""What a ``Fault`` can be:

- ``reset``: a live connection is reset, bytes in flight both ways are lost;
- ``stop``: a broker stops and restarts ``seconds`` later (never the last one up);
- ``leader_move``: a partition's leadership moves to another replica that is up;
- ``coordinator_move``: a group's or transactional id's coordinator moves;
- ``unclean``: a partition's replication is held for ``seconds``, then an unclean leader
  change cuts the unreplicated tail;
- ``pause``: a client process freezes for ``seconds`` (its clock jumps when it wakes);
- ``crash``: a client process dies (its actor's ``crash()`` when it has one);
- ``broker_error``: the next ``count`` requests of one API get a retriable error.
"""

_APIS = sorted(RETRIABLE)


@dataclass(frozen=True)
class Fault:
    """One fault; see ``KINDS``. ``target`` indexes the sorted candidates (modulo their
    number), ``seconds`` is a duration where the kind has one, ``at`` the simulated time
    ``schedule`` applies it at, ``count`` the requests a ``broker_error`` hits."""

    kind: str
    target: int = 0
    seconds: float = 3.0
    at: float = 0.0
    count: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Fault.kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.target < 0:
            raise ValueError(f"Fault.target must be >= 0, not {self.target!r}")
        if self.seconds < 0 or self.at < 0:
            raise ValueError("Fault.seconds and Fault.at must be >= 0")
        if self.count < 1:
            raise ValueError(f"Fault.count must be >= 1, not {self.count!r}")


def schedule(sim: Simulation, faults: Iterable[Fault]) -> None:
    """Apply each fault at its ``at`` (simulated seconds; a past time means now)."""
    for fault in faults:
        sim.at(fault.at, partial(_apply_quietly, sim, fault))


def _apply_quietly(sim: Simulation, fault: Fault) -> None:
    apply_fault(sim, fault)


def apply_fault(sim: Simulation, fault: Fault) -> str:
    """Perform ``fault`` now; returns (and traces) what it did."""
    what = _APPLY[fault.kind](sim, fault)
    sim.trace.add(sim.now, "fault", what)
    return what


def _reset(sim: Simulation, f: Fault) -> str:
    live = sorted((link for link in sim.links.values()
                   if link.server is not None and not link.dead), key=lambda link: link.id)
    if not live:
        return "reset: no live connection"
    link = live[f.target % len(live)]
    sim.reset(link, "connection reset (scheduled fault)")
    return f"reset {link.label}"


def _up(sim: Simulation) -> list[int]:
    return sorted(n for n, b in sim.cluster.brokers.items() if b.up)


def _stop(sim: Simulation, f: Fault) -> str:
    up = _up(sim)
    if len(up) < 2:
        return "stop: only one broker is up"
    node = up[f.target % len(up)]
    sim.cluster.stop_broker(node, sim.now)
    sim.downed.add(node)
    sim.after(f.seconds, partial(sim._restart, node))
    return f"broker b{node} stops for {f.seconds:.3f}s"


def _partitions(sim: Simulation) -> list[tuple[str, int]]:
    return sorted((name, p.index) for name, t in sim.cluster.topics.items()
                  for p in t.partitions)


def _leader_move(sim: Simulation, f: Fault) -> str:
    parts = _partitions(sim)
    if not parts:
        return "leader move: no partition"
    topic, index = parts[f.target % len(parts)]
    p = sim.cluster.partition(topic, index)
    assert p is not None
    others = sorted(r for r in p.replicas if sim.cluster.brokers[r].up and r != p.leader)
    if not others:
        return f"leader move: {topic}[{index}] has no other replica up"
    node = others[(f.target // len(parts)) % len(others)]
    before = p.leader
    sim.cluster.move_leader(topic, index, node, sim.now)
    return f"{topic}[{index}] leader b{before} -> b{node}"


def _coordinator_move(sim: Simulation, f: Fault) -> str:
    keys = sorted(sim.history.coordinator_keys)
    up = _up(sim)
    if not keys or not up:
        return "coordinator move: no group or transactional id known"
    key_type, key = keys[f.target % len(keys)]
    node = up[(f.target // len(keys)) % len(up)]
    sim.cluster.move_coordinator(key_type, key, node)
    kind = "group" if key_type == 0 else "transactional id"
    return f"coordinator of {kind} {key!r} -> b{node}"


def _unclean(sim: Simulation, f: Fault) -> str:
    parts = [p for p in _partitions(sim) if p not in sim.held]
    if not parts:
        return "unclean: every partition is held already"
    part = parts[f.target % len(parts)]
    sim.unclean_change(part, f.seconds)
    return f"{part[0]}[{part[1]}] unclean leader change in {f.seconds:.3f}s"


def _pause(sim: Simulation, f: Fault) -> str:
    alive = [h for h in sim.hosts if h.alive and h.frozen_until <= sim.now]
    if not alive:
        return "pause: no running process"
    h = alive[f.target % len(alive)]
    sim.freeze(h, f.seconds)
    return f"{h.name} paused"


def _crash(sim: Simulation, f: Fault) -> str:
    alive = [h for h in sim.hosts if h.alive]
    if not alive:
        return "crash: no process alive"
    h = alive[f.target % len(alive)]
    crash = getattr(h.actor, "crash", None)
    if callable(crash):
        crash()
    else:
        sim.kill_host(h, "crashed (scheduled fault)")
    return f"{h.name} crashed"


def _broker_error(sim: Simulation, f: Fault) -> str:
    api = _APIS[f.target % len(_APIS)]
    codes = RETRIABLE[api]
    code = codes[(f.target // len(_APIS)) % len(codes)]
    sim.cluster.faults.fail(api, code, f.count)
    return f"the next {f.count} {api_name(api)} request(s) get error {code}"


_APPLY = {"reset": _reset, "stop": _stop, "leader_move": _leader_move,
          "coordinator_move": _coordinator_move, "unclean": _unclean, "pause": _pause,
          "crash": _crash, "broker_error": _broker_error}
