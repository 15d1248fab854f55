"""Where a record's milliseconds go in the latency run (bench/latency.py), stage by stage.

    ./dev python -m bench.latency_trace [--bootstrap H:P] [--client kproto-asyncio]
                                        [--records 15000] [--repeat 1]

It runs one kproto client of the latency section (5,000 records/s of 100 B, acks=1, linger
5 ms, the consumer in the same process) with timestamps taken along the path, all on
``perf_counter_ns`` (the clock the values are stamped with):

- *sent*: the stamp in the value, just before ``send``;
- *written*: the engine handed the Produce request carrying the record to the transport
  (``ClientCore.pending_writes``; the record is found by its stamp in the request bytes);
- *fetched*: the Fetch answer carrying it reached the engine (``ClientCore.receive_data``);
- *delivered*: the decoded chunk reached its partition consumer (``_deliver``, which fires
  the reader's signal);
- *read*: the benchmark's reader saw it.

Besides the stages it reports what explains their tails: the Produce round trip (request
written to the producer's next answer: the broker's share), how many records waited for a
Produce answer (one batch per partition is in flight without idempotence, so a slow answer
holds every later batch of the partition back), how many records landed while no Fetch was
waiting at the broker (they wait for the next one), the consumer's turnaround (an answer to
the next Fetch written), the selector's oversleep (how late an IO thread or event loop woke
from a timed wait; epoll rounds timeouts up to whole milliseconds), and the garbage
collector's pauses. The hooks wrap methods for this process only; nothing is kept.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import re
import selectors
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from bench import latency
from bench.common import Broker, unique

RATE = 5000
_VALUE = re.compile(rb"(.{8})\.{92}", re.S)  # a stamped value: 8 stamp bytes, 92 dots
_PRODUCE, _FETCH = 0, 1


class Trace:
    """Timestamps (ns) per record stamp, and the request and answer times per engine."""

    def __init__(self) -> None:
        self.at: dict[str, dict[bytes, int]] = {s: {} for s in ("written", "fetched",
                                                                 "delivered", "read")}
        self.produce_writes: list[int] = []
        self.produce_answers: list[int] = []
        self.fetch_writes: list[int] = []
        self.fetch_answers: list[int] = []
        self.producers: set[int] = set()
        self.oversleep: dict[int, list[float]] = defaultdict(list)
        self.gc_pauses: list[float] = []

    def install(self) -> Callable[[], None]:
        """Wrap the hooks; returns the undo."""
        from kproto.engine.client import ClientCore
        from kproto.facade.consumer import PartitionConsumerBase

        trace = self
        pending, receive = ClientCore.pending_writes, ClientCore.receive_data
        deliver, see = PartitionConsumerBase._deliver, latency.Collector.see
        select = selectors.DefaultSelector.select

        def pending_writes(core: Any) -> list[tuple[int, bytes]]:
            out = pending(core)
            now = time.perf_counter_ns()
            for _, data in out:
                for api in _api_keys(data):
                    if api == _PRODUCE:
                        trace.produce_writes.append(now)
                        trace.producers.add(id(core))
                    elif api == _FETCH:
                        trace.fetch_writes.append(now)
                for m in _VALUE.finditer(data):
                    trace.at["written"].setdefault(m.group(1), now)
            return out

        def receive_data(core: Any, conn_id: int, data: bytes | bytearray, now: float) -> None:
            t = time.perf_counter_ns()
            if id(core) in trace.producers:
                trace.produce_answers.append(t)
            else:
                trace.fetch_answers.append(t)
            for m in _VALUE.finditer(data):
                trace.at["fetched"].setdefault(m.group(1), t)
            receive(core, conn_id, data, now)

        def on_deliver(pc: Any, event: Any) -> None:
            t = time.perf_counter_ns()
            for m in event.messages:
                if m.value is not None and len(m.value) == latency.SIZE:
                    trace.at["delivered"].setdefault(m.value[:8], t)
            deliver(pc, event)

        def on_see(col: latency.Collector, value: bytes) -> None:
            trace.at["read"].setdefault(value[:8], time.perf_counter_ns())
            see(col, value)

        def timed_select(sel: Any, timeout: float | None = None) -> Any:
            t0 = time.perf_counter_ns()
            ready = select(sel, timeout)
            if not ready and timeout is not None and 0 < timeout < 1:
                late = (time.perf_counter_ns() - t0) / 1e6 - timeout * 1e3
                trace.oversleep[threading.get_ident()].append(late)
            return ready

        started = [0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                started[0] = time.perf_counter_ns()
            else:
                trace.gc_pauses.append((time.perf_counter_ns() - started[0]) / 1e6)

        hooks: list[tuple[Any, str, Any]] = [
            (ClientCore, "pending_writes", pending_writes),
            (ClientCore, "receive_data", receive_data),
            (PartitionConsumerBase, "_deliver", on_deliver),
            (latency.Collector, "see", on_see),
            (selectors.DefaultSelector, "select", timed_select)]
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in hooks]
        for owner, name, fn in hooks:
            setattr(owner, name, fn)
        gc.callbacks.append(on_gc)

        def undo() -> None:
            for owner, name, fn in saved:
                setattr(owner, name, fn)
            gc.callbacks.remove(on_gc)

        return undo

    def report(self, client: str, lat: list[float]) -> str:
        stamps = [k for k in self.at["read"] if k != latency.WARM[:8]]

        def stage(a: str, b: str) -> list[float]:
            out = []
            for k in stamps:
                ta = int.from_bytes(k, "big") if a == "sent" else self.at[a].get(k)
                tb = self.at[b].get(k)
                if ta is not None and tb is not None:
                    out.append((tb - ta) / 1e6)
            return out

        lines = [f"{client}: {len(lat)} records at {RATE:,}/s",
                 f"  {'ms':44s} {'n':>6s} {'p50':>7s} {'p90':>7s} {'p99':>7s} {'max':>7s}"]

        def row(name: str, xs: list[float]) -> None:
            lines.append(f"  {name:44s} {len(xs):6d} " + _pcts(xs))

        row("sent -> Produce written", stage("sent", "written"))
        row("Produce written -> Fetch answer in", stage("written", "fetched"))
        row("Fetch answer in -> delivered to the reader", stage("fetched", "delivered"))
        row("delivered -> read", stage("delivered", "read"))
        row("end to end", stage("sent", "read"))
        pw, pa = sorted(self.produce_writes), sorted(self.produce_answers)
        fw, fa = sorted(self.fetch_writes), sorted(self.fetch_answers)
        row("Produce round trip (the broker's share)", list(_after(pw, pa)))
        row("Fetch answer -> next Fetch written", [(w - fa[i]) / 1e6 for w in fw
                                                   if (i := bisect.bisect_left(fa, w) - 1) >= 0])
        behind, no_fetch = [], []
        for k in stamps:
            w, f = self.at["written"].get(k), self.at["fetched"].get(k)
            if w is None or f is None:
                continue
            i = bisect.bisect_left(pa, w) - 1
            if i >= 0 and w - pa[i] < 500_000:  # written within 0.5 ms of a Produce answer
                behind.append((w - int.from_bytes(k, "big")) / 1e6)
            j = bisect.bisect_left(fw, f) - 1
            if j >= 0 and fw[j] > w:  # the Fetch that brought it went out after it landed
                no_fetch.append((fw[j] - w) / 1e6)
        row("  sent -> written, written on a Produce answer", behind)
        row("  landed before its Fetch went out: wait for it", no_fetch)
        for n, (_, xs) in enumerate(sorted(self.oversleep.items(), key=lambda kv: -len(kv[1]))):
            row(f"selector oversleep, thread {n + 1}", xs)
        row("garbage collector pauses", self.gc_pauses)
        return "\n".join(lines)


def _api_keys(data: bytes | bytearray) -> Iterator[int]:
    """The api key of each request frame in ``data`` (whole frames, as the engine hands
    them out)."""
    i = 0
    while i + 6 <= len(data):
        yield int.from_bytes(data[i + 4:i + 6], "big")
        i += 4 + int.from_bytes(data[i:i + 4], "big")


def _after(starts: list[int], ends: list[int]) -> Iterator[float]:
    for s in starts:
        i = bisect.bisect_left(ends, s)
        if i < len(ends):
            yield (ends[i] - s) / 1e6


def _pcts(xs: list[float]) -> str:
    if not xs:
        return f"{'-':>7s} " * 4
    s = sorted(xs)
    return " ".join(f"{s[min(len(s) - 1, int(len(s) * q))]:7.2f}" for q in (0.5, 0.9, 0.99)) \
        + f" {s[-1]:7.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.latency_trace",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", help="an existing broker (default: start one)")
    parser.add_argument("--client", default="kproto-asyncio",
                        choices=[c for c in latency.CLIENTS if c.startswith("kproto")])
    parser.add_argument("--records", type=int, default=15000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    if args.records < 1 or args.repeat < 1:
        parser.error("--records and --repeat must be at least 1")
    with Broker(args.bootstrap) as broker:
        for _ in range(args.repeat):
            topic = unique("bench-lat-trace")
            broker.create_topic(topic, 1)
            trace = Trace()
            undo = trace.install()
            try:
                lat = latency.CLIENTS[args.client](broker.bootstrap, topic, RATE, args.records)
            finally:
                undo()
            print(trace.report(args.client, lat), flush=True)


if __name__ == "__main__":
    main()
