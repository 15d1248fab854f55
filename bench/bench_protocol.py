"""Codec speed: kproto's generated codecs next to kafka-python's protocol classes.

Encodes and decodes the same two responses with both libraries in one run and prints
operations per second (best of 7 interleaved rounds) and the ratio (kproto / kafka-python;
above 1 means kproto is faster):

- a MetadataResponse describing 1,000 partitions (10 topics of 100, 3 brokers), and
- a FetchResponse with 100 partitions (4 topics of 25) carrying 1 KiB of record bytes each.

Both are timed at a non-flexible and at a flexible version. The script first checks that the
two libraries produce the same bytes, so the comparison is like for like.

    .venv/bin/python bench/bench_protocol.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import kproto.protocol as kp
from kproto.protocol.messages import fetch_response as kfr
from kproto.protocol.messages import metadata_response as kmr

try:
    from kafka.protocol.consumer import FetchResponse as KPyFetchResponse
    from kafka.protocol.metadata import MetadataResponse as KPyMetadataResponse
except ImportError:  # pragma: no cover - the dev extra installs kafka-python
    KPyFetchResponse = KPyMetadataResponse = None

TOPICS, PARTITIONS_PER_TOPIC, BROKERS = 10, 100, 3
FETCH_TOPICS, FETCH_PARTITIONS = 4, 25
RECORDS = bytes(range(256)) * 4  # 1 KiB of opaque record-batch bytes per partition


def topic_ids(n: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=(i + 1) * 0x9E3779B97F4A7C15) for i in range(n)]


# ------------------------------------------------------------------------------ kproto


def kproto_metadata() -> kp.MetadataResponse:
    return kp.MetadataResponse(
        throttle_time_ms=0,
        brokers=[
            kmr.MetadataResponseBroker(node_id=b, host=f"broker-{b}.example", port=9092, rack=None)
            for b in range(BROKERS)
        ],
        cluster_id="bench-cluster",
        controller_id=0,
        topics=[
            kmr.MetadataResponseTopic(
                error_code=0,
                name=f"topic-{t}",
                topic_id=tid,
                is_internal=False,
                partitions=[
                    kmr.MetadataResponsePartition(
                        error_code=0,
                        partition_index=p,
                        leader_id=p % BROKERS,
                        leader_epoch=3,
                        replica_nodes=[p % BROKERS, (p + 1) % BROKERS, (p + 2) % BROKERS],
                        isr_nodes=[p % BROKERS, (p + 1) % BROKERS, (p + 2) % BROKERS],
                        offline_replicas=[],
                    )
                    for p in range(PARTITIONS_PER_TOPIC)
                ],
            )
            for t, tid in enumerate(topic_ids(TOPICS))
        ],
    )


def kproto_fetch() -> kp.FetchResponse:
    return kp.FetchResponse(
        throttle_time_ms=0,
        error_code=0,
        session_id=0,
        responses=[
            kfr.FetchableTopicResponse(
                topic=f"topic-{t}",
                partitions=[
                    kfr.PartitionData(
                        partition_index=p,
                        error_code=0,
                        high_watermark=1000 + p,
                        last_stable_offset=1000 + p,
                        log_start_offset=0,
                        aborted_transactions=None,
                        preferred_read_replica=-1,
                        records=RECORDS,
                    )
                    for p in range(FETCH_PARTITIONS)
                ],
            )
            for t in range(FETCH_TOPICS)
        ],
    )


# ------------------------------------------------------------------------------ kafka-python


def kpy_metadata() -> Any:
    resp = KPyMetadataResponse
    topic = resp.MetadataResponseTopic
    partition = topic.MetadataResponsePartition
    return resp(
        throttle_time_ms=0,
        brokers=[
            resp.MetadataResponseBroker(node_id=b, host=f"broker-{b}.example", port=9092, rack=None)
            for b in range(BROKERS)
        ],
        cluster_id="bench-cluster",
        controller_id=0,
        topics=[
            topic(
                error_code=0,
                name=f"topic-{t}",
                topic_id=tid,
                is_internal=False,
                partitions=[
                    partition(
                        error_code=0,
                        partition_index=p,
                        leader_id=p % BROKERS,
                        leader_epoch=3,
                        replica_nodes=[p % BROKERS, (p + 1) % BROKERS, (p + 2) % BROKERS],
                        isr_nodes=[p % BROKERS, (p + 1) % BROKERS, (p + 2) % BROKERS],
                        offline_replicas=[],
                    )
                    for p in range(PARTITIONS_PER_TOPIC)
                ],
            )
            for t, tid in enumerate(topic_ids(TOPICS))
        ],
    )


def kpy_fetch() -> Any:
    resp = KPyFetchResponse
    topic = resp.FetchableTopicResponse
    partition = topic.PartitionData
    return resp(
        throttle_time_ms=0,
        error_code=0,
        session_id=0,
        responses=[
            topic(
                topic=f"topic-{t}",
                partitions=[
                    partition(
                        partition_index=p,
                        error_code=0,
                        high_watermark=1000 + p,
                        last_stable_offset=1000 + p,
                        log_start_offset=0,
                        aborted_transactions=None,
                        preferred_read_replica=-1,
                        records=RECORDS,
                    )
                    for p in range(FETCH_PARTITIONS)
                ],
            )
            for t in range(FETCH_TOPICS)
        ],
    )


# ------------------------------------------------------------------------------ timing


def _calibrate(fn: Callable[[], object], seconds: float) -> int:
    """How many calls of ``fn`` take at least ``seconds``."""
    fn()
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - start >= seconds:
            return n
        n *= 2


def _round(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def compare(
    mine: Callable[[], object], other: Callable[[], object], budget: float
) -> tuple[float, float]:
    """Ops/s of both, best of 7 interleaved rounds (so that load changes hit both alike)."""
    n_mine = _calibrate(mine, budget / 7)
    n_other = _calibrate(other, budget / 7)
    best_mine = best_other = float("inf")
    for _ in range(7):
        best_mine = min(best_mine, _round(mine, n_mine))
        best_other = min(best_other, _round(other, n_other))
    return 1.0 / best_mine, 1.0 / best_other


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing rounds")
    args = parser.parse_args()
    if KPyMetadataResponse is None:
        print("kafka-python is not installed (it comes with the dev extra)", file=sys.stderr)
        return 1
    budget = 0.5 if args.quick else 2.0
    cases = [
        ("MetadataResponse 1000 partitions", kproto_metadata(), kpy_metadata(), (1, 12)),
        ("FetchResponse 100 partitions", kproto_fetch(), kpy_fetch(), (4, 12)),
    ]
    print(f"Python {sys.version.split()[0]}; ops/s, best of 7; ratio = kproto / kafka-python")
    header = f"{'message':34} {'ver':>3} {'op':6} {'kproto':>10} {'kafka-python':>13} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for label, ours, theirs, versions in cases:
        for version in versions:
            ours_bytes = ours.encode(version)
            theirs_bytes = bytes(theirs.encode(version=version))
            if ours_bytes != theirs_bytes:
                print(f"{label} v{version}: the libraries encode differently", file=sys.stderr)
                return 1
            cls = type(ours)
            kpy_cls = type(theirs)
            rows = [
                (
                    "encode",
                    lambda o=ours, v=version: o.encode(v),
                    lambda t=theirs, v=version: t.encode(version=v),
                ),
                (
                    "decode",
                    lambda c=cls, d=ours_bytes, v=version: c.decode(d, v),
                    lambda c=kpy_cls, d=ours_bytes, v=version: c.decode(d, version=v),
                ),
            ]
            for op, mine, other in rows:
                a, b = compare(mine, other, budget)
                print(f"{label:34} {version:>3} {op:6} {a:>10,.0f} {b:>13,.0f} {a / b:>6.2f}")
            print(f"{'':34} {'':>3} {'bytes':6} {len(ours_bytes):>10,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
