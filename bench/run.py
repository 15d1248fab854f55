"""``./dev bench``: kproto against its peers, one table.

Starts a Kafka broker with the test harness (or uses --bootstrap) and measures, with the
clients alternating round-robin inside each scenario (best of --repeat):

- produce and consume throughput (records/s, MB/s, process CPU seconds per million records)
  for 100 B and 1 KiB values, uncompressed and lz4, 1 and 6 partitions: kproto on each
  transport (per-record API, and batch API where this kproto has one), kafka-python,
  aiokafka, confluent-kafka, and Kafka's own Java perf tools as the machine's ceiling;
- end-to-end latency (p50/p99/max) at a fixed 5,000 records/s for each client;
- a consumer group of 1 and 2 member processes reading 12 partitions (records/s in total).

Each kproto row carries its ratio to aiokafka and to confluent-kafka (throughput: kproto /
peer, latency: peer p99 / kproto p99 -- above 1.0 kproto is better either way).

    ./dev bench [--quick] [--only SECTION|CLIENT,...] [--records N] [--repeat R]
                [--bootstrap HOST:PORT] [--json out.json] [--chart out.png]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import consume, group, java, latency, produce
from bench.common import Broker, NotAvailable, Timing, make_values, per_partition, unique

SECTIONS = ("produce", "consume", "latency", "group")
CLIENTS = ("kproto-threads", "kproto-asyncio", "kproto-trio", "kproto-threads-batch",
           "kproto-asyncio-batch", "kproto-trio-batch", "kafka-python", "aiokafka",
           "confluent-kafka", "java")
PEERS = ("aiokafka", "confluent-kafka")
SIZES, CODECS, PARTITIONS = (100, 1024), ("none", "lz4"), (1, 6)
RATE = 5000
COLUMNS = ("test", "scenario", "client", "records/s", "MB/s", "CPU s/M", "p50 ms", "p99 ms",
           "max ms", "vs aiokafka", "vs confluent")
NA = "n/a (not available)"


@dataclass
class Row:
    test: str
    scenario: str
    client: str
    rate: float | None = None
    mb: float | None = None
    cpu: float | None = None
    lat: tuple[float, float, float] | None = None
    ratios: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def cells(self) -> list[str]:
        def num(v: float | None, fmt: str) -> str:
            return "" if v is None else format(v, fmt)

        if self.note:
            return [self.test, self.scenario, self.client, self.note] + [""] * 7
        lat = self.lat or (None, None, None)
        return [self.test, self.scenario, self.client, num(self.rate, ",.0f"),
                num(self.mb, ".1f"), num(self.cpu, ".2f"), num(lat[0], ".1f"),
                num(lat[1], ".1f"), num(lat[2], ".1f"),
                num(self.ratios.get("aiokafka"), ".2f"),
                num(self.ratios.get("confluent-kafka"), ".2f")]

    def as_json(self) -> dict[str, Any]:
        return {"test": self.test, "scenario": self.scenario, "client": self.client,
                "records_per_s": self.rate, "mb_per_s": self.mb, "cpu_s_per_m": self.cpu,
                "latency_ms": None if self.lat is None else dict(zip(("p50", "p99", "max"),
                                                                     self.lat, strict=True)),
                "ratios": self.ratios, "note": self.note}


@dataclass
class Settings:
    records: int
    repeat: int
    duration: float
    group_records: int
    scenarios: list[tuple[int, str, int]]
    sections: list[str]
    clients: list[str]


def scenario_name(size: int, codec: str, partitions: int) -> str:
    return f"{'100 B' if size == 100 else '1 KiB'} {codec} p{partitions}"


def count_for(records: int, size: int) -> int:
    """1 KiB runs move a quarter of the records: about 2.5x the bytes of the 100 B runs."""
    return records if size == 100 else max(1, records // 4)


def _failure(exc: BaseException) -> str:
    if isinstance(exc, NotAvailable):
        return NA
    if isinstance(exc, ImportError):
        return f"n/a (not installed: {exc.name})"
    return f"failed: {type(exc).__name__}: {str(exc)[:60]}"


def _rounds(clients: list[str], repeat: int, once: Callable[[str], Timing],
            log: Callable[[str], None]) -> dict[str, Timing | str]:
    """Run every client ``repeat`` times, round-robin (each round starts one client later, so
    no client always follows the same one); keep each client's fastest run."""
    best: dict[str, Timing | str] = {}
    for r in range(repeat):
        order = clients[r % len(clients):] + clients[:r % len(clients)]
        for name in order:
            if isinstance(best.get(name), str):
                continue  # unavailable or failed: once says so, not R times
            gc.collect()
            try:
                t = once(name)
            except Exception as exc:
                best[name] = _failure(exc)
                log(f"  {name}: {best[name]}")
                continue
            prev = best.get(name)
            if not isinstance(prev, Timing) or t.wall < prev.wall:
                best[name] = t
    return best


def _throughput_rows(test: str, scenario: str, count: int, size: int,
                     best: dict[str, Timing | str]) -> list[Row]:
    rows = []
    for name, t in best.items():
        if isinstance(t, str):
            rows.append(Row(test, scenario, name, note=t))
            continue
        rows.append(Row(test, scenario, name, rate=count / t.wall,
                        mb=count * size / t.wall / 1e6, cpu=t.cpu / count * 1e6))
    rates = {r.client: r.rate for r in rows if r.rate}
    for row in rows:
        if row.client.startswith("kproto") and row.rate:
            row.ratios = {p: row.rate / rates[p] for p in PEERS if rates.get(p)}
    return rows


def bench_produce(broker: Broker, s: Settings, log: Callable[[str], None]) -> list[Row]:
    rows: list[Row] = []
    java_version = broker.java_version()
    for size, codec, parts in s.scenarios:
        count = count_for(s.records, size)
        values = make_values(count, size)
        scenario = scenario_name(size, codec, parts)
        log(f"produce {scenario}: {count:,} records")

        # Every run gets a fresh topic, all created before the first run: a topic's
        # partitions may refuse produce requests (NOT_LEADER) for a moment after its
        # metadata lists their leaders, and that moment would fall on one client's clock.
        topics = {name: [unique(f"bench-p-{size}-{codec}-{parts}") for _ in range(s.repeat)]
                  for name in s.clients}
        for names in topics.values():
            for topic in names:
                broker.create_topic(topic, parts)

        def once(name: str, codec: str = codec, values: list[bytes] = values,
                 topics: dict[str, list[str]] = topics) -> Timing:
            topic = topics[name].pop()
            if name == "java":
                return java.produce(java_version, broker.bootstrap, topic, values, codec)
            return produce.CLIENTS[name](broker.bootstrap, topic, values, codec)

        rows += _throughput_rows("produce", scenario, count, size,
                                 _rounds(s.clients, s.repeat, once, log))
    return rows


def bench_consume(broker: Broker, s: Settings, log: Callable[[str], None]) -> list[Row]:
    rows: list[Row] = []
    java_version = broker.java_version()
    for size, codec, parts in s.scenarios:
        count = count_for(s.records, size)
        scenario = scenario_name(size, codec, parts)
        log(f"consume {scenario}: {count:,} records")
        topic = unique(f"bench-c-{size}-{codec}-{parts}")
        broker.create_topic(topic, parts)
        broker.fill(topic, make_values(count, size), parts, codec)
        counts = per_partition(count, parts)

        def once(name: str, topic: str = topic, counts: list[int] = counts,
                 size: int = size) -> Timing:
            if name == "java":
                return java.consume(java_version, broker.bootstrap, topic, counts, size)
            return consume.CLIENTS[name](broker.bootstrap, topic, counts, size)

        rows += _throughput_rows("consume", scenario, count, size,
                                 _rounds(s.clients, s.repeat, once, log))
    return rows


def bench_latency(broker: Broker, s: Settings, log: Callable[[str], None]) -> list[Row]:
    """Each client ``repeat`` times, round-robin as the throughput sections (each round starts
    one client later), each run on a topic of its own; a client's row is its run with the
    lowest p99. Run once each in a fixed order, the first client always ran right after the
    consume section (the broker still busy with its logs) and one load spike of a shared
    machine decided a client's p99 alone."""
    total = max(1, int(RATE * s.duration))
    scenario = f"100 B at {RATE:,}/s, {s.duration:g} s"
    log(f"latency {scenario}")
    # the per-record rows measure a batch client: a batch call adds nothing at a fixed rate
    listed = [name for name in s.clients if not name.endswith("-batch")]
    names = [name for name in listed if name in latency.CLIENTS]
    best: dict[str, tuple[float, float, float] | str] = {
        name: "n/a (no rate-paced mode)" for name in listed if name not in latency.CLIENTS}
    for r in range(s.repeat if names else 0):
        for name in names[r % len(names):] + names[:r % len(names)]:
            if isinstance(best.get(name), str):
                continue  # unavailable or failed: said once, not R times
            topic = unique("bench-lat")
            broker.create_topic(topic, 1)
            gc.collect()
            try:
                lat = latency.CLIENTS[name](broker.bootstrap, topic, RATE, total)
                if len(lat) < total:
                    raise RuntimeError(f"{len(lat)} of {total} records arrived")
            except Exception as exc:
                best[name] = _failure(exc)
                log(f"  {name}: {best[name]}")
                continue
            got = latency.percentiles(lat)
            log(f"  {name}: p50 {got[0]:.1f} p99 {got[1]:.1f} max {got[2]:.1f} ms")
            prev = best.get(name)
            if not isinstance(prev, tuple) or got[1] < prev[1]:
                best[name] = got
    rows: list[Row] = []
    for name in listed:
        kept = best[name]
        rows.append(Row("latency", scenario, name, note=kept) if isinstance(kept, str)
                    else Row("latency", scenario, name, lat=kept))
    p99 = {r.client: r.lat[1] for r in rows if r.lat}
    for row in rows:
        if row.client.startswith("kproto") and row.lat:
            row.ratios = {p: p99[p] / row.lat[1] for p in PEERS if p99.get(p)}
    return rows


def bench_group(broker: Broker, s: Settings, log: Callable[[str], None]) -> list[Row]:
    count = s.group_records
    topic = unique("bench-group")
    broker.create_topic(topic, group.PARTITIONS)
    broker.fill(topic, make_values(count, 100), group.PARTITIONS)
    ends = per_partition(count, group.PARTITIONS)
    rows: list[Row] = []
    for members in (1, 2):
        scenario = f"100 B, 12 partitions, {members} member{'s' if members > 1 else ''}"
        log(f"group {scenario}: {count:,} records")
        for name in s.clients:
            if name.endswith("-batch"):
                continue  # every member already polls up to 500 records at a time
            if name not in group.CLIENTS:
                rows.append(Row("group", scenario, name, note="n/a (no group mode)"))
                continue
            try:
                rate = group.run(name, broker.bootstrap, topic, ends, members)
            except Exception as exc:
                rows.append(Row("group", scenario, name, note=_failure(exc)))
                log(f"  {name}: {rows[-1].note}")
                continue
            rows.append(Row("group", scenario, name, rate=rate, mb=rate * 100 / 1e6))
        rates = {r.client: r.rate for r in rows if r.scenario == scenario and r.rate}
        for row in rows:
            if row.scenario == scenario and row.client.startswith("kproto") and row.rate:
                row.ratios = {p: row.rate / rates[p] for p in PEERS if rates.get(p)}
    return rows


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (printed, and pasted into docs/benchmarks.md)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    import kproto.records

    accelerated = getattr(kproto.records, "ACCELERATED", None)
    return {"cpus": os.cpu_count(), "cpu_model": model, "ram_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average": os.getloadavg()[0],
            "record_path": ("pure (only)" if accelerated is None
                            else "compiled" if accelerated else "pure")}


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, Settings]:
    parser = argparse.ArgumentParser(prog="./dev bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: few records, one run each, two scenarios, 0.5 s "
                             "of latency")
    parser.add_argument("--only", help="comma-separated sections (" + ", ".join(SECTIONS)
                        + ") and/or clients (" + ", ".join(CLIENTS) + ")")
    parser.add_argument("--records", type=int,
                        help="records per 100 B run (1 KiB runs move a quarter); "
                             "default 50000, --quick 300")
    parser.add_argument("--repeat", type=int, help="runs per client and scenario, best kept "
                                                   "(default 3, --quick 1)")
    parser.add_argument("--bootstrap", help="an existing broker (default: start one)")
    parser.add_argument("--json", type=Path, help="write the rows and the machine here")
    parser.add_argument("--chart", type=Path, help="write a PNG bar chart of throughput here")
    args = parser.parse_args(argv)
    sections, clients = [], []
    for token in filter(None, (args.only or "").split(",")):
        if token in SECTIONS:
            sections.append(token)
        elif token in CLIENTS:
            clients.append(token)
        else:
            parser.error(f"--only: unknown section or client {token!r}; sections: "
                         f"{', '.join(SECTIONS)}; clients: {', '.join(CLIENTS)}")
    records = args.records if args.records is not None else (300 if args.quick else 50_000)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if records < 1:
        parser.error(f"--records must be at least 1, not {records}")
    if repeat < 1:
        parser.error(f"--repeat must be at least 1, not {repeat}")
    if args.quick:
        scenarios = [(100, "none", 1), (1024, "lz4", 6)]
    else:
        scenarios = [(size, codec, parts) for size in SIZES for codec in CODECS
                     for parts in PARTITIONS]
    return args, Settings(records=records, repeat=repeat, duration=0.5 if args.quick else 5.0,
                          group_records=max(3000, 4 * records),
                          scenarios=scenarios, sections=sections or list(SECTIONS),
                          clients=[c for c in CLIENTS if c in clients] or list(CLIENTS))


def main(argv: list[str] | None = None) -> int:
    args, s = parse(argv)
    started = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.0f}s] {msg}", file=sys.stderr, flush=True)

    runners = {"produce": bench_produce, "consume": bench_consume, "latency": bench_latency,
               "group": bench_group}
    rows: list[Row] = []
    with Broker(args.bootstrap) as broker:
        log(f"broker {broker.bootstrap}; best of {s.repeat}; acks=1, linger 5 ms, "
            f"16 KiB batches")
        for section in s.sections:
            rows += runners[section](broker, s, log)
    print(table(rows))
    info = machine()
    print(f"\n{info['cpus']} CPUs ({info['cpu_model']}), {info['ram_gib']} GiB RAM, "
          f"load average {info['load_average']:.1f} at the end; Python {info['python']}, "
          f"kproto's {info['record_path']} record path; {s.records:,} records per 100 B run "
          f"(1 KiB: a quarter), best of {s.repeat}, {time.monotonic() - started:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps(
            {"machine": info, "records": s.records, "repeat": s.repeat,
             "rows": [r.as_json() for r in rows]}, indent=1))
    if args.chart:
        from bench.chart import bar_chart

        groups: dict[str, dict[str, float]] = {}
        for r in rows:
            if r.test in ("produce", "consume") and r.rate:
                groups.setdefault(f"{r.test} {r.scenario}", {})[r.client] = r.rate
        bar_chart("records/s per client (longest bar: the fastest of its scenario)", groups,
                  args.chart)
    return 0


def main_section(section: str, argv: list[str]) -> int:
    """One section, for the older scripts (bench_produce.py, bench_consume.py): their
    ``--only`` names clients only."""
    args = list(argv)
    if "--only" in args[:-1]:
        i = args.index("--only") + 1
        args[i] = f"{section},{args[i]}"
    else:
        args += ["--only", section]
    return main(args)


if __name__ == "__main__":
    sys.exit(main())
