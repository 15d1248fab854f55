"""Record batch encode/decode throughput: kproto next to kafka-python and aiokafka.

For each codec it builds one v2 batch of 10,000 records of 100 B and one of 1,000 records of
1 KiB with each library, and decodes the same kproto-built batch with each library (every
record's offset, timestamp, key, value and headers touched). Prints records per second and
kproto's speed as a ratio of each peer's (above 1.0 means kproto is faster).

    .venv/bin/python bench/bench_records.py [--repeat N] [--codec gzip ...]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from kproto.records import BatchBuilder, Compression, decode_batches

Rows = list[tuple[int, bytes, bytes]]
WORDS = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf", b"hotel"]


def make_rows(count: int, size: int, seed: int = 7) -> Rows:
    """Values of `size` bytes, text-like so that codecs have something to find."""
    rng = random.Random(seed)
    rows = []
    ts = 1_700_000_000_000
    for i in range(count):
        parts = []
        n = 0
        while n < size:
            w = rng.choice(WORDS) + b"=%d;" % rng.randrange(100000)
            parts.append(w)
            n += len(w)
        rows.append((ts + i, b"key-%d" % (i % 1000), b"".join(parts)[:size]))
    return rows


# ----------------------------------------------------------------------------- encoders


def kproto_encode(codec: int, rows: Rows) -> bytes:
    b = BatchBuilder(compression=Compression(codec), max_bytes=1 << 30)
    append = b.append
    for ts, key, value in rows:
        append(ts, key, value)
    return b.build()


def peer_encoder(module: Any) -> Callable[[int, Rows], bytes]:
    def encode(codec: int, rows: Rows) -> bytes:
        b = module.DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 1 << 30)
        append = b.append
        for i, (ts, key, value) in enumerate(rows):
            append(i, ts, key, value, [])
        return bytes(b.build())

    return encode


# ----------------------------------------------------------------------------- decoders


def kproto_decode(data: bytes) -> int:
    n = 0
    for batch in decode_batches(data).batches:
        for r in batch.records:
            r.offset, r.timestamp, r.key, r.value, r.headers  # noqa: B018
            n += 1
    return n


def peer_decoder(module: Any) -> Callable[[bytes], int]:
    def decode(data: bytes) -> int:
        records = module.MemoryRecords(data)
        n = 0
        while records.has_next():
            batch = records.next_batch()
            if batch is None:
                break
            for r in batch:
                r.offset, r.timestamp, r.key, r.value, r.headers  # noqa: B018
                n += 1
        return n

    return decode


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (best is kept)")
    parser.add_argument(
        "--codec", action="append", choices=[c.name.lower() for c in Compression], help="only these"
    )
    args = parser.parse_args(argv)

    encoders: dict[str, Callable[[int, Rows], bytes]] = {"kproto": kproto_encode}
    decoders: dict[str, Callable[[bytes], int]] = {"kproto": kproto_decode}
    try:
        import kafka.record.default_records as kp_default
        import kafka.record.memory_records as kp_memory

        encoders["kafka-python"] = peer_encoder(kp_default)
        decoders["kafka-python"] = peer_decoder(kp_memory)
    except ImportError:
        print("kafka-python not installed: skipped", file=sys.stderr)
    try:
        import aiokafka.record.default_records as aio_default
        import aiokafka.record.memory_records as aio_memory

        encoders["aiokafka"] = peer_encoder(aio_default)
        decoders["aiokafka"] = peer_decoder(aio_memory)
    except ImportError:
        print("aiokafka not installed: skipped", file=sys.stderr)

    codecs = [c for c in Compression if not args.codec or c.name.lower() in args.codec]
    workloads = [
        ("10000 x 100 B", make_rows(10_000, 100)),
        ("1000 x 1 KiB", make_rows(1_000, 1024)),
    ]
    peers = [name for name in encoders if name != "kproto"]

    header = f"{'codec':6} {'workload':14} {'op':6} " + " ".join(f"{n:>14}" for n in encoders)
    header += "  " + " ".join(f"{'vs ' + p:>16}" for p in peers)
    print(f"records per second (best of {args.repeat}); ratio = kproto speed / peer speed")
    print(header)
    for codec in codecs:
        for label, rows in workloads:
            raw = kproto_encode(codec, rows)
            count = len(rows)
            for op in ("encode", "decode"):
                rates: dict[str, float] = {}
                for name in encoders:
                    if op == "encode":
                        enc = encoders[name]
                        secs = best_of(args.repeat, lambda enc=enc, c=codec, r=rows: enc(c, r))
                    else:
                        dec = decoders[name]
                        assert dec(raw) == count, name
                        secs = best_of(args.repeat, lambda dec=dec, b=raw: dec(b))
                    rates[name] = count / secs
                line = f"{codec.name.lower():6} {label:14} {op:6} "
                line += " ".join(f"{rates[n]:>14,.0f}" for n in encoders)
                line += "  " + " ".join(f"{rates['kproto'] / rates[p]:>16.2f}" for p in peers)
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
