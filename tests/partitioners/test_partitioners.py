"""Behaviour of the partitioners and of choose_partition: sarama's rules, round robin,
injected randomness, the sticky partitioner of KIP-794, and the registry."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kproto.errors import ConfigurationError, KprotoError, LeaderNotAvailableError
from kproto.partitioners import (
    BatchAwarePartitioner,
    DefaultPartitioner,
    DynamicConsistencyPartitioner,
    HashPartitioner,
    HashSign,
    InvalidPartitionError,
    ManualPartitioner,
    Partitioner,
    PartitionerSettings,
    RandomPartitioner,
    RoundRobinPartitioner,
    StickyPartitioner,
    choose_partition,
    create_partitioner,
    hash_index,
    notify_queue_sizes,
    notify_record_appended,
    partitioner_for_topic,
    partitioner_names,
    register_partitioner,
)

REQUIRED_NAMES = {"default", "murmur2", "sarama-hash", "sarama-reference-hash", "random",
                  "round-robin", "manual", "consistent-crc", "consistent-random", "custom"}


def _settings(seed: int = 0, **kw: object) -> PartitionerSettings:
    return PartitionerSettings(rng=random.Random(seed), hash_function=lambda k: len(k) * 7,
                               **kw)  # type: ignore[arg-type]


class CountingRandom(random.Random):
    """A seeded Random that counts the draws the partitioners make."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.draws = 0

    def randrange(self, *args: int) -> int:  # type: ignore[override]
        self.draws += 1
        return super().randrange(*args)


class ScriptedRandom(random.Random):
    """Returns the scripted values from randrange, checking each is in range."""

    def __init__(self, values: Sequence[int]) -> None:
        super().__init__(0)
        self.values = list(values)
        self.stops: list[int] = []

    def randrange(self, stop: int) -> int:  # type: ignore[override]
        self.stops.append(stop)
        value = self.values.pop(0)
        assert 0 <= value < stop
        return value


class Recording:
    """A user partitioner that records its candidates and returns a fixed answer."""

    def __init__(self, answer: object, consistent: bool) -> None:
        self.answer = answer
        self.requires_consistency = consistent
        self.seen: list[list[int]] = []

    def partition(self, key: bytes | None, value_size: int, partitions: Sequence[int]) -> int:
        self.seen.append(list(partitions))
        return self.answer  # type: ignore[return-value]


# -- choose_partition: sarama's partitionMessage rules ------------------------------------------


def test_consistent_partitioners_get_all_partitions_others_the_writable_ones() -> None:
    consistent, loose = Recording(0, True), Recording(0, False)
    assert choose_partition(consistent, b"k", 0, None, [0, 1, 2, 3], [1, 3]) == 0
    assert choose_partition(loose, b"k", 0, None, [0, 1, 2, 3], [1, 3]) == 1
    assert consistent.seen == [[0, 1, 2, 3]] and loose.seen == [[1, 3]]


def test_per_message_consistency_decides_the_candidates() -> None:
    default = DefaultPartitioner(random.Random(0))
    assert isinstance(default, DynamicConsistencyPartitioner)
    for _ in range(20):
        assert choose_partition(default, None, 10, None, [0, 1, 2, 3], [2]) == 2
    keyed = {choose_partition(default, b"key-%d" % i, 10, None, [0, 1, 2, 3], [2])
             for i in range(40)}
    assert keyed == {0, 1, 2, 3}


def test_no_writable_partition_is_leader_not_available() -> None:
    with pytest.raises(LeaderNotAvailableError):
        choose_partition(RandomPartitioner(random.Random(0)), b"k", 0, None, [0, 1], [])
    with pytest.raises(LeaderNotAvailableError):
        choose_partition(sarama_hash(), None, 0, None, [0, 1], [])
    # A keyed record does not need a leader to be placed: it needs all partitions.
    assert choose_partition(sarama_hash(), b"k", 0, None, [0, 1], []) in (0, 1)
    with pytest.raises(LeaderNotAvailableError):
        choose_partition(sarama_hash(), b"k", 0, None, [], [])


def sarama_hash() -> Partitioner:
    return create_partitioner("sarama-hash", "t", _settings())


@pytest.mark.parametrize("answer", [-1, 3, 4, 1.0, "1", None])
def test_a_choice_outside_the_candidates_is_invalid_partition(answer: object) -> None:
    with pytest.raises(InvalidPartitionError) as info:
        choose_partition(Recording(answer, True), b"k", 0, None, [0, 1, 2], [0, 1, 2])
    assert isinstance(info.value, KprotoError)
    assert "Recording" in str(info.value)


def test_an_index_maps_to_the_candidate_id_not_to_itself() -> None:
    assert choose_partition(Recording(1, False), None, 0, None, [0, 1, 2, 5], [2, 5]) == 5


def test_explicit_partition_wins_and_must_exist() -> None:
    hashed = sarama_hash()
    assert choose_partition(hashed, b"k", 0, 3, [0, 1, 2, 3], [0]) == 3
    assert choose_partition(ManualPartitioner(), None, 0, 2, [0, 1, 2], []) == 2
    assert choose_partition(ManualPartitioner(), None, 0, 7, [3, 7], [3]) == 7
    for bad in (-1, 4, 99):
        with pytest.raises(InvalidPartitionError, match=str(bad)):
            choose_partition(hashed, b"k", 0, bad, [0, 1, 2, 3], [0, 1, 2, 3])
    with pytest.raises(LeaderNotAvailableError):
        choose_partition(hashed, b"k", 0, 0, [], [])


def test_manual_partitioner_refuses_a_record_without_partition() -> None:
    with pytest.raises(InvalidPartitionError, match="explicit partition"):
        choose_partition(ManualPartitioner(), b"k", 0, None, [0, 1], [0, 1])


# -- properties ---------------------------------------------------------------------------------

BUILT_INS = sorted(set(partitioner_names()) - {"manual"})


@st.composite
def topics(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    all_partitions = sorted(draw(st.sets(st.integers(0, 300), min_size=1, max_size=40)))
    writable = sorted(draw(st.sets(st.sampled_from(all_partitions), min_size=1)))
    return all_partitions, writable


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(BUILT_INS), topic=topics(), seed=st.integers(0, 2**32),
       records=st.lists(st.tuples(st.none() | st.binary(max_size=40), st.integers(0, 5000)),
                        min_size=1, max_size=60))
def test_every_partitioner_returns_a_candidate(
    name: str, topic: tuple[list[int], list[int]], seed: int,
    records: list[tuple[bytes | None, int]],
) -> None:
    all_partitions, writable = topic
    partitioner = create_partitioner(name, "t", _settings(seed, batch_size=1000))
    for key, size in records:
        chosen = choose_partition(partitioner, key, size, None, all_partitions, writable)
        assert chosen in all_partitions
        per_message = getattr(partitioner, "message_requires_consistency", None)
        consistent = per_message(key) if per_message else partitioner.requires_consistency
        if not consistent:
            assert chosen in writable
        notify_record_appended(partitioner, chosen, size + 20, True)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 50), rounds=st.integers(1, 4))
def test_round_robin_cycles_through_the_candidates(n: int, rounds: int) -> None:
    rr = create_partitioner("round-robin", "t", _settings())
    partitions = list(range(100, 100 + n))
    got = [choose_partition(rr, b"k", 0, None, partitions, partitions) for _ in range(n * rounds)]
    assert got == partitions * rounds


def test_round_robin_restarts_when_the_candidates_shrink() -> None:
    rr = RoundRobinPartitioner()
    assert [rr.partition(None, 0, [0, 1, 2, 3]) for _ in range(3)] == [0, 1, 2]
    assert rr.partition(None, 0, [0, 1]) == 0  # counter 3 >= 2: restart
    assert rr.partition(None, 0, [0, 1, 2, 3]) == 1


@pytest.mark.parametrize("name", ["random", "sarama-hash", "consistent-random", "default",
                                  "murmur2-random", "fnv1a-random"])
def test_randomness_comes_only_from_the_injected_rng(name: str) -> None:
    def run(seed: int) -> list[int]:
        partitioner = create_partitioner(name, "t", _settings(seed, batch_size=50))
        parts = list(range(13))
        out = []
        for i in range(200):
            p = choose_partition(partitioner, None, 30 + i % 7, None, parts, parts)
            notify_record_appended(partitioner, p, 30 + i % 7)
            out.append(p)
        return out

    random.seed(12345)
    global_state = random.getstate()
    first, again, other = run(1), run(1), run(2)
    assert random.getstate() == global_state
    assert first == again
    assert first != other
    assert len(set(first)) > 3


# -- sticky partitioning (KIP-794) --------------------------------------------------------------


def test_sticky_switches_once_batch_size_bytes_went_to_the_partition() -> None:
    rng = CountingRandom(5)
    sticky = StickyPartitioner(rng, batch_size=100)
    parts = list(range(8))
    chosen = []
    for _ in range(30):
        index = sticky.partition(None, 10, parts)  # counts 10 bytes itself
        chosen.append(parts[index])
        if len(chosen) in (1, 10, 11, 20, 21):
            assert rng.draws == (len(chosen) + 9) // 10, len(chosen)
    # Three runs of ten records, each run on one partition.
    assert len(set(chosen[0:10])) == len(set(chosen[10:20])) == len(set(chosen[20:30])) == 1
    assert rng.draws == 3


def test_sticky_uses_the_cores_exact_sizes_once_it_reports_them() -> None:
    rng = CountingRandom(1)
    sticky = StickyPartitioner(rng, batch_size=100)
    parts = [0, 1, 2]
    first = parts[sticky.partition(None, 1, parts)]
    notify_record_appended(sticky, first, 60)
    assert parts[sticky.partition(None, 1, parts)] == first  # 60 < 100: stay
    notify_record_appended(sticky, first, 60)
    assert sticky.current_partition is None  # 120 >= 100: the next record draws again
    sticky.partition(None, 1, parts)
    assert rng.draws == 2


def test_sticky_waits_for_full_batches_up_to_twice_batch_size() -> None:
    sticky = StickyPartitioner(random.Random(2), batch_size=100)
    parts = [0, 1, 2, 3]
    first = parts[sticky.partition(None, 0, parts)]
    for total in (50, 100, 150, 199):
        notify_record_appended(sticky, first, 50 if total != 199 else 49, all_batches_full=False)
        assert sticky.current_partition == first, total
        assert parts[sticky.partition(None, 0, parts)] == first
    notify_record_appended(sticky, first, 1, all_batches_full=False)  # 200 = 2 * batch_size
    assert sticky.current_partition is None


def test_sticky_ignores_records_it_did_not_place() -> None:
    default = DefaultPartitioner(random.Random(3), batch_size=100)
    parts = [0, 1, 2, 3]
    sticky_p = choose_partition(default, None, 0, None, parts, parts)
    notify_record_appended(default, sticky_p, 10)
    for i in range(50):  # keyed records, some on the sticky partition, never counted
        p = choose_partition(default, b"key-%d" % i, 0, None, parts, parts)
        notify_record_appended(default, p, 1000)
    notify_record_appended(default, sticky_p, 1000)  # an explicit-partition record
    assert default.sticky.current_partition == sticky_p


def test_sticky_moves_when_its_partition_loses_the_leader() -> None:
    sticky = StickyPartitioner(random.Random(4), batch_size=10**6)
    first = [0, 1, 2][sticky.partition(None, 5, [0, 1, 2])]
    rest = [p for p in (0, 1, 2) if p != first]
    moved = rest[sticky.partition(None, 5, rest)]
    assert moved in rest and sticky.current_partition == moved
    assert [0, 1, 2][sticky.partition(None, 5, [0, 1, 2])] == moved


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sticky_spreads_load_uniformly(seed: int) -> None:
    default = create_partitioner("default", "t", _settings(seed, batch_size=1000))
    parts = list(range(4))
    produced: Counter[int] = Counter()
    for _ in range(40_000):
        p = choose_partition(default, None, 90, None, parts, parts)
        notify_record_appended(default, p, 100)
        produced[p] += 100
    share = [produced[p] / 4_000_000 for p in parts]
    assert all(0.18 < s < 0.32 for s in share), share


def test_adaptive_choice_follows_the_cumulative_queue_weights() -> None:
    # Queues 0, 3, 1 batches: weights 4, 1, 3; running sums 4, 5, 8 (the KIP's example).
    draws = list(range(8))
    rng = ScriptedRandom(draws)
    sticky = StickyPartitioner(rng, batch_size=1)
    notify_queue_sizes(sticky, {0: 0, 1: 3, 2: 1}, 3)
    got = []
    for _ in draws:
        got.append([0, 1, 2][sticky.partition(None, 1, [0, 1, 2])])
    assert got == [0, 0, 0, 0, 1, 2, 2, 2]
    assert set(rng.stops) == {8}


def test_adaptive_choice_is_off_for_equal_queues_and_on_when_one_is_excluded() -> None:
    rng = ScriptedRandom([2, 1])
    sticky = StickyPartitioner(rng, batch_size=1)
    notify_queue_sizes(sticky, {0: 2, 1: 2, 2: 2}, 3)
    assert sticky.partition(None, 1, [0, 1, 2]) == 2  # uniform: randrange(3)
    notify_queue_sizes(sticky, {0: 2, 2: 2}, 3)  # partition 1 excluded
    assert sticky.partition(None, 1, [0, 1, 2]) == 2  # weights 1, 1: draw 1 -> partition 2
    assert rng.stops == [3, 2]


def test_adaptive_choice_can_be_disabled_or_reset() -> None:
    rng = ScriptedRandom([0, 0])
    sticky = StickyPartitioner(rng, batch_size=1, adaptive=False)
    notify_queue_sizes(sticky, {0: 9, 1: 0}, 2)
    sticky.partition(None, 1, [0, 1])
    enabled = StickyPartitioner(rng, batch_size=1)
    notify_queue_sizes(enabled, {0: 9, 1: 0}, 2)
    notify_queue_sizes(enabled, None, 2)
    enabled.partition(None, 1, [0, 1])
    assert rng.stops == [2, 2]
    with pytest.raises(ValueError):
        enabled.update_queue_sizes({0: -1, 1: 0}, 2)


def test_adaptive_weights_for_a_vanished_partition_fall_back_to_uniform() -> None:
    rng = ScriptedRandom([0, 1])
    sticky = StickyPartitioner(rng, batch_size=1)
    notify_queue_sizes(sticky, {0: 0, 1: 5}, 2)
    assert sticky.partition(None, 1, [1, 2]) == 1  # weighted pick 0 is gone: uniform index 1
    assert rng.stops == [7, 2]


def test_adaptive_sticky_avoids_a_backed_up_partition() -> None:
    default = DefaultPartitioner(random.Random(9), batch_size=100)
    queues = {0: 0, 1: 0, 2: 40, 3: 0}
    notify_queue_sizes(default, queues, 4)
    counts: Counter[int] = Counter()
    for _ in range(4000):
        p = choose_partition(default, None, 0, None, [0, 1, 2, 3], [0, 1, 2, 3])
        notify_record_appended(default, p, 100)
        counts[p] += 1
    assert counts[2] * 20 < counts[0]


def test_ignore_keys_sends_keyed_records_through_the_sticky_path() -> None:
    sticky_all = create_partitioner("sticky", "t", _settings(batch_size=10**6))
    placed = {choose_partition(sticky_all, b"key-%d" % i, 1, None, [0, 1, 2], [0, 1, 2])
              for i in range(30)}
    assert len(placed) == 1
    assert isinstance(sticky_all, DynamicConsistencyPartitioner)
    assert sticky_all.message_requires_consistency(b"k") is False


# -- hash plumbing --------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(h=st.integers(0, 2**32 - 1), n=st.integers(1, 2**31 - 1))
def test_hash_index_sign_rules(h: int, n: int) -> None:
    as_int32 = h - 2**32 if h >= 2**31 else h
    go_remainder = abs(as_int32) % n * (1 if as_int32 >= 0 else -1)  # Go's truncated %
    assert hash_index(h, n, HashSign.SARAMA) == abs(go_remainder)
    assert hash_index(h, n, HashSign.TO_POSITIVE) == (as_int32 & 0x7FFFFFFF) % n
    assert hash_index(h, n, HashSign.UNSIGNED) == h % n
    assert hash_index(h + (5 << 32), n, HashSign.UNSIGNED) == h % n  # only 32 bits count


def test_hash_partitioner_needs_a_fallback_for_keys_it_does_not_hash() -> None:
    with pytest.raises(ConfigurationError, match="fallback"):
        HashPartitioner(len, HashSign.UNSIGNED)
    with pytest.raises(ConfigurationError):
        HashPartitioner(len, HashSign.UNSIGNED, null_key="hash", empty_key="nope")  # type: ignore[arg-type]


def test_hash_partitioner_forwards_feedback_to_a_sticky_fallback() -> None:
    sticky = StickyPartitioner(CountingRandom(0), batch_size=100)
    hashed = HashPartitioner(len, HashSign.UNSIGNED, fallback=sticky)
    assert isinstance(hashed, BatchAwarePartitioner)
    p = choose_partition(hashed, None, 0, None, [0, 1], [0, 1])
    notify_record_appended(hashed, p, 100)
    assert sticky.current_partition is None
    notify_queue_sizes(hashed, {0: 0, 1: 1}, 2)
    assert not hashed.message_requires_consistency(None)


# -- registry ---------------------------------------------------------------------------------------


def test_registry_has_every_configured_name() -> None:
    assert set(partitioner_names()) >= REQUIRED_NAMES
    for name in partitioner_names():
        made = create_partitioner(name, "t", _settings())
        assert isinstance(made, Partitioner)


def test_default_and_murmur2_are_the_java_partitioner() -> None:
    for name in ("default", "murmur2"):
        assert isinstance(create_partitioner(name, "t", _settings()), DefaultPartitioner)


def test_each_topic_gets_its_own_partitioner_state() -> None:
    s = _settings()
    a, b = (create_partitioner("round-robin", t, s) for t in ("a", "b"))
    assert a is not b
    assert [a.partition(None, 0, [0, 1, 2]) for _ in range(2)] == [0, 1]
    assert b.partition(None, 0, [0, 1, 2]) == 0


def test_unknown_names_and_custom_without_hash_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown partitioner 'nope'.*round-robin"):
        create_partitioner("nope", "t", _settings())
    with pytest.raises(ConfigurationError, match="hash_function"):
        create_partitioner("custom", "t", PartitionerSettings(rng=random.Random(0)))


def test_custom_hash_partitioner_uses_the_users_hash() -> None:
    settings_ = PartitionerSettings(rng=random.Random(0), hash_function=lambda k: 0xFFFFFFFF)
    custom = create_partitioner("custom", "t", settings_)
    # int32(0xffffffff) = -1; sarama: -1 % 5 = -1 -> 1.
    assert choose_partition(custom, b"anything", 0, None, [0, 1, 2, 3, 4], [0]) == 1


def test_registering_a_custom_partitioner_by_name() -> None:
    class Last:
        requires_consistency = True

        def __init__(self, topic: str) -> None:
            self.topic = topic

        def partition(self, key: bytes | None, value_size: int,
                      partitions: Sequence[int]) -> int:
            return len(partitions) - 1

    register_partitioner("test-last", lambda topic, s: Last(topic))
    made = create_partitioner("test-last", "orders", _settings())
    assert isinstance(made, Last) and made.topic == "orders"
    assert choose_partition(made, b"k", 0, None, [0, 1, 2], [0]) == 2
    with pytest.raises(ConfigurationError, match="built-in"):
        register_partitioner("default", lambda topic, s: Last(topic))


def test_partitioner_for_topic_accepts_names_factories_and_objects() -> None:
    s = _settings()
    assert isinstance(partitioner_for_topic("random", "t", s), RandomPartitioner)
    shared = RoundRobinPartitioner()
    assert partitioner_for_topic(shared, "t", s) is shared
    assert isinstance(partitioner_for_topic(lambda t, st_: ManualPartitioner(), "t", s),
                      ManualPartitioner)
    for bad in (42, object(), RoundRobinPartitioner):
        with pytest.raises(ConfigurationError):
            partitioner_for_topic(bad, "t", s)


def test_notifications_are_harmless_for_partitioners_without_feedback() -> None:
    rr: Partitioner = RoundRobinPartitioner()
    notify_record_appended(rr, 0, 10)
    notify_queue_sizes(rr, {0: 1}, 1)
    assert not isinstance(rr, BatchAwarePartitioner)


def test_queue_sizes_mapping_is_not_kept_by_reference() -> None:
    queues: dict[int, int] = {0: 0, 1: 10}
    rng = ScriptedRandom([0])
    sticky = StickyPartitioner(rng, batch_size=1)
    sticky.update_queue_sizes(queues, 2)
    queues[0] = 100
    sticky.partition(None, 1, [0, 1])
    assert rng.stops == [12]  # weights 11, 1 from the sizes given at the time
