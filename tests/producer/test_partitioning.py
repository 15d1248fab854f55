"""Partitioners inside the producer: sticky switching from the accumulator's reports,
consistency against leaderless partitions, and sarama's hash one option away; the producer
core on the fake cluster (a partition is leaderless while its only broker is stopped)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kproto.message_types import ProducerMessage
from kproto.partitioners import HashSign, fnv1a_32, hash_index, murmur2
from kproto.protocol import apis
from tests.producer.on_fake import OnFake

PLAIN: dict[str, Any] = {"idempotent": False, "acks": 1}


def partitions_of(msgs: Sequence[ProducerMessage]) -> list[int]:
    return [m.partition if m.partition is not None else -1 for m in msgs]


def warm(f: OnFake) -> OnFake:
    """Metadata in place, so the partitioner sees every partition and its leader."""
    f.client.core.add_topics(["t"], f.now)
    f.run_until(lambda: bool(f.requests(apis.METADATA)), limit=5)
    f.advance(0.01)
    return f


def on_fake(leaders: list[int], stopped: tuple[int, ...] = (), **options: Any) -> OnFake:
    f = OnFake(leaders=leaders, **options)
    for node in stopped:
        f.cluster.stop_broker(node, f.now)
    return warm(f)


def test_keyless_records_stick_to_a_partition_until_a_batch_is_full() -> None:
    f = on_fake([1, 1, 1, 1], batch_size=1000, linger=60.0, **PLAIN)
    msgs = [ProducerMessage("t", b"k" * 100) for _ in range(60)]
    for msg in msgs:
        f.producer.send(msg, f.now, 1)
    placed = partitions_of(msgs)
    runs: list[list[int]] = []
    for p in placed:
        if runs and runs[-1][0] == p:
            runs[-1].append(p)
        else:
            runs.append([p])
    assert len(runs) >= 4 and len(set(placed)) > 1
    # Each switch happens once the partition's batch is full (about 1000 bytes of records),
    # never after a single record, never beyond twice the batch size.
    for run in runs[:-1]:
        assert 7 <= len(run) <= 20
    f.producer.flush(f.now)
    f.run_until(lambda: len(f.delivered()) == 60)


def test_the_same_seed_places_keyless_records_the_same_way() -> None:
    def run(seed: int) -> list[int]:
        f = on_fake([1] * 5, batch_size=500, linger=60.0, seed=seed, **PLAIN)
        msgs = [ProducerMessage("t", b"v" * 50) for _ in range(100)]
        for msg in msgs:
            f.producer.send(msg, f.now, 1)
        return partitions_of(msgs)

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_keyed_records_wait_for_their_leaderless_partition_keyless_ones_avoid_it() -> None:
    f = on_fake([1, 2, 1], stopped=(2,), **PLAIN)  # partition 1 has no leader
    keys = [b"key-%d" % i for i in range(40)]
    stuck = [k for k in keys if (murmur2(k) & 0x7FFFFFFF) % 3 == 1]
    assert stuck
    keyed = [ProducerMessage("t", b"v", key=k) for k in keys]
    keyless = [ProducerMessage("t", b"v") for _ in range(30)]
    for msg in keyed + keyless:
        f.producer.send(msg, f.now, 1)
    f.advance(2.0)
    assert {m.partition for m in keyless} <= {0, 2}
    assert all(m.partition == (murmur2(m.key or b"") & 0x7FFFFFFF) % 3 for m in keyed)
    assert all(m.offset == -1 for m in keyed if m.partition == 1)  # still waiting
    sent_to_1 = [p for r in f.requests(apis.PRODUCE) for t in r.topic_data
                 for p in t.partition_data if p.index == 1]
    assert sent_to_1 == []
    refreshes = len(f.requests(apis.METADATA))
    f.cluster.start_broker(2, f.now)  # the leader is back
    f.run_until(lambda: len(f.delivered()) == 70, limit=30)
    assert len(f.requests(apis.METADATA)) > refreshes
    keys_1 = [r.key for e in f.log(1).entries for r in e.records()]
    assert sorted(keys_1) == sorted(stuck)


def test_sarama_hash_is_one_option_away() -> None:
    f = on_fake([1] * 6, partitioner="sarama-hash", **PLAIN)
    msgs = [ProducerMessage("t", b"v", key=b"user-%d" % i) for i in range(50)]
    for msg in msgs:
        f.producer.send(msg, f.now, 1)
    assert partitions_of(msgs) == [hash_index(fnv1a_32(m.key or b""), 6, HashSign.SARAMA)
                                        for m in msgs]


class HalfConsistent:
    """Keys starting with "c" need their own partition; the rest take any writable one."""

    requires_consistency = False

    def message_requires_consistency(self, key: bytes | None) -> bool:
        return bool(key) and key.startswith(b"c")  # type: ignore[union-attr]

    def partition(self, key: bytes | None, value_size: int, partitions: Sequence[int]) -> int:
        return len(partitions) - 1  # the last candidate


def test_dynamic_consistency_per_record() -> None:
    f = on_fake([1, 1, 2], stopped=(2,), partitioner=HalfConsistent(), **PLAIN)
    consistent = ProducerMessage("t", b"v", key=b"c1")
    loose = ProducerMessage("t", b"v", key=b"x1")
    f.producer.send(consistent, f.now, 1)
    f.producer.send(loose, f.now, 1)
    assert (consistent.partition, loose.partition) == (2, 1)
