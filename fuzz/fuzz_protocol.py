"""Coverage-guided fuzzing of every protocol decoder (atheris), with a Hypothesis fallback.

Each input picks a target with its first two bytes (every message at every version, plus the
request and response frame decoders) and feeds it the rest. A target may only raise
``DecodeError``; anything else is a bug. When decoding succeeds, the message must encode again,
and encoding what that decodes to must give the same bytes (the canonical form is stable).

    python fuzz/fuzz_protocol.py --corpus-out fuzz/corpus      # write a seed corpus
    python fuzz/fuzz_protocol.py fuzz/corpus -max_total_time=600  # atheris (libFuzzer flags)
    python fuzz/fuzz_protocol.py --hypothesis --examples 20000    # without atheris

See docs/protocol.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

try:
    import atheris
except ImportError:  # the Hypothesis fallback below needs no extra package
    atheris = None

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if atheris is not None:
    with atheris.instrument_imports(include=["kproto"]):
        import kproto.protocol as protocol
        from kproto.errors import DecodeError
else:
    import kproto.protocol as protocol
    from kproto.errors import DecodeError

Target = Callable[[bytes], None]


def _message_targets() -> list[tuple[str, Target]]:
    targets: list[tuple[str, Target]] = []
    for name in protocol.__all__:
        cls = getattr(protocol, name)
        if not (isinstance(cls, type) and issubclass(cls, protocol.Message)):
            continue
        if cls is protocol.Message:
            continue
        for version in range(cls.MIN_VERSION, cls.MAX_VERSION + 1):
            targets.append((f"{name} v{version}", _message_target(cls, version)))
    return targets


def _message_target(cls: type[protocol.Message], version: int) -> Target:
    def run(data: bytes) -> None:
        try:
            msg = cls.decode(data, version)
        except DecodeError:
            return
        canonical = msg.encode(version)
        again = cls.decode(canonical, version).encode(version)
        if again != canonical:
            raise AssertionError(f"{cls.NAME} v{version}: unstable canonical encoding")

    return run


def _decode_request(data: bytes) -> None:
    try:
        protocol.decode_request(data)
    except DecodeError:
        pass


def _response_target(key: int, version: int) -> Target:
    def run(data: bytes) -> None:
        try:
            protocol.decode_response(data, key, version)
        except DecodeError:
            pass

    return run


TARGETS: list[tuple[str, Target]] = [("decode_request", _decode_request)]
TARGETS += [
    (f"decode_response {spec.name} v{v}", _response_target(key, v))
    for key, spec in sorted(protocol.API_SPECS.items())
    for v in (spec.min_version, spec.max_version)
]
TARGETS += _message_targets()


def test_one_input(data: bytes) -> None:
    """The fuzz entry point: two selector bytes, then the input for that target."""
    if len(data) < 2:
        return
    index = int.from_bytes(data[:2], "big") % len(TARGETS)
    TARGETS[index][1](data[2:])


def seed_corpus(directory: Path) -> int:
    """Valid encodings of every message at every version (default values), one file each."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for index, (label, _) in enumerate(TARGETS):
        if " v" not in label or label.startswith("decode_"):
            continue
        name, _, version = label.rpartition(" v")
        cls = getattr(protocol, name)
        body = cls().encode(int(version))
        (directory / f"{index:04d}").write_bytes(index.to_bytes(2, "big") + body)
        count += 1
    return count


def run_hypothesis(examples: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    selector = st.integers(0, len(TARGETS) - 1).map(lambda i: i.to_bytes(2, "big"))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(prefix=selector, body=st.binary(max_size=512))
    def check(prefix: bytes, body: bytes) -> None:
        test_one_input(prefix + body)

    check()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=False)
    parser.add_argument("--corpus-out", type=Path)
    parser.add_argument("--hypothesis", action="store_true")
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("-h", "--help", action="store_true")
    args, rest = parser.parse_known_args()
    if args.help:
        print(__doc__)
        return
    if args.corpus_out is not None:
        print(f"wrote {seed_corpus(args.corpus_out)} seeds to {args.corpus_out}")
        return
    if args.hypothesis or atheris is None:
        if atheris is None and not args.hypothesis:
            print("atheris is not installed: running the Hypothesis fallback", file=sys.stderr)
        run_hypothesis(args.examples)
        print(f"{args.examples} examples over {len(TARGETS)} targets: no failure")
        return
    atheris.Setup([sys.argv[0], *rest], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
