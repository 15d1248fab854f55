"""Rerun the origin clients and check they still print the committed vectors.

Each test runs a real client: the Java client's ``Utils`` (Maven fetches kafka-clients into
the cache), sarama through the Go toolchain, librdkafka inside confluent-kafka. Outside CI a
missing tool skips the test; with ``CI=true`` it fails it. Also here: the default
partitioners of kafka-python and aiokafka against ours, key for key.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import pytest

from kproto.partitioners import DefaultPartitioner, choose_partition

from . import origins

pytestmark = pytest.mark.interop


def _rerun(generate: Callable[[], str]) -> str:
    try:
        return generate()
    except origins.OriginUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"origin client unavailable in CI: {exc}")
        pytest.skip(str(exc))


@pytest.mark.parametrize(
    ("group", "filename"),
    [(group, filename) for group, files in origins.GENERATORS.items() for filename in files],
)
def test_origin_still_prints_the_committed_vectors(group: str, filename: str) -> None:
    fresh = _rerun(origins.GENERATORS[group][filename])
    committed = (origins.VECTORS / filename).read_text()
    assert fresh.splitlines() == committed.splitlines(), (
        f"{group} now prints different {filename}; regenerate with "
        f"python -m tests.partitioners.origins {group} and review the diff"
    )


def _import_or_skip(module: str) -> object:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{module} is not installed (it comes with the dev extra)")
        pytest.skip(f"{module} is not installed")


class _Cluster:
    """Just enough of kafka-python's ClusterMetadata for its partitioner."""

    def __init__(self, n: int) -> None:
        self.n = n

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.n))

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.n))


def _ours(key: bytes, n: int) -> int:
    partitions = list(range(n))
    return choose_partition(DefaultPartitioner(random.Random(0)), key, 0, None, partitions,
                            partitions)


def test_kafka_python_default_partitioner_agrees() -> None:
    default = _import_or_skip("kafka.partitioner.default")
    theirs = default.DefaultPartitioner()  # type: ignore[attr-defined]
    for key in origins.read_keys():
        for n in origins.COUNTS:
            assert theirs.partition("t", key, key, None, None, _Cluster(n)) == _ours(key, n)


def test_aiokafka_default_partitioner_agrees() -> None:
    partitioner = _import_or_skip("aiokafka.partitioner")
    theirs = partitioner.DefaultPartitioner()  # type: ignore[attr-defined]
    for key in origins.read_keys():
        for n in origins.COUNTS:
            partitions = list(range(n))
            assert theirs(key, partitions, partitions) == _ours(key, n)
