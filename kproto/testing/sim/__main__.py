"""``python -m kproto.testing.sim --seeds N [--seed/--start S] [--faults MIX] [--scenario ...]
[--option NAME=VALUE ...]``.

Runs seeds S, S+1, ... S+N-1 (S defaults to 1), prints each failing seed's report (its
violations and the end of its trace) and, last, ``simulate: N seeds, F failures``. Exits 1
when any seed failed. ``--trace`` prints the whole trace of every seed run (with ``--seed S``
and ``--seeds 1``: one replay). ``--option`` sets a client option (a :class:`kproto.Config`
field) for every client over the scenario's own, e.g. ``--option
assignors=cooperative-sticky --option batch_size=200``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from typing import Any

from kproto.config import Config
from kproto.errors import ConfigurationError
from kproto.testing.sim.faults import FaultMix
from kproto.testing.sim.runner import run_seed
from kproto.testing.sim.simulation import Scenario

SCENARIO_FIELDS = ("brokers", "partitions", "producers", "plain_producers", "transactional",
                   "readers", "seekers", "members", "static_members", "transformers",
                   "static_transformers", "storm", "calm", "rate")


def parse_scenario(text: str) -> Scenario:
    """``name=value,...`` over the default ``Scenario`` (fields: see SCENARIO_FIELDS)."""
    values: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in SCENARIO_FIELDS:
            raise ValueError(f"scenario: {part!r} is not name=value with a name among "
                             f"{', '.join(SCENARIO_FIELDS)}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"scenario: {name} must be a number, not {value!r}") from None
        values[name] = number
    ints = {k: int(v) for k, v in values.items() if k not in ("storm", "calm", "rate")}
    floats = {k: v for k, v in values.items() if k in ("storm", "calm", "rate")}
    return Scenario(**ints, **floats)  # type: ignore[arg-type]


def parse_options(items: Sequence[str], base: Scenario) -> Scenario:
    """``NAME=VALUE`` client options over ``base.options``: each a field of
    :class:`kproto.Config`; a value is read as the field's default is typed (an option whose
    default is a tuple, like ``assignors``, takes its items joined by ``+``). Checked at once:
    a bad name or value raises ValueError naming it."""
    if not items:
        return base
    kinds = {f.name: f.default for f in dataclasses.fields(Config)}
    options = dict(base.options)
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in kinds:
            raise ValueError(f"option: {item!r} is not NAME=VALUE with NAME a kproto.Config "
                             "field")
        options[name] = _option_value(name, text.strip(), kinds[name])
    try:
        Config(**options)
    except (TypeError, ValueError, ConfigurationError) as exc:
        raise ValueError(f"option: {exc}") from None
    return dataclasses.replace(base, options=options)


def _option_value(name: str, text: str, default: Any) -> Any:
    if isinstance(default, tuple):
        return tuple(p for p in text.split("+") if p)
    if text.lower() in ("none", "null") and default is None:
        return None
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        raise ValueError(f"option: {name} must be of type {type(default).__name__}, "
                         f"not {text!r}") from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kproto.testing.sim",
                                 description="Run seeded simulations and check invariants.")
    ap.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    ap.add_argument("--seed", "--start", dest="seed", type=int, default=1,
                    help="the first seed (default 1); long runs split into disjoint ranges "
                         "with --start")
    ap.add_argument("--faults", default="default",
                    help="fault mix: none, default, heavy, and/or name=value,... "
                         "(e.g. 'none,stops=0.05')")
    ap.add_argument("--scenario", default="",
                    help="name=value,... over the default scenario "
                         f"({', '.join(SCENARIO_FIELDS)})")
    ap.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                    help="a client option (kproto.Config field) for every client, over the "
                         "scenario's; repeat for more (tuples: items joined by '+')")
    ap.add_argument("--trace", action="store_true", help="print every run's whole trace")
    ap.add_argument("--last", type=int, default=200,
                    help="trace entries shown for a failing seed (default 200)")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")
    try:
        mix = FaultMix.parse(args.faults)
        scenario = parse_options(args.option, parse_scenario(args.scenario))
    except ValueError as exc:
        ap.error(str(exc))
    failures = 0
    for seed in range(args.seed, args.seed + args.seeds):
        out = run_seed(seed, scenario, mix)
        if args.trace:
            print(f"== seed {seed}")
            print(out.trace.format())
        if not out.ok:
            failures += 1
            print(out.report(last=args.last))
            print()
        sys.stdout.flush()
    print(f"simulate: {args.seeds} seeds, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
