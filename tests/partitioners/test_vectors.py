"""kproto's partitioners against the committed answers of the clients they come from.

The vectors under ``vectors/`` were printed by the Java client, sarama and librdkafka
themselves (see ``origins.py``); here they need nothing but Python.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable

import pytest

from kproto.partitioners import (
    DefaultPartitioner,
    HashPartitioner,
    HashSign,
    ManualPartitioner,
    Partitioner,
    RandomPartitioner,
    RoundRobinPartitioner,
    choose_partition,
    consistent_crc_partitioner,
    consistent_random_partitioner,
    crc32,
    custom_hash_partitioner,
    fnv1a_32,
    librdkafka_fnv1a_partitioner,
    librdkafka_fnv1a_random_partitioner,
    librdkafka_murmur2_partitioner,
    librdkafka_murmur2_random_partitioner,
    murmur2,
    sarama_hash_partitioner,
    sarama_reference_hash_partitioner,
    to_positive,
)

from . import origins

KEYS = origins.read_keys()
COUNT_COLUMNS = [f"n={n}" for n in origins.COUNTS]


def fnv1_32(data: bytes) -> int:
    """FNV-1 (multiply, then xor): a user's own hash, like Go's fnv.New32 in the vectors."""
    h = 0x811C9DC5
    for byte in data:
        h = ((h * 0x01000193) & 0xFFFFFFFF) ^ byte
    return h


def place(partitioner: Partitioner, key: bytes | None, n: int) -> int:
    partitions = list(range(n))
    return choose_partition(partitioner, key, 1, None, partitions, partitions)


def test_the_vectors_cover_the_promised_keys() -> None:
    assert origins.make_keys() == KEYS
    assert b"" in KEYS
    assert {len(k) for k in KEYS} >= set(range(21)) | {100, 256, 1000, 4099}
    assert any(k.decode("utf-8", "replace") != k.decode("ascii", "replace") for k in KEYS)


# -- the Java client ------------------------------------------------------------------------

JAVA = origins.read_tsv("java_murmur2.tsv")


def test_java_vectors_hold_every_key() -> None:
    assert [bytes.fromhex(row["key"]) for row in JAVA] == KEYS


@pytest.mark.parametrize("row", JAVA, ids=lambda r: r["key"][:24] or "empty")
def test_murmur2_matches_java_utils(row: dict[str, str]) -> None:
    key = bytes.fromhex(row["key"])
    assert murmur2(key) == int(row["murmur2"])
    assert to_positive(murmur2(key)) == int(row["positive"])


@pytest.mark.parametrize("row", JAVA, ids=lambda r: r["key"][:24] or "empty")
def test_default_partitioner_places_keys_like_java(row: dict[str, str]) -> None:
    key = bytes.fromhex(row["key"])
    default = DefaultPartitioner(random.Random(1))
    got = [place(default, key, n) for n in origins.COUNTS]
    assert got == [int(row[c]) for c in COUNT_COLUMNS]


# -- sarama -----------------------------------------------------------------------------------

SARAMA_HASHERS: dict[str, Callable[[random.Random], Partitioner]] = {
    "hash": sarama_hash_partitioner,
    "reference-hash": sarama_reference_hash_partitioner,
    "consistent-crc": lambda rng: custom_hash_partitioner(crc32, rng, sign=HashSign.UNSIGNED),
    "murmur2": DefaultPartitioner,
    "custom-crc32": lambda rng: custom_hash_partitioner(zlib.crc32, rng),
    "custom-fnv1": lambda rng: custom_hash_partitioner(fnv1_32, rng),
    "custom-crc32-abs-first": lambda rng: custom_hash_partitioner(
        zlib.crc32, rng, sign=HashSign.TO_POSITIVE),
    "custom-fnv1-unsigned": lambda rng: custom_hash_partitioner(
        fnv1_32, rng, sign=HashSign.UNSIGNED),
}
SARAMA_HASH = origins.read_tsv("sarama_hash.tsv")


def test_sarama_vectors_hold_every_partitioner_and_key() -> None:
    assert {row["partitioner"] for row in SARAMA_HASH} == set(SARAMA_HASHERS)
    for name in SARAMA_HASHERS:
        keys = [bytes.fromhex(r["key"]) for r in SARAMA_HASH if r["partitioner"] == name]
        assert keys == KEYS


@pytest.mark.parametrize("name", sorted(SARAMA_HASHERS))
def test_hash_partitioners_match_sarama(name: str) -> None:
    partitioner = SARAMA_HASHERS[name](random.Random(7))
    mismatches = []
    for row in (r for r in SARAMA_HASH if r["partitioner"] == name):
        key = bytes.fromhex(row["key"])
        got = [place(partitioner, key, n) for n in origins.COUNTS]
        want = [int(row[c]) for c in COUNT_COLUMNS]
        if got != want:
            mismatches.append((row["key"][:40], got, want))
    assert not mismatches, mismatches[:3]


def test_sarama_sign_handling_differs_from_the_reference_one() -> None:
    # The vectors must exercise the difference the two sarama variants exist for.
    by_key: dict[str, dict[str, str]] = {}
    for row in SARAMA_HASH:
        by_key.setdefault(row["key"], {})[row["partitioner"]] = row["n=3"]
    assert any(v["hash"] != v["reference-hash"] for v in by_key.values())


SARAMA_CONSISTENCY: dict[str, Callable[[random.Random], Partitioner]] = {
    "manual": lambda rng: ManualPartitioner(),
    "random": RandomPartitioner,
    "round-robin": lambda rng: RoundRobinPartitioner(),
    **SARAMA_HASHERS,
}


@pytest.mark.parametrize("row", origins.read_tsv("sarama_consistency.tsv"),
                         ids=lambda r: r["partitioner"])
def test_consistency_flags_match_sarama(row: dict[str, str]) -> None:
    partitioner = SARAMA_CONSISTENCY[row["partitioner"]](random.Random(0))
    assert str(partitioner.requires_consistency).lower() == row["requires_consistency"]
    per_message = getattr(partitioner, "message_requires_consistency", None)
    for key, column in ((None, "null_key"), (b"", "empty_key"), (b"k", "key")):
        if row[column] == "-":
            assert per_message is None
        else:
            assert per_message is not None
            assert str(per_message(key)).lower() == row[column]


def test_round_robin_matches_sarama() -> None:
    rows = origins.read_tsv("sarama_round_robin.tsv")
    assert [int(r["n"]) for r in rows] == list(origins.ROUND_ROBIN_COUNTS)
    rr = RoundRobinPartitioner()
    got = [rr.partition(None, 0, list(range(int(r["n"])))) for r in rows]
    assert got == [int(r["partition"]) for r in rows]


# -- librdkafka ---------------------------------------------------------------------------------

LIBRDKAFKA: dict[str, Callable[[random.Random], HashPartitioner]] = {
    "consistent": lambda rng: consistent_crc_partitioner(),
    "consistent_random": consistent_random_partitioner,
    "murmur2": lambda rng: librdkafka_murmur2_partitioner(),
    "murmur2_random": librdkafka_murmur2_random_partitioner,
    "fnv1a": lambda rng: librdkafka_fnv1a_partitioner(),
    "fnv1a_random": librdkafka_fnv1a_random_partitioner,
}
LIBRDKAFKA_ROWS = origins.read_tsv("librdkafka.tsv")


def _key(cell: str) -> bytes | None:
    return None if cell == origins.NULL_KEY else bytes.fromhex(cell)


def test_librdkafka_vectors_hold_every_partitioner_and_key() -> None:
    assert {row["partitioner"] for row in LIBRDKAFKA_ROWS} == set(LIBRDKAFKA)
    for name in LIBRDKAFKA:
        keys = [_key(r["key"]) for r in LIBRDKAFKA_ROWS if r["partitioner"] == name]
        assert keys == [None, *KEYS]


@pytest.mark.parametrize("name", sorted(LIBRDKAFKA))
def test_partitioners_match_librdkafka(name: str) -> None:
    partitioner = LIBRDKAFKA[name](random.Random(3))
    mismatches = []
    for row in (r for r in LIBRDKAFKA_ROWS if r["partitioner"] == name):
        key = _key(row["key"])
        want = [row[c] for c in COUNT_COLUMNS]
        if want[0] == origins.RANDOM:
            # librdkafka sent this key to random partitions: so must we, from all of them
            # only when consistency is not needed.
            assert not partitioner.message_requires_consistency(key), row["key"]
            draws = {place(partitioner, key, 100) for _ in range(50)}
            assert len(draws) > 1, row["key"]
            continue
        assert partitioner.message_requires_consistency(key), row["key"]
        got = [str(place(partitioner, key, n)) for n in origins.COUNTS]
        if got != want:
            mismatches.append((row["key"][:40], got, want))
    assert not mismatches, mismatches[:3]


def test_librdkafka_null_and_empty_key_rules_are_in_the_vectors() -> None:
    rows = {(r["partitioner"], r["key"]): r["n=7"] for r in LIBRDKAFKA_ROWS}
    # consistent: null and empty keys hash as nothing (CRC 0) -> partition 0.
    assert rows[("consistent", "null")] == rows[("consistent", "")] == "0"
    # consistent_random: both go random; murmur2_random/fnv1a_random: only null does.
    assert rows[("consistent_random", "")] == origins.RANDOM
    assert rows[("murmur2_random", "null")] == origins.RANDOM
    assert rows[("murmur2_random", "")] != origins.RANDOM
    assert rows[("fnv1a_random", "")] != origins.RANDOM


def test_librdkafka_murmur2_random_agrees_with_java_for_keys() -> None:
    java = {row["key"]: row for row in JAVA}
    for row in LIBRDKAFKA_ROWS:
        if row["partitioner"] == "murmur2_random" and row["key"] != origins.NULL_KEY:
            assert [row[c] for c in COUNT_COLUMNS] == [java[row["key"]][c] for c in COUNT_COLUMNS]


def test_fnv1a_hash_is_the_go_one() -> None:
    # Go's hash/fnv New32a of "kafka" and of nothing (librdkafka's unit test values, after
    # its absolute value for the negative one).
    assert fnv1a_32(b"kafka") == 0x0D33C4E1
    assert fnv1a_32(b"") == 0x811C9DC5
