"""What a simulation run recorded (``History``) and the guarantees checked against it.

Theory of operation: the actors record what the applications saw (records sent, acked,
failed; transactions committed or aborted; what readers read; which member claimed which
partition in which generation; every user operation's start, end and bound); the
simulation records what the cluster did (every change of a committed group offset, unclean
leader changes) and, at the end, every partition's log. Each ``check_*`` function takes a
``History`` and returns the ``Violation``s it finds; ``check`` runs them all. They read
nothing else, so a test can build a ``History`` by hand with one planted violation.

Values written by the simulated producers name their writer: ``b"p1:17"`` is producer p1's
record 17, ``b"x1:4:2"`` transactional producer x1's transaction 4, record 2.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["CHECKS", "History", "Sent", "Violation", "check"]


@dataclass(frozen=True)
class Violation:
    invariant: str
    message: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.message}"


@dataclass
class Sent:
    """One record a simulated producer sent."""

    producer: str
    seq: int
    """Its position in the producer's own order (per producer, increasing)."""
    topic: str
    partition: int
    value: bytes
    time: float
    kind: str
    """``idempotent``, ``plain`` or ``transactional``."""
    txn: int | None = None
    acked: tuple[int, float] | None = None
    """(offset, time) once delivered."""
    failed: tuple[str, float] | None = None
    abandoned: bool = False
    """Its process died before it settled: nothing is expected of it."""


@dataclass
class History:
    """See the module docstring."""

    sent: dict[bytes, Sent] = field(default_factory=dict)
    txns: dict[tuple[str, int], str] = field(default_factory=dict)
    """(producer, transaction) -> ``committed``, ``aborted`` or ``unknown``."""
    reads: list[tuple[str, str, int, int, bytes | None, str]] = field(default_factory=list)
    """(reader, topic, partition, offset, value, isolation level)."""
    read_from: list[tuple[str, str, int, int | None, int]] = field(default_factory=list)
    """(reader, topic, partition, start offset or None for the oldest, len(reads) then): a
    read_committed reader's stream of a partition starts; its reads of that partition up to
    its next start must be every committed record from there, once, in order."""
    owners: dict[tuple[str, int, str, int], set[str]] = field(
        default_factory=lambda: defaultdict(set))
    """(group, generation, topic, partition) -> member ids that claimed it."""
    commits: list[tuple[str, str, int, int, float]] = field(default_factory=list)
    """(group, topic, partition, committed offset, time), as the coordinator stored them."""
    operations: list[tuple[str, str, float, float, float, bool]] = field(default_factory=list)
    """(host, kind, start, time taken, bound, succeeded)."""
    open_ops: list[tuple[str, str, float, float, float]] = field(default_factory=list)
    """(host, kind, start, time taken so far, bound) of operations that never settled."""
    logs: dict[tuple[str, int], list[tuple[int, bytes | None, bool]]] = field(
        default_factory=dict)
    """(topic, partition) -> (offset, value, transactional) of every data record at the end."""
    aborted_ranges: dict[tuple[str, int], list[tuple[int, int, int]]] = field(
        default_factory=dict)
    uncommitted: dict[tuple[str, int], set[int]] = field(default_factory=dict)
    """(topic, partition) -> offsets of transactional records whose transaction did not
    commit (aborted, or still open at the end): what read_committed never returns."""
    transforms: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Group -> (input topic, output topic) of consume-transform-produce members: each input
    record at ``p``, offset ``n`` is written to the output's partition ``p`` with the value
    ``b"p:n:" + its value``, in a transaction that commits the group's offsets."""
    unclean: set[tuple[str, int]] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    coordinator_keys: set[tuple[int, str]] = field(default_factory=set)
    end: float = 0.0

    # -- recording ------------------------------------------------------------------------

    def operation(self, host: str, kind: str, start: float, took: float, bound: float,
                  ok: bool) -> None:
        self.operations.append((host, kind, start, took, bound, ok))

    def open_operation(self, host: str, kind: str, start: float, took: float,
                       bound: float) -> None:
        self.open_ops.append((host, kind, start, took, bound))

    def committed(self, group: str, topic: str, partition: int, offset: int,
                  time: float) -> None:
        self.commits.append((group, topic, partition, offset, time))

    def claimed(self, group: str, generation: int, topic: str, partition: int,
                member: str) -> None:
        self.owners[(group, generation, topic, partition)].add(member)


def _committed(h: History, topic: str, part: int) -> list[tuple[int, bytes | None]]:
    """(offset, value) of the partition's records a read_committed reader returns."""
    gone = h.uncommitted.get((topic, part), set())
    return [(off, value) for off, value, _ in h.logs.get((topic, part), []) if off not in gone]


def _where(sent: Sent) -> str:
    return f"{sent.producer} record {sent.seq} ({sent.value!r}) to {sent.topic}[{sent.partition}]"


def check_acked_not_lost(h: History) -> list[Violation]:
    """Records acknowledged (acks=all) are in the log at their offset, unless their
    partition went through an unclean leader change."""
    out = []
    where: dict[tuple[str, int], dict[int, bytes | None]] = {
        tp: {off: v for off, v, _ in rows} for tp, rows in h.logs.items()}
    for s in h.sent.values():
        if s.acked is None or (s.topic, s.partition) in h.unclean:
            continue
        log = where.get((s.topic, s.partition), {})
        offset = s.acked[0]
        if log.get(offset) != s.value:
            out.append(Violation("acked-not-lost", f"{_where(s)} acked at offset {offset} "
                                 f"(t={s.acked[1]:.3f}) but the log has "
                                 f"{log.get(offset)!r} there"))
    return out


def check_no_duplicates(h: History) -> list[Violation]:
    """An idempotent (or transactional) producer's record is stored at most once."""
    seen: dict[bytes, list[tuple[str, int, int]]] = defaultdict(list)
    for (topic, part), rows in h.logs.items():
        for off, value, _ in rows:
            if value is not None:
                seen[value].append((topic, part, off))
    out = []
    for value, places in seen.items():
        s = h.sent.get(value)
        if s is None or s.kind == "plain" or len(places) < 2:
            continue
        out.append(Violation("no-duplicates", f"{_where(s)} is stored {len(places)} times: "
                             + ", ".join(f"{t}[{p}]@{o}" for t, p, o in places)))
    return out


def check_settled(h: History) -> list[Violation]:
    """Every record of an idempotent (or transactional) producer settles: acked or failed
    (the producer never gets stuck)."""
    out = []
    for s in h.sent.values():
        if s.kind != "plain" and not s.abandoned and s.acked is None and s.failed is None:
            out.append(Violation("settles", f"{_where(s)} sent at t={s.time:.3f} never "
                                 "settled"))
    return out


def check_order(h: History) -> list[Violation]:
    """An idempotent producer's records of one partition are stored in the order it sent
    them (partitions with an unclean leader change excepted)."""
    out = []
    for (topic, part), rows in h.logs.items():
        if (topic, part) in h.unclean:
            continue
        last: dict[str, tuple[int, int]] = {}
        for off, value, _ in rows:
            s = h.sent.get(value) if value is not None else None
            if s is None or s.kind == "plain":
                continue
            before = last.get(s.producer)
            if before is not None and s.seq < before[0]:
                out.append(Violation("order", f"{_where(s)} stored at offset {off}, after "
                                     f"its record {before[0]} at offset {before[1]}"))
            last[s.producer] = (s.seq, off)
    return out


def check_one_owner(h: History) -> list[Violation]:
    """No partition is claimed by two members in one generation."""
    return [Violation("one-owner", f"group {g!r} generation {gen}: {t}[{p}] claimed by "
                      + ", ".join(sorted(members)))
            for (g, gen, t, p), members in sorted(h.owners.items()) if len(members) > 1]


def check_commits_forward(h: History) -> list[Violation]:
    """A group's committed offset of a partition never goes backwards (partitions with an
    unclean leader change excepted)."""
    out = []
    last: dict[tuple[str, str, int], tuple[int, float]] = {}
    for group, topic, part, offset, time in h.commits:
        if (topic, part) in h.unclean:
            continue
        key = (group, topic, part)
        before = last.get(key)
        if before is not None and offset < before[0]:
            out.append(Violation("commits-forward", f"group {group!r} {topic}[{part}]: "
                                 f"committed {offset} at t={time:.3f} after {before[0]} at "
                                 f"t={before[1]:.3f}"))
        last[key] = (offset, time)
    return out


def check_no_aborted_reads(h: History) -> list[Violation]:
    """A read_committed reader never sees a record of an aborted transaction (partitions with
    an unclean leader change excepted: the abort marker may be what was lost)."""
    out = []
    for reader, topic, part, off, value, isolation in h.reads:
        if isolation != "read_committed" or value is None or (topic, part) in h.unclean:
            continue
        s = h.sent.get(value)
        if s is None or s.txn is None:
            continue
        if h.txns.get((s.producer, s.txn)) == "aborted":
            out.append(Violation("no-aborted-reads", f"{reader} read {_where(s)} at "
                                 f"{topic}[{part}]@{off}: its transaction {s.txn} aborted"))
    return out


def check_reads_complete(h: History) -> list[Violation]:
    """A read_committed reader's stream of a partition returns every committed record from
    where it started, once each, in offset order (partitions with an unclean leader change
    excepted: truncation replaces what was read)."""
    out = []
    runs: dict[tuple[str, str, int], list[tuple[int | None, int]]] = defaultdict(list)
    for reader, topic, part, start, index in h.read_from:
        runs[(reader, topic, part)].append((start, index))
    for (reader, topic, part), starts in sorted(runs.items(), key=lambda kv: kv[0]):
        if (topic, part) in h.unclean:
            continue
        visible = [off for off, _ in _committed(h, topic, part)]
        where = f"{reader} {topic}[{part}]"
        bounds = [index for _, index in starts[1:]] + [len(h.reads)]
        for (start, first), last in zip(starts, bounds, strict=True):
            got = [r[3] for r in h.reads[first:last]
                   if r[0] == reader and r[1] == topic and r[2] == part]
            if not got:
                continue
            lo = visible[0] if start is None and visible else (start or 0)
            expected = [off for off in visible if lo <= off <= got[-1]]
            if got != expected:
                missing = sorted(set(expected) - set(got))
                extra = len(got) - len(set(got))
                order = "" if got == sorted(got) else ", out of order"
                out.append(Violation("reads-complete", f"{where} from "
                                     f"{'the oldest' if start is None else start} read "
                                     f"{len(got)} records up to offset {got[-1]}: "
                                     f"{len(missing)} committed ones missed "
                                     f"{missing[:5]}, {extra} read twice{order}"))
    return out


def check_bounded(h: History) -> list[Violation]:
    """Every user operation completes or fails within its bound."""
    out = []
    for host, kind, start, took, bound, _ok in h.operations:
        if took > bound:
            out.append(Violation("bounded", f"{host} {kind} started at t={start:.3f} took "
                                 f"{took:.3f}s, its bound is {bound:.3f}s"))
    for host, kind, start, took, bound in h.open_ops:
        if took > bound:
            out.append(Violation("bounded", f"{host} {kind} started at t={start:.3f} never "
                                 f"settled ({took:.3f}s so far, its bound is {bound:.3f}s)"))
    return out


def check_exactly_once(h: History) -> list[Violation]:
    """Consume-transform-produce with transactions: each committed input record below the
    group's final committed offset has exactly one committed output, with its value; none
    at or above it has any (the output and the offsets commit together). Partitions with an
    unclean leader change are excepted, on either side."""
    out = []
    for group, (src, dst) in sorted(h.transforms.items()):
        final: dict[int, int] = {}
        for g, topic, part, offset, _time in h.commits:
            if g == group and topic == src:
                final[part] = offset
        written: dict[tuple[int, int], list[tuple[int, int, bytes]]] = defaultdict(list)
        for topic, part in sorted(h.logs):
            if topic != dst or (topic, part) in h.unclean:
                continue
            for off, value in _committed(h, topic, part):
                if value is None:
                    continue
                head, _, body = value.partition(b":")
                mid, _, rest = body.partition(b":")
                try:
                    key = (int(head), int(mid))
                except ValueError:
                    out.append(Violation("exactly-once", f"{dst}[{part}]@{off} holds "
                                         f"{value!r}, not an output record"))
                    continue
                written[key].append((part, off, rest))
        for topic, part in sorted(h.logs):
            if topic != src or (topic, part) in h.unclean or (dst, part) in h.unclean:
                continue
            upto = final.get(part, 0)
            for off, value in _committed(h, topic, part):
                copies = written.pop((part, off), [])
                where = f"group {group!r}: {src}[{part}]@{off}"
                if off >= upto:
                    if copies:
                        out.append(Violation("exactly-once", f"{where} is written to {dst} "
                                             f"but the committed offset is {upto}"))
                elif len(copies) != 1:
                    out.append(Violation("exactly-once", f"{where} (below the committed "
                                         f"offset {upto}) is written to {dst} "
                                         f"{len(copies)} times" + "".join(
                                             f", {dst}[{p}]@{o}" for p, o, _ in copies)))
                elif copies[0][2] != (value or b""):
                    p, o, got = copies[0]
                    out.append(Violation("exactly-once", f"{where} holds {value!r} but "
                                         f"{dst}[{p}]@{o} was written from {got!r}"))
        for (part, off), copies in sorted(written.items()):
            if (src, part) in h.unclean:
                continue
            out.append(Violation("exactly-once", f"group {group!r}: {dst} holds a committed "
                                 f"output of {src}[{part}]@{off}, which is no committed "
                                 f"input record: " + ", ".join(
                                     f"{dst}[{p}]@{o}" for p, o, _ in copies)))
    return out


CHECKS: dict[str, Callable[[History], list[Violation]]] = {
    "acked-not-lost": check_acked_not_lost,
    "no-duplicates": check_no_duplicates,
    "settles": check_settled,
    "order": check_order,
    "one-owner": check_one_owner,
    "commits-forward": check_commits_forward,
    "no-aborted-reads": check_no_aborted_reads,
    "reads-complete": check_reads_complete,
    "bounded": check_bounded,
    "exactly-once": check_exactly_once,
}


def check(h: History) -> list[Violation]:
    """Every invariant's violations, in the order of ``CHECKS``."""
    out: list[Violation] = []
    for fn in CHECKS.values():
        out.extend(fn(h))
    return out
