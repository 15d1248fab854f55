"""Consumer-group scaling: 1 and 2 member processes of one client reading a 12-partition topic
through a consumer group, as a user scales out by adding members.

Each member is its own process (multiprocessing, spawn), so two members get two interpreters
as they would in production. The members publish, per partition, the highest position any of
them has read (shared memory); the run is done when every partition's position reaches its
end. The clock runs from the first record any member reads (the group's first join is left
out, as the throughput runs leave out connecting) to the last record that completed a
partition; a rebalance while the second member joins is inside the clock, and so are records
read twice across it -- what a group costs. Reported: records/s of the whole group.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

from bench.common import unique

PARTITIONS = 12
POLL_MAX = 500
"""Records per poll for every client (Java's and kafka-python's max.poll.records default)."""


class Shared:
    """What members publish: per-partition positions, first and last read times."""

    def __init__(self, ctx: Any, members: int) -> None:
        self.positions = ctx.Array("q", PARTITIONS)
        self.first = ctx.Array("d", [0.0] * members)
        self.first_n = ctx.Array("q", members)
        self.last = ctx.Array("d", [0.0] * members)
        self.stop = ctx.Event()

    def note(self, member: int, progress: dict[int, int], records: int) -> None:
        """After a poll returned ``records`` records, reaching ``progress`` per partition."""
        now = time.perf_counter()
        if not self.first[member]:
            self.first[member], self.first_n[member] = now, records
        with self.positions.get_lock():
            for p, pos in progress.items():
                if pos > self.positions[p]:
                    self.positions[p] = pos
        self.last[member] = now


def _kproto(module_name: str, bootstrap: str, topic: str, group: str, shared: Shared,
            member: int) -> None:
    import importlib

    module = importlib.import_module(module_name)

    def note(batch: Any) -> None:
        shared.note(member, {tp[1]: ms[-1].offset + 1 for tp, ms in batch.items() if ms},
                    sum(len(ms) for ms in batch.values()))

    if module_name == "kproto_threads":
        with module.GroupConsumer(bootstrap, group_id=group, auto_offset_reset="earliest",
                                  enable_auto_commit=False) as c:
            c.subscribe([topic])
            while not shared.stop.is_set():
                batch = c.getmany(max_records=POLL_MAX, timeout=0.1)
                if batch:
                    note(batch)
        return

    async def main() -> None:
        async with module.GroupConsumer(bootstrap, group_id=group,
                                        auto_offset_reset="earliest",
                                        enable_auto_commit=False) as c:
            c.subscribe([topic])
            while not shared.stop.is_set():
                batch = await c.getmany(max_records=POLL_MAX, timeout=0.1)
                if batch:
                    note(batch)

    if module_name == "kproto_trio":
        import trio

        trio.run(main)
    else:
        asyncio.run(main())


def kproto_threads(*args: Any) -> None:
    _kproto("kproto_threads", *args)


def kproto_asyncio(*args: Any) -> None:
    _kproto("kproto_asyncio", *args)


def kproto_trio(*args: Any) -> None:
    _kproto("kproto_trio", *args)


def aiokafka(bootstrap: str, topic: str, group: str, shared: Shared, member: int) -> None:
    from aiokafka import AIOKafkaConsumer

    async def main() -> None:
        c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False)
        await c.start()
        try:
            while not shared.stop.is_set():
                batch = await c.getmany(timeout_ms=100, max_records=POLL_MAX)
                if batch:
                    shared.note(member, {tp.partition: ms[-1].offset + 1
                                         for tp, ms in batch.items() if ms},
                                sum(len(ms) for ms in batch.values()))
        finally:
            await c.stop()

    asyncio.run(main())


def confluent_kafka(bootstrap: str, topic: str, group: str, shared: Shared, member: int) -> None:
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "fetch.queue.backoff.ms": 10})
    c.subscribe([topic])
    try:
        while not shared.stop.is_set():
            progress: dict[int, int] = {}
            records = 0
            for m in c.consume(num_messages=POLL_MAX, timeout=0.1):
                p, offset = m.partition(), m.offset()
                if m.error() is None and p is not None and offset is not None:
                    records += 1
                    progress[p] = max(progress.get(p, 0), offset + 1)
            if progress:
                shared.note(member, progress, records)
    finally:
        c.close()


def kafka_python(bootstrap: str, topic: str, group: str, shared: Shared, member: int) -> None:
    from kafka import KafkaConsumer

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                      auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        while not shared.stop.is_set():
            batch = c.poll(timeout_ms=100, max_records=POLL_MAX)
            if batch:
                shared.note(member, {tp.partition: ms[-1].offset + 1
                                     for tp, ms in batch.items() if ms},
                            sum(len(ms) for ms in batch.values()))
    finally:
        c.close()


CLIENTS: dict[str, Callable[..., None]] = {
    "kproto-threads": kproto_threads,
    "kproto-asyncio": kproto_asyncio,
    "kproto-trio": kproto_trio,
    "kafka-python": kafka_python,
    "aiokafka": aiokafka,
    "confluent-kafka": confluent_kafka,
}


def run(client: str, bootstrap: str, topic: str, ends: list[int], members: int,
        timeout: float = 300.0) -> float:
    """Records/s of ``members`` processes of ``client`` reading ``topic`` to ``ends``."""
    ctx = multiprocessing.get_context("spawn")
    shared = Shared(ctx, members)
    group = unique(f"bench-{client}")
    procs = [ctx.Process(target=CLIENTS[client], args=(bootstrap, topic, group, shared, i),
                         daemon=True) for i in range(members)]
    for proc in procs:
        proc.start()
    deadline = time.monotonic() + timeout
    try:
        while any(shared.positions[p] < ends[p] for p in range(PARTITIONS)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{client} x{members} did not read the topic in {timeout:.0f} s")
            dead = [proc for proc in procs if proc.exitcode is not None]
            if dead:
                raise RuntimeError(f"{client} member exited with {dead[0].exitcode}")
            time.sleep(0.01)
    finally:
        shared.stop.set()
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    # The clock starts at the first poll that returned records, so that poll's records are
    # not inside it.
    starter = min((t, i) for i, t in enumerate(shared.first) if t)[1]
    timed = sum(ends) - shared.first_n[starter]
    elapsed = max(shared.last) - shared.first[starter]
    if timed <= 0 or elapsed <= 0:
        raise RuntimeError("every record came in the first poll: too few records to time")
    return float(timed / elapsed)
