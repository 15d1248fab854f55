"""Partitioners: which partition of a topic a produced record goes to.

Theory of operation: a partitioner is a small object, one per topic, that the producer core
asks for a partition every time a record without an explicit partition is sent. The core
calls :func:`choose_partition`, which applies sarama's rules: the partitioner says whether it
needs every partition of the topic (``requires_consistency``, or per record through
``message_requires_consistency``) or only the writable ones (those with a leader); the
partitioner picks an index into that candidate list; the index is checked and mapped to a
partition id. No candidates means no leader is known (:class:`LeaderNotAvailableError`); an
index outside the list is the partitioner's fault (:class:`InvalidPartitionError`).

State lives only inside the stateful partitioners: round robin keeps its counter; the Java
client's default partitioner keeps its sticky partition for keyless records (KIP-794), the
bytes produced to it and the queue-size weights the core last reported. Two inputs move that
state besides ``partition()``: :func:`notify_record_appended` (a record placed by the sticky
choice was appended; it may end the stickiness) and :func:`notify_queue_sizes` (batches queued
per partition, for the adaptive choice of the next sticky partition). Randomness comes only
from the ``random.Random`` the caller injects, so the same seed gives the same partitions.

Every hashing partitioner reproduces its origin bit for bit: the Java client (murmur2 with
``toPositive``), sarama (FNV-1a with its own sign handling, its "reference" variant, custom
hash functions) and librdkafka (``consistent``, ``consistent_random``, ``murmur2_random``,
``fnv1a``, ``fnv1a_random``). The tests check them against vectors produced by those clients.
"""

from __future__ import annotations

import bisect
import enum
import operator
import random
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from kproto.errors import ConfigurationError, KprotoError, LeaderNotAvailableError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BatchAwarePartitioner",
    "DefaultPartitioner",
    "DynamicConsistencyPartitioner",
    "HashFunction",
    "HashPartitioner",
    "HashSign",
    "InvalidPartitionError",
    "ManualPartitioner",
    "Partitioner",
    "PartitionerFactory",
    "PartitionerSettings",
    "RandomPartitioner",
    "RoundRobinPartitioner",
    "StickyPartitioner",
    "choose_partition",
    "consistent_crc_partitioner",
    "consistent_random_partitioner",
    "create_partitioner",
    "crc32",
    "custom_hash_partitioner",
    "fnv1a_32",
    "hash_index",
    "librdkafka_fnv1a_partitioner",
    "librdkafka_fnv1a_random_partitioner",
    "librdkafka_murmur2_partitioner",
    "librdkafka_murmur2_random_partitioner",
    "murmur2",
    "notify_queue_sizes",
    "notify_record_appended",
    "partitioner_for_topic",
    "partitioner_names",
    "register_partitioner",
    "sarama_hash_partitioner",
    "sarama_reference_hash_partitioner",
    "to_positive",
]

DEFAULT_BATCH_SIZE = 16384
"""The Java client's ``batch.size``: bytes produced to a sticky partition before switching."""

HashFunction = Callable[[bytes], int]
"""A 32-bit hash of a key; only the low 32 bits of the result are used (like Go's Sum32)."""


class InvalidPartitionError(KprotoError, ValueError):
    """A partition outside the topic: a partitioner's bad choice or a bad explicit partition."""


# -- hash functions -----------------------------------------------------------------------

_M32 = 0xFFFFFFFF
_MURMUR_SEED = 0x9747B28C
_MURMUR_M = 0x5BD1E995
_WORDS = struct.Struct("<I")


def murmur2(data: bytes) -> int:
    """The Java client's ``Utils.murmur2``: MurmurHash2, 32-bit, as a signed Java int."""
    length = len(data)
    m = _MURMUR_M
    h = (_MURMUR_SEED ^ length) & _M32
    tail = length & ~3
    for (k,) in _WORDS.iter_unpack(data[:tail]):
        k = (k * m) & _M32
        k ^= k >> 24
        k = (k * m) & _M32
        h = ((h * m) & _M32) ^ k
    rest = length & 3
    if rest:
        if rest == 3:
            h ^= data[tail + 2] << 16
        if rest >= 2:
            h ^= data[tail + 1] << 8
        h ^= data[tail]
        h = (h * m) & _M32
    h ^= h >> 13
    h = (h * m) & _M32
    h ^= h >> 15
    return h - 0x100000000 if h & 0x80000000 else h


def to_positive(number: int) -> int:
    """The Java client's ``Utils.toPositive``: clear the sign bit of a 32-bit int."""
    return number & 0x7FFFFFFF


def fnv1a_32(data: bytes) -> int:
    """FNV-1a, 32-bit, unsigned (Go's ``hash/fnv.New32a``, sarama's default hash)."""
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & _M32
    return h


def crc32(data: bytes) -> int:
    """CRC-32 (IEEE), unsigned: librdkafka's ``consistent`` hash."""
    return zlib.crc32(data)


class HashSign(enum.Enum):
    """How a 32-bit hash becomes an index; the three clients disagree, so all are kept."""

    SARAMA = "sarama"
    """sarama's ``NewHashPartitioner``: int32 hash, Go's truncating ``%``, then negated if
    negative. Also librdkafka's ``fnv1a``, which copied it."""
    TO_POSITIVE = "to-positive"
    """The Java client: clear the sign bit, then ``%``. sarama's reference variant
    (``WithAbsFirst``) and librdkafka's ``murmur2`` do the same."""
    UNSIGNED = "unsigned"
    """The hash as an unsigned 32-bit number, then ``%``: librdkafka's ``consistent``,
    sarama's ``WithHashUnsigned``."""


def hash_index(hash_value: int, num_partitions: int, sign: HashSign) -> int:
    """Map a 32-bit hash to ``[0, num_partitions)`` the way ``sign``'s origin does."""
    h = hash_value & _M32
    if sign is HashSign.TO_POSITIVE:
        return (h & 0x7FFFFFFF) % num_partitions
    if sign is HashSign.UNSIGNED:
        return h % num_partitions
    # Go: int32(h) % n keeps the dividend's sign; negating a negative remainder gives
    # |int32(h)| % n (2**31 % n for the most negative int32, as in Go and C).
    if h & 0x80000000:
        return (0x100000000 - h) % num_partitions
    return h % num_partitions


# -- the interface --------------------------------------------------------------------------


@runtime_checkable
class Partitioner(Protocol):
    """What the producer core needs from a partitioner (sarama's ``Partitioner``).

    ``partition`` returns an index into ``partitions`` (the candidates, ascending ids): all
    partitions of the topic if the partitioner requires consistency, else only those with a
    leader. ``value_size`` is the record value's length in bytes (0 for a null value).
    """

    @property
    def requires_consistency(self) -> bool: ...

    def partition(self, key: bytes | None, value_size: int, partitions: Sequence[int]) -> int: ...


@runtime_checkable
class DynamicConsistencyPartitioner(Partitioner, Protocol):
    """A partitioner that needs all partitions for some records only (e.g. keyed ones)."""

    def message_requires_consistency(self, key: bytes | None) -> bool: ...


@runtime_checkable
class BatchAwarePartitioner(Protocol):
    """A partitioner that wants to hear what the producer's accumulator did (the sticky one)."""

    def record_appended(
        self, partition: int, appended_bytes: int, all_batches_full: bool = True
    ) -> None: ...

    def update_queue_sizes(
        self, queue_sizes: Mapping[int, int] | None, num_partitions: int
    ) -> None: ...


def _consistency(partitioner: Partitioner, key: bytes | None) -> bool:
    per_message = getattr(partitioner, "message_requires_consistency", None)
    if per_message is not None:
        return bool(per_message(key))
    return bool(partitioner.requires_consistency)


def choose_partition(
    partitioner: Partitioner,
    key: bytes | None,
    value_size: int,
    explicit_partition: int | None,
    all_partitions: Sequence[int],
    writable_partitions: Sequence[int],
) -> int:
    """The partition for one record: sarama's ``partitionMessage`` rules.

    ``all_partitions`` lists every partition id of the topic in ascending order,
    ``writable_partitions`` those with a known leader. A record's explicit partition wins
    over the partitioner (as in the Java client) but must exist in the topic.
    Raises :class:`LeaderNotAvailableError` when there is no candidate to choose from and
    :class:`InvalidPartitionError` for an explicit partition or a choice outside the topic.
    """
    if explicit_partition is not None:
        n = len(all_partitions)
        if n == 0:
            raise LeaderNotAvailableError(
                f"no partitions known for the topic (record asks for partition "
                f"{explicit_partition})"
            )
        p = explicit_partition
        if (0 <= p < n and all_partitions[p] == p) or p in all_partitions:
            return p
        raise InvalidPartitionError(
            f"record asks for partition {explicit_partition}, but the topic has "
            f"partitions {_describe(all_partitions)}"
        )
    candidates = all_partitions if _consistency(partitioner, key) else writable_partitions
    n = len(candidates)
    if n == 0:
        which = "partitions" if candidates is all_partitions else "partitions with a leader"
        raise LeaderNotAvailableError(f"the topic has no {which} to choose from")
    choice = partitioner.partition(key, value_size, candidates)
    try:
        index = operator.index(choice)
    except TypeError:
        raise InvalidPartitionError(
            f"partitioner {partitioner!r} returned {choice!r}, not an integer index"
        ) from None
    if not 0 <= index < n:
        raise InvalidPartitionError(
            f"partitioner {partitioner!r} returned index {index}, outside [0, {n})"
        )
    return candidates[index]


def _describe(partitions: Sequence[int]) -> str:
    n = len(partitions)
    if n and partitions[0] == 0 and partitions[-1] == n - 1:
        return f"0..{n - 1}"
    return str(list(partitions))


def notify_record_appended(
    partitioner: Partitioner, partition: int, appended_bytes: int, all_batches_full: bool = True
) -> None:
    """Tell ``partitioner`` (if it cares) that the record just partitioned was appended.

    Call it right after appending the record whose partition :func:`choose_partition` chose,
    with the bytes it took in the batch and whether every batch queued for that partition is
    now full (closed). The sticky partitioner switches only when the batches are full, or when
    twice ``batch_size`` bytes went to the partition (KAFKA-14156).
    """
    hook = getattr(partitioner, "record_appended", None)
    if hook is not None:
        hook(partition, appended_bytes, all_batches_full)


def notify_queue_sizes(
    partitioner: Partitioner, queue_sizes: Mapping[int, int] | None, num_partitions: int
) -> None:
    """Tell ``partitioner`` (if it cares) how many batches wait per partition.

    ``queue_sizes`` maps each partition that may take records (it has a leader and is not
    lagging) to its number of queued batches; ``None`` turns the adaptive choice off, e.g.
    until every partition of the topic has had a batch. ``num_partitions`` is the topic's
    partition count.
    """
    hook = getattr(partitioner, "update_queue_sizes", None)
    if hook is not None:
        hook(queue_sizes, num_partitions)


# -- simple partitioners --------------------------------------------------------------------


class ManualPartitioner:
    """Records go to their own explicit partition (sarama's ``NewManualPartitioner``).

    :func:`choose_partition` honours an explicit partition before asking any partitioner, so
    this one is only asked about records without one, which it refuses.
    """

    __slots__ = ()
    requires_consistency = True

    def partition(self, key: bytes | None, value_size: int, partitions: Sequence[int]) -> int:
        raise InvalidPartitionError(
            "the manual partitioner needs records with an explicit partition"
        )

    def __repr__(self) -> str:
        return "ManualPartitioner()"


class RandomPartitioner:
    """A uniformly random writable partition for every record (sarama's random)."""

    __slots__ = ("_rng",)
    requires_consistency = False

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def partition(self, key: bytes | None, value_size: int, partitions: Sequence[int]) -> int:
        return self._rng.randrange(len(partitions))

    def __repr__(self) -> str:
        return "RandomPartitioner()"


class RoundRobinPartitioner:
    """Writable partitions in turn (sarama's round robin, including its wrap rule).

    The counter restarts at 0 when it reaches the candidate count, so a shrinking list of
    writable partitions restarts the cycle exactly as sarama does.
    """

    __slots__ = ("_next",)
    requires_consistency = False

    def __init__(self) -> None:
        self._next = 0

    def partition(self, key: bytes | None, value_size: int, partitions: Sequence[int]) -> int:
        if self._next >= len(partitions):
            self._next = 0
        choice = self._next
        self._next = choice + 1
        return choice

    def __repr__(self) -> str:
        return f"RoundRobinPartitioner(next={self._next})"


KeyRule = Literal["hash", "fallback"]


class HashPartitioner:
    """A key hash modulo the candidate count; keys it does not hash go to ``fallback``.

    ``null_key`` and ``empty_key`` say what happens to a null key and to a zero-length key:
    ``"hash"`` hashes the empty byte string (librdkafka's ``consistent``, ``murmur2`` and
    ``fnv1a``), ``"fallback"`` hands the record to ``fallback`` (sarama's null keys,
    librdkafka's ``*_random`` variants). Hashed records need consistency: all partitions.
    """

    __slots__ = ("_empty_key", "_fallback", "_hash", "_null_key", "_sign")
    requires_consistency = True

    def __init__(
        self,
        hash_function: HashFunction,
        sign: HashSign,
        *,
        fallback: Partitioner | None = None,
        null_key: KeyRule = "fallback",
        empty_key: KeyRule = "hash",
    ) -> None:
        if null_key not in ("hash", "fallback") or empty_key not in ("hash", "fallback"):
            raise ConfigurationError(f"null_key/empty_key must be 'hash' or 'fallback', "
                             f"not {null_key!r}/{empty_key!r}")
        if fallback is None and "fallback" in (null_key, empty_key):
            raise ConfigurationError("a fallback partitioner is needed for keys that are not hashed")
        self._hash = hash_function
        self._sign = sign
        self._fallback = fallback
        self._null_key = null_key
        self._empty_key = empty_key

    def _hashes(self, key: bytes | None) -> bool:
        if key is None:
            return self._null_key == "hash"
        if not key:
            return self._empty_key == "hash"
        return True

    def message_requires_consistency(self, key: bytes | None) -> bool:
        if self._hashes(key):
            return True
        assert self._fallback is not None
        return _consistency(self._fallback, key)

    def partition(self, key: bytes | None, value_size: int, partitions: Sequence[int]) -> int:
        if self._hashes(key):
            return hash_index(self._hash(key or b""), len(partitions), self._sign)
        assert self._fallback is not None
        return self._fallback.partition(key, value_size, partitions)

    def record_appended(
        self, partition: int, appended_bytes: int, all_batches_full: bool = True
    ) -> None:
        if self._fallback is not None:
            notify_record_appended(self._fallback, partition, appended_bytes, all_batches_full)

    def update_queue_sizes(
        self, queue_sizes: Mapping[int, int] | None, num_partitions: int
    ) -> None:
        if self._fallback is not None:
            notify_queue_sizes(self._fallback, queue_sizes, num_partitions)

    def __repr__(self) -> str:
        name = getattr(self._hash, "__name__", repr(self._hash))
        return (f"HashPartitioner({name}, {self._sign.value}, null_key={self._null_key}, "
                f"empty_key={self._empty_key}, fallback={self._fallback!r})")


def sarama_hash_partitioner(rng: random.Random) -> HashPartitioner:
    """sarama's ``NewHashPartitioner``: FNV-1a, sarama's sign rule, null keys random.

    librdkafka's ``fnv1a_random`` partitions every key the same way.
    """
    return HashPartitioner(fnv1a_32, HashSign.SARAMA, fallback=RandomPartitioner(rng))


def sarama_reference_hash_partitioner(rng: random.Random) -> HashPartitioner:
    """sarama's ``NewReferenceHashPartitioner``: FNV-1a with the Java client's sign rule."""
    return HashPartitioner(fnv1a_32, HashSign.TO_POSITIVE, fallback=RandomPartitioner(rng))


def custom_hash_partitioner(
    hash_function: HashFunction,
    rng: random.Random,
    *,
    sign: HashSign = HashSign.SARAMA,
    fallback: Partitioner | None = None,
) -> HashPartitioner:
    """A user's hash function in sarama's hash partitioner (``NewCustomHashPartitioner``).

    ``hash_function`` maps key bytes to a 32-bit hash (like Go's ``hash.Hash32.Sum32``).
    The sign rule is sarama's unless ``sign`` says otherwise (``WithAbsFirst`` is
    :attr:`HashSign.TO_POSITIVE`, ``WithHashUnsigned`` :attr:`HashSign.UNSIGNED`); null keys
    go to ``fallback``, by default a random partition.
    """
    return HashPartitioner(
        hash_function, sign, fallback=fallback if fallback is not None else RandomPartitioner(rng)
    )


def consistent_crc_partitioner() -> HashPartitioner:
    """librdkafka's ``consistent``: CRC-32 of the key, unsigned, modulo the partition count.

    Null and empty keys both hash as zero bytes (CRC 0), so they all land on partition 0.
    """
    return HashPartitioner(crc32, HashSign.UNSIGNED, null_key="hash", empty_key="hash")


def consistent_random_partitioner(
    rng: random.Random, fallback: Partitioner | None = None
) -> HashPartitioner:
    """librdkafka's ``consistent_random``: like ``consistent``, but null and empty keys go to
    a random partition (librdkafka's default partitioner)."""
    return HashPartitioner(
        crc32, HashSign.UNSIGNED,
        fallback=fallback if fallback is not None else RandomPartitioner(rng),
        null_key="fallback", empty_key="fallback",
    )


def _murmur2_unsigned(data: bytes) -> int:
    return murmur2(data) & _M32


def librdkafka_murmur2_partitioner() -> HashPartitioner:
    """librdkafka's ``murmur2``: the Java hash for keys; null keys hash as zero bytes."""
    return HashPartitioner(_murmur2_unsigned, HashSign.TO_POSITIVE, null_key="hash")


def librdkafka_murmur2_random_partitioner(rng: random.Random) -> HashPartitioner:
    """librdkafka's ``murmur2_random``: the Java hash for keys, random for null keys."""
    return HashPartitioner(_murmur2_unsigned, HashSign.TO_POSITIVE, fallback=RandomPartitioner(rng))


def librdkafka_fnv1a_partitioner() -> HashPartitioner:
    """librdkafka's ``fnv1a``: sarama's hash, with null keys hashed as zero bytes."""
    return HashPartitioner(fnv1a_32, HashSign.SARAMA, null_key="hash")


def librdkafka_fnv1a_random_partitioner(rng: random.Random) -> HashPartitioner:
    """librdkafka's ``fnv1a_random``: the same partitions as sarama's hash partitioner."""
    return sarama_hash_partitioner(rng)


# -- the Java client's default: murmur2 for keys, uniform sticky (KIP-794) for the rest ---


class StickyPartitioner:
    """The Java client's built-in partitioner for keyless records (KIP-794).

    Records stick to one partition until ``batch_size`` bytes have gone to it; then the next
    partition is drawn: weighted by the inverse of queued batches when the core reported
    queue sizes (adaptive partitioning), else uniformly among the candidates.

    Bytes are counted exactly when the producer core reports appends through
    :func:`notify_record_appended` (which also says whether the partition's batches are full:
    the switch waits for that, up to twice ``batch_size``). Until the first report the
    partitioner counts key and value bytes itself, switching at ``batch_size``.
    """

    __slots__ = ("_adaptive", "_batch_size", "_core_reports", "_current", "_hint", "_load",
                 "_placed", "_produced", "_rng")
    requires_consistency = False

    def __init__(
        self, rng: random.Random, batch_size: int = DEFAULT_BATCH_SIZE, adaptive: bool = True
    ) -> None:
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be >= 1, not {batch_size}")
        self._rng = rng
        self._batch_size = batch_size
        self._adaptive = adaptive
        self._current: int | None = None
        self._hint = 0
        self._produced = 0
        self._placed: int | None = None
        self._core_reports = False
        self._load: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    @property
    def current_partition(self) -> int | None:
        """The sticky partition id, or None before the first record or after a switch."""
        return self._current

    def partition(self, key: bytes | None, value_size: int, partitions: Sequence[int]) -> int:
        index = self._current_index(partitions)
        if index < 0:
            index = self._next_index(partitions)
        self._placed = partitions[index]
        if not self._core_reports:
            self._add(value_size + (len(key) if key else 0), True)
        return index

    def forget_placement(self) -> None:
        """The record just partitioned did not use the sticky choice (keyed records)."""
        self._placed = None

    def record_appended(
        self, partition: int, appended_bytes: int, all_batches_full: bool = True
    ) -> None:
        placed, self._placed = self._placed, None
        if placed is None or placed != partition or partition != self._current:
            return
        if not self._core_reports:
            # First report: from now on the core's exact sizes replace our own estimates.
            self._core_reports = True
            self._produced = 0
        self._add(appended_bytes, all_batches_full)

    def update_queue_sizes(
        self, queue_sizes: Mapping[int, int] | None, num_partitions: int
    ) -> None:
        if queue_sizes is None or not self._adaptive:
            self._load = None
            return
        length = len(queue_sizes)
        # One partition, or none left to choose from: nothing to weigh.
        if length < 1 or num_partitions < 2:
            self._load = None
            return
        ids = tuple(sorted(queue_sizes))
        sizes = [queue_sizes[p] for p in ids]
        if min(sizes) < 0:
            raise ValueError(f"queue sizes must be >= 0: {dict(queue_sizes)}")
        top = max(sizes) + 1
        if length == num_partitions and min(sizes) == top - 1:
            # Equal queues everywhere and no partition excluded: uniform is the same thing.
            self._load = None
            return
        # Weight = (largest queue + 1) - queue, as a running sum: a uniform draw in
        # [0, total) lands on a partition with probability proportional to its weight.
        running = 0
        cumulative = []
        for size in sizes:
            running += top - size
            cumulative.append(running)
        self._load = (ids, tuple(cumulative))

    def _add(self, nbytes: int, switch_allowed: bool) -> None:
        self._produced += nbytes
        produced = self._produced
        if (produced >= self._batch_size and switch_allowed) or produced >= 2 * self._batch_size:
            self._current = None

    def _current_index(self, partitions: Sequence[int]) -> int:
        current = self._current
        if current is None:
            return -1
        hint = self._hint
        if hint < len(partitions) and partitions[hint] == current:
            return hint
        try:
            hint = partitions.index(current)
        except ValueError:
            return -1  # the sticky partition lost its leader: choose again
        self._hint = hint
        return hint

    def _next_index(self, partitions: Sequence[int]) -> int:
        index = -1
        load = self._load
        if load is not None:
            ids, cumulative = load
            draw = self._rng.randrange(cumulative[-1])
            chosen = ids[bisect.bisect_right(cumulative, draw)]
            try:
                index = partitions.index(chosen)
            except ValueError:
                index = -1  # stale weights: fall back to uniform
        if index < 0:
            index = self._rng.randrange(len(partitions))
        self._current = partitions[index]
        self._hint = index
        self._produced = 0
        return index

    def __repr__(self) -> str:
        return (f"StickyPartitioner(current={self._current}, produced={self._produced}, "
                f"batch_size={self._batch_size})")


class DefaultPartitioner:
    """The Java client's default: ``toPositive(murmur2(key)) % numPartitions`` for keyed
    records, the uniform sticky partitioner (KIP-794) for keyless ones.

    Keyed records use all partitions, so a key lands where Java, kafka-python, aiokafka and
    librdkafka's ``murmur2_random`` put it. ``ignore_keys`` is the Java client's
    ``partitioner.ignore.keys``: every record goes through the sticky partitioner.
    """

    __slots__ = ("_ignore_keys", "_sticky")
    requires_consistency = True

    def __init__(
        self,
        rng: random.Random,
        batch_size: int = DEFAULT_BATCH_SIZE,
        adaptive: bool = True,
        ignore_keys: bool = False,
    ) -> None:
        self._sticky = StickyPartitioner(rng, batch_size, adaptive)
        self._ignore_keys = ignore_keys

    @property
    def sticky(self) -> StickyPartitioner:
        """The sticky partitioner that places keyless records."""
        return self._sticky

    def message_requires_consistency(self, key: bytes | None) -> bool:
        return key is not None and not self._ignore_keys

    def partition(self, key: bytes | None, value_size: int, partitions: Sequence[int]) -> int:
        if key is None or self._ignore_keys:
            return self._sticky.partition(key, value_size, partitions)
        self._sticky.forget_placement()
        return (murmur2(key) & 0x7FFFFFFF) % len(partitions)

    def record_appended(
        self, partition: int, appended_bytes: int, all_batches_full: bool = True
    ) -> None:
        self._sticky.record_appended(partition, appended_bytes, all_batches_full)

    def update_queue_sizes(
        self, queue_sizes: Mapping[int, int] | None, num_partitions: int
    ) -> None:
        self._sticky.update_queue_sizes(queue_sizes, num_partitions)

    def __repr__(self) -> str:
        return f"DefaultPartitioner(ignore_keys={self._ignore_keys}, sticky={self._sticky!r})"


# -- the registry -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartitionerSettings:
    """What a partitioner may be built from; every field has the Java client's default."""

    rng: random.Random
    batch_size: int = DEFAULT_BATCH_SIZE
    adaptive: bool = True
    hash_function: HashFunction | None = None


PartitionerFactory = Callable[[str, PartitionerSettings], Partitioner]
"""Builds the partitioner for one topic (partitioners keep per-topic state)."""


def _custom(topic: str, s: PartitionerSettings) -> Partitioner:
    if s.hash_function is None:
        raise ConfigurationError("the custom hash partitioner needs a hash_function")
    return custom_hash_partitioner(s.hash_function, s.rng)


_REGISTRY: dict[str, PartitionerFactory] = {
    "default": lambda t, s: DefaultPartitioner(s.rng, s.batch_size, s.adaptive),
    "murmur2": lambda t, s: DefaultPartitioner(s.rng, s.batch_size, s.adaptive),
    "sticky": lambda t, s: DefaultPartitioner(s.rng, s.batch_size, s.adaptive, ignore_keys=True),
    "sarama-hash": lambda t, s: sarama_hash_partitioner(s.rng),
    "sarama-reference-hash": lambda t, s: sarama_reference_hash_partitioner(s.rng),
    "random": lambda t, s: RandomPartitioner(s.rng),
    "round-robin": lambda t, s: RoundRobinPartitioner(),
    "manual": lambda t, s: ManualPartitioner(),
    "consistent-crc": lambda t, s: consistent_crc_partitioner(),
    "consistent-random": lambda t, s: consistent_random_partitioner(s.rng),
    "murmur2-random": lambda t, s: librdkafka_murmur2_random_partitioner(s.rng),
    "fnv1a": lambda t, s: librdkafka_fnv1a_partitioner(),
    "fnv1a-random": lambda t, s: librdkafka_fnv1a_random_partitioner(s.rng),
    "custom": _custom,
}
_BUILT_IN = frozenset(_REGISTRY)


def partitioner_names() -> tuple[str, ...]:
    """Every name :func:`create_partitioner` accepts, sorted."""
    return tuple(sorted(_REGISTRY))


def register_partitioner(name: str, factory: PartitionerFactory) -> None:
    """Make ``name`` usable in configuration; built-in names cannot be replaced."""
    if not name or not isinstance(name, str):
        raise ConfigurationError(f"a partitioner name must be a non-empty string, not {name!r}")
    if name in _BUILT_IN:
        raise ConfigurationError(f"{name!r} is a built-in partitioner and cannot be replaced")
    _REGISTRY[name] = factory


def create_partitioner(name: str, topic: str, settings: PartitionerSettings) -> Partitioner:
    """A fresh partitioner for ``topic`` from its configured ``name``."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown partitioner {name!r}; known: {', '.join(partitioner_names())}"
        ) from None
    return factory(topic, settings)


def partitioner_for_topic(spec: Any, topic: str, settings: PartitionerSettings) -> Partitioner:
    """Resolve a configured partitioner: a name, a factory ``(topic, settings)``, or an object.

    An object is shared by every topic; a name or a factory gives each topic its own state.
    """
    if isinstance(spec, str):
        return create_partitioner(spec, topic, settings)
    if not isinstance(spec, type) and callable(getattr(spec, "partition", None)):
        if not hasattr(spec, "requires_consistency"):
            raise ConfigurationError(f"partitioner {spec!r} has no requires_consistency")
        return spec  # type: ignore[no-any-return]
    if callable(spec):
        try:
            made = spec(topic, settings)
        except TypeError as exc:
            raise ConfigurationError(
                f"partitioner factory {spec!r} does not take (topic, settings): {exc}"
            ) from exc
        if not callable(getattr(made, "partition", None)):
            raise ConfigurationError(f"partitioner factory {spec!r} returned {made!r}")
        return made  # type: ignore[no-any-return]
    raise ConfigurationError(f"not a partitioner, a partitioner name or a factory: {spec!r}")
