"""Checks of admin input, made before anything is sent: Kafka's rules, with errors naming the
field (``InvalidArgumentError.field``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from kproto.admin.errors import InvalidArgumentError
from kproto.admin.types import (
    ConfigResourceType,
    IncrementalAlterConfigsEntry,
    IncrementalAlterConfigsOperation,
    TopicDetail,
)

__all__ = [
    "CLIENT_METRICS_CONFIGS", "LOG_LEVELS", "MAX_TOPIC_NAME", "TOPIC_CONFIGS", "TOPIC_LIST_CONFIGS", "check_assignment", "check_group_id", "check_incremental_entries",
    "check_offset", "check_partition", "check_partition_count", "check_topic_detail",
    "check_topic_name", "check_topic_names",
]

MAX_TOPIC_NAME = 249
_LEGAL = re.compile(r"[a-zA-Z0-9._-]+")


def check_topic_name(name: object, field: str = "topic") -> str:
    """Kafka's Topic.validate: a non-empty str of at most 249 characters from
    [a-zA-Z0-9._-], neither "." nor ".."."""
    if not isinstance(name, str):
        raise InvalidArgumentError(field, f"a topic name is a str, not {type(name).__name__}")
    if not name:
        raise InvalidArgumentError(field, "the topic name is empty")
    if name in (".", ".."):
        raise InvalidArgumentError(field, f"the topic name cannot be {name!r}")
    if len(name) > MAX_TOPIC_NAME:
        raise InvalidArgumentError(
            field, f"the topic name is {len(name)} characters long; at most {MAX_TOPIC_NAME}")
    if not _LEGAL.fullmatch(name):
        raise InvalidArgumentError(
            field, f"the topic name {name!r} has characters other than ASCII letters, "
                   "digits, '.', '_' and '-'")
    return name


def check_topic_names(names: Iterable[object], field: str = "topics") -> list[str]:
    if isinstance(names, str):
        raise InvalidArgumentError(field, "give a list of topic names, not one str")
    out = [check_topic_name(n, f"{field}[{i}]") for i, n in enumerate(names)]
    if len(set(out)) != len(out):
        raise InvalidArgumentError(field, "a topic is named twice")
    return out


def check_group_id(group: object, field: str = "group") -> str:
    if not isinstance(group, str) or not group:
        raise InvalidArgumentError(field, "a group id is a non-empty str")
    return group


def check_partition(partition: object, field: str) -> int:
    if not isinstance(partition, int) or isinstance(partition, bool) or partition < 0:
        raise InvalidArgumentError(field, f"a partition is an int >= 0, not {partition!r}")
    return partition


def check_offset(offset: object, field: str, minimum: int = 0) -> int:
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < minimum:
        raise InvalidArgumentError(field, f"an offset is an int >= {minimum}, not {offset!r}")
    return offset


def _positive_or_default(value: object, field: str, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or (value < 1 and value != -1):
        raise InvalidArgumentError(
            field, f"the {what} must be at least 1, or -1 for the broker's default; "
                   f"got {value!r}")
    return value


def check_assignment(assignment: object, field: str, *, numbered_from: int = 0,
                     replicas: int | None = None) -> list[list[int]]:
    """A replica assignment ``{partition: [broker ids]}`` with partitions numbered
    ``numbered_from``.. without gaps, each a non-empty list of distinct broker ids >= 0, all of
    one length (``replicas`` when given); returned in partition order."""
    if not isinstance(assignment, Mapping) or not assignment:
        raise InvalidArgumentError(field, "a replica assignment is a non-empty "
                                          "{partition: [broker ids]} mapping")
    keys = sorted(assignment)
    if keys != list(range(numbered_from, numbered_from + len(keys))):
        raise InvalidArgumentError(
            field, f"partitions must be numbered {numbered_from}..{numbered_from + len(keys) - 1}"
                   f" without gaps; got {keys}")
    out = []
    for p in keys:
        brokers = assignment[p]
        where = f"{field}[{p}]"
        if isinstance(brokers, (str, bytes)) or not isinstance(brokers, Iterable):
            raise InvalidArgumentError(where, "a replica list is a list of broker ids")
        ids = list(brokers)
        if not ids:
            raise InvalidArgumentError(where, "the replica list is empty")
        if any(not isinstance(b, int) or isinstance(b, bool) or b < 0 for b in ids):
            raise InvalidArgumentError(where, f"broker ids are ints >= 0; got {ids}")
        if len(set(ids)) != len(ids):
            raise InvalidArgumentError(where, f"a broker appears twice in {ids}")
        if replicas is not None and len(ids) != replicas:
            raise InvalidArgumentError(
                where, f"every partition needs {replicas} replicas; this one has {len(ids)}")
        replicas = len(ids)
        out.append(ids)
    return out


def check_topic_detail(detail: object, field: str) -> TopicDetail:
    if not isinstance(detail, TopicDetail):
        raise InvalidArgumentError(field, f"give a TopicDetail, not {type(detail).__name__}")
    if detail.replica_assignment is not None:
        if detail.num_partitions not in (-1, len(detail.replica_assignment)):
            raise InvalidArgumentError(
                f"{field}.num_partitions", "give either num_partitions or a "
                "replica_assignment (or num_partitions=-1 with it)")
        check_assignment(detail.replica_assignment, f"{field}.replica_assignment")
        if detail.replication_factor not in (-1, len(next(iter(
                detail.replica_assignment.values())))):
            raise InvalidArgumentError(
                f"{field}.replication_factor", "give either replication_factor or a "
                "replica_assignment (or replication_factor=-1 with it)")
    else:
        _positive_or_default(detail.num_partitions, f"{field}.num_partitions",
                             "number of partitions")
        _positive_or_default(detail.replication_factor, f"{field}.replication_factor",
                             "replication factor")
    for name, value in detail.config_entries.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"{field}.config_entries", "config names are "
                                                                  "non-empty strs")
        if value is not None and not isinstance(value, str):
            raise InvalidArgumentError(f"{field}.config_entries[{name!r}]",
                                       "config values are strs (or None)")
    return detail


def check_partition_count(count: object, field: str = "count") -> int:
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise InvalidArgumentError(field, f"the partition count must be at least 1; "
                                          f"got {count!r}")
    return count


TOPIC_CONFIGS = frozenset({
    "cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type",
    "compression.zstd.level", "delete.retention.ms", "errors.deadletterqueue.group.enable",
    "file.delete.delay.ms", "flush.messages",
    "flush.ms", "follower.replication.throttled.replicas", "index.interval.bytes",
    "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
    "max.compaction.lag.ms", "max.decompressed.message.bytes", "max.message.bytes",
    "message.downconversion.enable",
    "message.format.version", "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms", "message.timestamp.difference.max.ms",
    "message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms",
    "min.insync.replicas", "preallocate", "remote.copy.lag.bytes", "remote.copy.lag.ms",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes", "retention.ms",
    "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
    "unclean.leader.election.enable",
})
"""Every topic config of Kafka 3.9 to 4.4 (LogConfig; a test compares it with what both
brokers describe): a topic's incremental changes name one of these."""

TOPIC_LIST_CONFIGS = frozenset({"cleanup.policy", "follower.replication.throttled.replicas",
                                "leader.replication.throttled.replicas"})
"""The topic configs whose values are lists: the ones APPEND and SUBTRACT apply to."""


LOG_LEVELS = frozenset({"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"})
"""The levels a broker logger may be set to (Kafka's LogLevelConfig)."""

ROOT_LOGGER = "root"

CLIENT_METRICS_CONFIGS = frozenset({"metrics", "interval.ms", "match"})
"""A client metrics subscription's configs (KIP-714)."""


def check_incremental_entries(entries: object, field: str = "entries", *,
                              kind: ConfigResourceType | None = None
                              ) -> dict[str, IncrementalAlterConfigsEntry]:
    """Config names are non-empty strs; each change is an IncrementalAlterConfigsEntry whose
    operation is known, with a value except for DELETE. Per resource ``kind``, as Kafka
    checks them: a topic's names are Kafka's topic configs, and APPEND and SUBTRACT apply to
    list configs only; a broker logger is SET to a log level or DELETEd (never the root
    logger); a client metrics subscription has three configs. A broker's are left to the
    broker: it accepts custom names."""
    if not isinstance(entries, Mapping) or not entries:
        raise InvalidArgumentError(field, "give a non-empty {name: "
                                          "IncrementalAlterConfigsEntry} mapping")
    for name, entry in entries.items():
        where = f"{field}[{name!r}]"
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(field, "config names are non-empty strs")
        if not isinstance(entry, IncrementalAlterConfigsEntry):
            raise InvalidArgumentError(where, "give an IncrementalAlterConfigsEntry")
        try:
            op = IncrementalAlterConfigsOperation(entry.operation)
        except ValueError:
            raise InvalidArgumentError(where, f"unknown operation {entry.operation!r}") from None
        if op != IncrementalAlterConfigsOperation.DELETE and entry.value is None:
            raise InvalidArgumentError(where, f"{op.name} needs a value")
        if kind == ConfigResourceType.BROKER_LOGGER:
            _check_logger_change(name, op, entry.value, where)
        if kind == ConfigResourceType.CLIENT_METRICS and name not in CLIENT_METRICS_CONFIGS:
            raise InvalidArgumentError(where, f"{name!r} is not a client metrics config "
                                              f"({', '.join(sorted(CLIENT_METRICS_CONFIGS))})")
        topic = kind == ConfigResourceType.TOPIC
        if topic and name not in TOPIC_CONFIGS:
            raise InvalidArgumentError(where, f"{name!r} is not a topic config")
        if topic and op in (IncrementalAlterConfigsOperation.APPEND,
                            IncrementalAlterConfigsOperation.SUBTRACT) \
                and name not in TOPIC_LIST_CONFIGS:
            raise InvalidArgumentError(where, f"{op.name} applies to list configs "
                                              f"({', '.join(sorted(TOPIC_LIST_CONFIGS))})")
    return dict(entries)


def _check_logger_change(name: str, op: IncrementalAlterConfigsOperation, value: str | None,
                         where: str) -> None:
    if op == IncrementalAlterConfigsOperation.SET and value not in LOG_LEVELS:
        raise InvalidArgumentError(where, f"a logger's level is one of "
                                          f"{', '.join(sorted(LOG_LEVELS))}; got {value!r}")
    if op in (IncrementalAlterConfigsOperation.APPEND,
              IncrementalAlterConfigsOperation.SUBTRACT):
        raise InvalidArgumentError(where, f"{op.name} does not apply to a broker logger "
                                          f"(SET a level or DELETE it)")
    if op == IncrementalAlterConfigsOperation.DELETE and name == ROOT_LOGGER:
        raise InvalidArgumentError(where, "the root logger's level cannot be deleted")
