"""Consume throughput from the embedded fake cluster, in-process: how fast the fake cluster
serves records of 100 B (and 1 KiB) to a kproto consumer on each transport, side by side.

The fake cluster must never be what limits a user's test suite: the target is 200,000
records/s of 100 B. One cluster (one broker), a single-partition topic per record size,
filled once by a kproto producer through the same ``fake://`` address (not timed). Each
transport's consumer then reads the whole partition from the oldest offset and touches every
message; the clock runs from ``consume_partition`` to the last message read. The
``fake-only`` row times the cluster alone (Fetch requests answered, the records not decoded):
what the fake costs, apart from the client. Prints records/s, MB/s and each rate as a ratio
of the target (above 1.0: faster than needed).

    .venv/bin/python bench/bench_fake.py [--records N] [--repeat R]
        [--only kproto-threads,kproto-asyncio,kproto-trio]

No broker and no java needed. The machine is shared and small: treat the numbers as ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "transports")]

from bench import consume  # noqa: E402  (the same timed consumers as against a broker)
from bench.common import make_values  # noqa: E402

TARGET = 200_000
"""Records/s of 100 B the fake cluster must serve, so that it never limits a test suite."""

def _one_partition(name: str) -> Callable[[str, str, int, int], float]:
    runner = consume.CLIENTS[name]
    return lambda bootstrap, topic, want, size: runner(bootstrap, topic, [want], size).wall


CLIENTS: dict[str, Callable[[str, str, int, int], float]] = {
    name: _one_partition(name) for name in ("kproto-threads", "kproto-asyncio", "kproto-trio")
}


def fill(bootstrap: str, topic: str, values: list[bytes]) -> None:
    import kproto_threads as kt
    from kproto import ProducerMessage

    with kt.AsyncProducer(bootstrap, linger=0.005, batch_size=1_000_000) as p:
        for value in values:
            p.send(ProducerMessage(topic, value, partition=0))
        p.flush(600)
        assert len(p.errors) == 0, "the fill failed"


def server_only(cluster: object, topic: str, want: int, size: int) -> float:
    """The fake cluster alone: Fetch requests in, response bytes out (no client decoding
    the records), reading the partition from offset 0 to its end, 1 MiB per response."""
    import struct
    import time

    from kproto import protocol
    from kproto.protocol.messages import fetch_request as fq
    from kproto.testing import FakeCluster

    assert isinstance(cluster, FakeCluster)
    conn = cluster.connect_node(next(iter(cluster.brokers)), 0.0)
    assert conn is not None
    offset = correlation = 0
    start = time.perf_counter()
    while offset < want:
        correlation += 1
        req = protocol.FetchRequest(
            max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, isolation_level=0,
            session_id=0, session_epoch=-1, topics=[fq.FetchTopic(topic=topic, partitions=[
                fq.FetchPartition(partition=0, fetch_offset=offset, current_leader_epoch=-1,
                                  partition_max_bytes=1 << 20)])])
        conn.receive_data(protocol.encode_request(req, 11, correlation, "bench"), 0.0)
        frame = conn.data_to_send()[4:]
        resp: Any = protocol.decode_response(frame, req.API_KEY, 11)[1]
        records = resp.responses[0].partitions[0].records
        pos = 0
        while pos + 27 <= len(records):  # batch headers: base offset, length, last delta
            base, length = struct.unpack_from(">qi", records, pos)
            (delta,) = struct.unpack_from(">i", records, pos + 23)
            offset = base + delta + 1
            pos += 12 + length
    elapsed = time.perf_counter() - start
    assert offset == want, f"read to offset {offset}, expected {want}"
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000,
                        help="records of 100 B (the 1 KiB topic holds a quarter)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client; best kept")
    parser.add_argument("--only", help="comma-separated client names")
    args = parser.parse_args()
    clients = args.only.split(",") if args.only else list(CLIENTS)
    unknown = sorted(set(clients) - set(CLIENTS))
    if unknown:
        parser.error(f"unknown client(s) {', '.join(unknown)}; known: {', '.join(CLIENTS)}")
    from kproto.testing import FakeCluster

    cluster = FakeCluster(1)
    print(f"fake cluster {cluster.bootstrap} (in-process); best of {args.repeat} runs; "
          f"one partition, uncompressed\n")
    header = f"{'scenario':<10} {'client':<16} {'msgs/s':>11} {'MB/s':>8} {'/ target':>9}"
    print(header)
    print("-" * len(header))
    for size in (100, 1024):
        count = args.records if size == 100 else max(1, args.records // 4)
        topic = f"bench-fake-{size}"
        cluster.create_topic(topic, 1)
        fill(cluster.bootstrap, topic, make_values(count, size))
        for name in ["fake-only", *clients]:
            if name == "fake-only":
                times = [server_only(cluster, topic, count, size) for _ in range(args.repeat)]
            else:
                times = [CLIENTS[name](cluster.bootstrap, topic, count, size)
                         for _ in range(args.repeat)]
            best = min(times)
            print(f"{f'{size} B':<10} {name:<16} {count / best:>11,.0f} "
                  f"{count * size / best / 1e6:>8.1f} {count / best / TARGET:>9.2f}"
                  f"   (median {count / statistics.median(times):,.0f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
