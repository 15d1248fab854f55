"""Coverage-guided fuzzing of kproto.records.decode_batches.

The property: on any input the decoder returns a DecodeResult or raises a KprotoError;
any other exception, or a result that does not add up, is a finding.

With atheris installed (``pip install atheris``) this is a libFuzzer target:

    .venv/bin/python fuzz/fuzz_records.py [corpus_dir] -max_total_time=300

Without atheris it falls back to Hypothesis, seeded with valid batches of every magic and
codec and mutating them:

    .venv/bin/python fuzz/fuzz_records.py --examples 20000

The first input byte picks a mode: CRC checks off, CRCs of v2 batches recomputed after
mutation (so mutations reach the record parser with checks on), or the bytes as they are.
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

from crc32c import crc32c

from kproto.errors import KprotoError
from kproto.records import BatchBuilder, Compression, decode_batches

MAX_DECOMPRESSED = 1 << 20


def refresh_crcs(data: bytearray) -> None:
    """Recompute the CRC of every v2 batch whose bounds are plausible."""
    pos = 0
    n = len(data)
    while n - pos >= 61:
        (length,) = struct.unpack_from(">i", data, pos + 8)
        end = pos + 12 + length
        if length < 49 or end > n:
            return
        if data[pos + 16] == 2:
            struct.pack_into(">I", data, pos + 17, crc32c(bytes(data[pos + 21 : end])))
        pos = end


def one_input(raw: bytes) -> None:
    if not raw:
        return
    mode = raw[0] % 3
    body = bytearray(raw[1:])
    if mode == 1:
        refresh_crcs(body)
    data = bytes(body)
    try:
        result = decode_batches(data, check_crcs=mode != 0, max_decompressed_bytes=MAX_DECOMPRESSED)
    except KprotoError:
        return
    if not 0 <= result.trailing_bytes <= len(data):
        raise AssertionError(f"trailing_bytes {result.trailing_bytes} out of range")
    used = sum(b.size_in_bytes for b in result.batches)
    if used + result.trailing_bytes != len(data):
        raise AssertionError("batch sizes and trailing bytes do not cover the input")


def seeds() -> list[bytes]:
    out = []
    for magic in (0, 1, 2):
        for codec in Compression:
            if magic < 2 and codec == Compression.ZSTD:
                continue
            b = BatchBuilder(magic=magic, compression=codec, base_offset=5)
            b.append(1, b"key", b"value" * 3, [("h", b"v"), ("n", None)] if magic == 2 else ())
            b.append(2, None, b"")
            built = b.build()
            for mode in (0, 1, 2):
                out.append(bytes([mode]) + built)
    return out


def run_atheris(argv: list[str]) -> None:
    import atheris

    atheris.instrument_all()
    corpus = [a for a in argv[1:] if not a.startswith("-")]
    if corpus:
        directory = Path(corpus[0])
        directory.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds()):
            path = directory / f"seed-{i:03d}"
            if not path.exists():
                path.write_bytes(seed)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def run_hypothesis(examples: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seed_list = seeds()

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seed_list)))
        for _ in range(draw(st.integers(min_value=0, max_value=6))):
            if len(data) < 2:
                break
            pos = draw(st.integers(min_value=1, max_value=len(data) - 1))
            op = draw(st.integers(min_value=0, max_value=3))
            if op == 0:
                data[pos] ^= 1 << draw(st.integers(min_value=0, max_value=7))
            elif op == 1:
                data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
            elif op == 2:
                del data[pos : pos + draw(st.integers(min_value=1, max_value=8))]
            else:
                data[pos] = draw(st.integers(min_value=0, max_value=255))
        return bytes(data)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(mutated(), st.binary(max_size=400)))
    def target(data: bytes) -> None:
        one_input(data)

    target()
    print(f"hypothesis fallback: {examples} inputs, no finding")


def main() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--hypothesis", action="store_true", help="use the fallback")
    args, rest = parser.parse_known_args()
    try:
        import atheris  # noqa: F401

        have_atheris = not args.hypothesis
    except ImportError:
        have_atheris = False
    if have_atheris:
        run_atheris([sys.argv[0], *rest])
    else:
        run_hypothesis(args.examples)


if __name__ == "__main__":
    main()
