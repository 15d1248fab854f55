"""The ceiling: Kafka's own ProducerPerformance and ConsumerPerformance (kafka-producer-perf-test
and kafka-consumer-perf-test) from the Maven jars the test harness caches, run as tools.

The rates are the tools' own: ProducerPerformance's records/s over its send loop (the same
values, written to a payload file, one per line) and ConsumerPerformance's fetch.nMsg.sec (the
rate after its group has joined, as the Python consumers are timed after assigning). Its CPU
figure is the whole JVM's (``RUSAGE_CHILDREN``), start-up and JIT included: an upper bound.
Both rates include the JVM's warm-up, which short runs do not amortise: with the default
record counts the Java rows are a floor of what the Java client does warm, not its peak.
"""

from __future__ import annotations

import re
import resource
import tempfile
from pathlib import Path

from bench.common import COMMON, Timing

PERF_JVM = ["-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"]
"""C1 only and the serial collector: runs of a few seconds on a small shared machine are mostly
warm-up, and there C2's compiler threads and G1's workers cost more than they win (measured
here: 1 KiB records, 12,500 of them, 3,300/s against 1,100/s with the JVM's defaults)."""


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(version: str, tool: str, *args: str, timeout: float) -> tuple[str, float]:
    from tests.harness.java import run_tool

    cpu0 = _children_cpu()
    done = run_tool(version, tool, *args, timeout=timeout, jvm_opts=PERF_JVM)
    cpu = _children_cpu() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-500:]}")
    return done.stdout, cpu


def produce(version: str, bootstrap: str, topic: str, values: list[bytes], codec: str) -> Timing:
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "payload.txt"
        payload.write_bytes(b"\n".join(values[:10000]))
        out, cpu = _run(
            version, "producer-perf-test", "--topic", topic, "--num-records", str(len(values)),
            "--throughput", "-1", "--payload-file", str(payload), "--producer-props",
            f"bootstrap.servers={bootstrap}", f"acks={COMMON['acks']}",
            f"linger.ms={int(float(COMMON['linger']) * 1000)}",
            f"batch.size={COMMON['batch_size']}", f"compression.type={codec}",
            "enable.idempotence=false", timeout=600)
    m = re.search(r"(\d+) records sent, ([\d.]+) records/sec", out.splitlines()[-1] if out else "")
    if m is None:
        raise RuntimeError(f"no summary from ProducerPerformance: {out[-300:]!r}")
    return Timing(int(m.group(1)) / float(m.group(2)), cpu)


def consume(version: str, bootstrap: str, topic: str, counts: list[int], size: int) -> Timing:
    want = sum(counts)
    out, cpu = _run(version, "consumer-perf-test", "--bootstrap-server", bootstrap, "--topic",
                    topic, "--messages", str(want), "--timeout", "60000", timeout=600)
    lines = [line for line in out.splitlines() if line.count(",") >= 9]
    if len(lines) < 2:
        raise RuntimeError(f"no summary from ConsumerPerformance: {out[-300:]!r}")
    fields = dict(zip([h.strip() for h in lines[0].split(",")],
                      [v.strip() for v in lines[-1].split(",")], strict=False))
    read = int(fields["data.consumed.in.nMsg"])
    if read < want:
        raise RuntimeError(f"ConsumerPerformance read {read} of {want} messages")
    # fetch.nMsg.sec leaves out the group's join; a run too short to time says 0 there.
    rate = float(fields.get("fetch.nMsg.sec") or 0) or float(fields["nMsg.sec"])
    return Timing(read / rate, cpu)
