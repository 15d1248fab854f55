"""kproto's benchmarks: ``./dev bench`` (``python -m bench``) runs them all and prints one table.

Modules: ``common`` (broker, topics, values, the meter), ``produce`` and ``consume`` (one timed
runner per client), ``java`` (Kafka's own perf tools as the ceiling), ``latency``, ``group``
(consumer-group scaling across processes), ``chart`` (a PNG without matplotlib) and ``run``
(the entry point and the table). The older single-purpose scripts beside them
(``bench_records.py``, ``bench_protocol.py``, ``bench_fake.py``) time kproto alone.
"""
