"""Consume throughput against a real broker: kproto on each transport beside kafka-python,
aiokafka, confluent-kafka and Java's ConsumerPerformance -- the consume section of
``./dev bench`` (bench/run.py; the runners are in bench/consume.py).

    .venv/bin/python bench/bench_consume.py [--bootstrap host:port] [--records N]
        [--repeat R] [--only kproto-threads,confluent-kafka,...]
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "transports")]

from bench.run import main_section  # noqa: E402

if __name__ == "__main__":
    sys.exit(main_section("consume", sys.argv[1:]))
