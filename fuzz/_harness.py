"""What every fuzz target shares: how it runs (atheris, Hypothesis, a bounded pass) and its corpus.

Theory of operation: a target is a module with ``one_input(data: bytes) -> None`` (raises only
when it found a bug) and ``seeds() -> list[bytes]`` (valid inputs built in process). Its
corpus is ``fuzz/corpus/<name>/``: the committed seeds, captured from a real broker by
``fuzz/capture_corpus.py``. ``run()`` gives every target the same command line:

    python fuzz/fuzz_<name>.py --seconds 600          # atheris (coverage-guided), 10 minutes
    python fuzz/fuzz_<name>.py --seconds 600 -jobs=1  # extra libFuzzer flags pass through
    python fuzz/fuzz_<name>.py --hypothesis --examples 20000   # without atheris
    python fuzz/fuzz_<name>.py --replay [dir ...]     # every input once (for coverage.py)

atheris writes what it discovers to ``fuzz/.work/<name>/`` (not committed) and reads the
committed corpus and the built-in seeds as well. ``bounded_pass()`` is the suite's short run:
a fixed number of seeded, atheris-free mutations over the same seeds.

Import the code under test inside ``with instrumented():`` so atheris sees its branches; it
is a no-op unless a target runs as the main script under atheris.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS_ROOT = HERE / "corpus"
WORK_ROOT = HERE / ".work"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OneInput = Callable[[bytes], None]


def _atheris_wanted() -> bool:
    main = sys.modules.get("__main__")
    script = Path(getattr(main, "__file__", "") or "").name
    return script.startswith("fuzz_") and not {"--hypothesis", "--replay"} & set(sys.argv)


@contextlib.contextmanager
def instrumented() -> Iterator[None]:
    """Instrument the kproto modules imported from here on (only for an atheris run)."""
    if _atheris_wanted():
        try:
            import atheris
        except ImportError:
            atheris = None
        if atheris is not None:
            # Left on for the whole run: kproto imports message and API modules lazily.
            atheris.instrument_imports(include=["kproto"]).__enter__()
    yield


def corpus(name: str) -> list[bytes]:
    """The committed corpus of target ``name`` (sorted by file name, so runs repeat)."""
    directory = CORPUS_ROOT / name
    if not directory.is_dir():
        return []
    return [p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()]


_INTERESTING = (b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff",
                b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00", b"\x00\x00\x10\x00")


def mutate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """A few libFuzzer-like edits: flip, set, insert, delete, overwrite with an edge value,
    splice from another seed."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(out) + 1)
        if op == 0 and out:
            pos = min(pos, len(out) - 1)
            out[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and out:
            pos = min(pos, len(out) - 1)
            out[pos] = rng.randrange(256)
        elif op == 2:
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3:
            del out[pos:pos + rng.randint(1, 16)]
        elif op == 4:
            value = rng.choice(_INTERESTING)
            out[pos:pos + len(value)] = value
        elif others:
            other = rng.choice(others)
            start = rng.randrange(len(other) + 1)
            out[pos:] = other[start:start + rng.randint(1, 64)] + out[pos:]
    return bytes(out)


def all_seeds(name: str, seeds: Callable[[], list[bytes]]) -> list[bytes]:
    return corpus(name) + seeds()


def bounded_pass(name: str, one_input: OneInput, seeds: Callable[[], list[bytes]],
                 count: int, seed: int = 0) -> int:
    """Every seed as it is, then ``count`` mutations of them; returns how many inputs ran."""
    pool = all_seeds(name, seeds)
    rng = random.Random(seed)
    for data in pool:
        one_input(data)
    for _ in range(count):
        one_input(mutate(rng.choice(pool), rng, pool))
    return len(pool) + count


def run_hypothesis(name: str, one_input: OneInput, seeds: Callable[[], list[bytes]],
                   examples: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    pool = all_seeds(name, seeds)

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        base = draw(st.sampled_from(pool))
        return mutate(base, random.Random(draw(st.integers(0, 2**32))), pool)

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(mutated(), st.sampled_from(pool), st.binary(max_size=512)))
    def check(data: bytes) -> None:
        one_input(data)

    started = time.monotonic()
    check()
    print(f"fuzz_{name}: {examples} Hypothesis examples in {time.monotonic() - started:.1f}s, "
          "no finding")


def replay(name: str, one_input: OneInput, seeds: Callable[[], list[bytes]],
           dirs: list[Path]) -> None:
    """Every input once: the built-in seeds, the committed corpus and ``dirs`` (default: what
    atheris found, ``fuzz/.work/<name>``). Under coverage.py this measures a run's reach:

        coverage run --include='kproto/engine/*' fuzz/fuzz_framer.py --replay
    """
    inputs = all_seeds(name, seeds)
    for directory in dirs or [WORK_ROOT / name]:
        if directory.is_dir():
            inputs += [p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()]
    for data in inputs:
        one_input(data)
    print(f"fuzz_{name}: replayed {len(inputs)} inputs, no finding")


def run(name: str, one_input: OneInput, seeds: Callable[[], list[bytes]], doc: str) -> None:
    """The command line shared by every target (see the module docstring)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0], add_help=False)
    parser.add_argument("--hypothesis", action="store_true", help="use the fallback")
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=None, help="atheris: stop after this")
    parser.add_argument("--replay", action="store_true",
                        help="run every input of the corpus directories once (for coverage)")
    parser.add_argument("-h", "--help", action="store_true")
    args, rest = parser.parse_known_args()
    if args.help:
        print(doc)
        return
    if args.replay:
        replay(name, one_input, seeds, [Path(a) for a in rest if not a.startswith("-")])
        return
    try:
        import atheris
    except ImportError:
        atheris = None
    if args.hypothesis or atheris is None:
        if atheris is None and not args.hypothesis:
            print("atheris is not installed: running the Hypothesis fallback", file=sys.stderr)
        run_hypothesis(name, one_input, seeds, args.examples)
        return
    flags = [a for a in rest if a.startswith("-")]
    dirs = [a for a in rest if not a.startswith("-")]
    if not dirs:
        work = WORK_ROOT / name
        builtin = WORK_ROOT / f"{name}-seeds"
        for directory in (work, builtin):
            directory.mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(seeds()):
            (builtin / f"seed-{i:04d}").write_bytes(data)
        dirs = [str(work), str(builtin)]
        if (CORPUS_ROOT / name).is_dir():
            dirs.append(str(CORPUS_ROOT / name))
    if args.seconds is not None:
        flags.append(f"-max_total_time={args.seconds}")
    atheris.Setup([sys.argv[0], *flags, *dirs], one_input)
    atheris.Fuzz()
