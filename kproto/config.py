"""Typed, validated client configuration.

Theory of operation: :class:`Config` is an immutable bag of every option a client, producer,
consumer, consumer group or admin reads, with the defaults a user of the Java client would
expect. Durations are seconds (floats), sizes are bytes. It is validated once, when built, so
the state machines never check options again; a bad value raises
:class:`kproto.errors.ConfigurationError` naming the option and what it accepts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kproto import __version__
from kproto.errors import ConfigurationError

__all__ = ["SECURITY_PROTOCOLS", "SASL_MECHANISMS", "Config", "parse_bootstrap"]

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
ACKS = (0, 1, -1)
ISOLATION_LEVELS = ("read_uncommitted", "read_committed")
OFFSET_RESETS = ("earliest", "latest", "none")
RESULTS_WHEN_FULL = ("drop_oldest", "block")


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Every option, with documented defaults. Build with keywords; derive with ``replace``."""

    # -- client ---------------------------------------------------------------------------
    client_id: str = "kproto"
    """Sent with every request; brokers use it in logs and quotas."""
    client_software_name: str = "kproto"
    client_software_version: str = __version__
    request_timeout: float = 30.0
    """How long a request may wait for its response before it fails with a timeout."""
    connect_timeout: float = 10.0
    """How long opening a connection (TCP, TLS, ApiVersions, SASL) may take."""
    metadata_max_age: float = 300.0
    """Metadata older than this is refreshed even without an error asking for it."""
    metadata_max_wait: float = 60.0
    """How long an operation waits for metadata or for any broker to answer (as the Java
    client's max.block.ms does for metadata): a record whose topic is not in the metadata, a
    query, a partition consumer's start, a group's join. When no broker could be reached by
    then it fails with :class:`kproto.errors.ClusterUnreachableError`, listing each address
    and why it failed."""
    retry_backoff: float = 0.1
    """First wait before retrying a failed request; doubles up to ``retry_backoff_max``."""
    retry_backoff_max: float = 1.0
    reconnect_backoff: float = 0.05
    """First wait before reconnecting to a broker; doubles up to ``reconnect_backoff_max``."""
    reconnect_backoff_max: float = 1.0
    connections_max_idle: float = 540.0
    """A connection with nothing in flight for this long is closed."""
    max_in_flight_per_connection: int = 5
    max_frame_size: int = 256 * 1024 * 1024
    """A response frame announcing more bytes than this closes its connection."""
    rack: str = ""
    """The client's rack, for follower fetching (KIP-392)."""

    # -- security -------------------------------------------------------------------------
    security_protocol: str = "PLAINTEXT"
    ssl_context: Any = None
    """An ``ssl.SSLContext`` used by the transport; when None and TLS is on, the transport
    builds a default context (hostname checking on) from ``ssl_cafile``."""
    ssl_cafile: str | None = None
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = ""
    sasl_oauth_token_provider: Callable[[], str] | None = None
    """Called for an OAUTHBEARER token each time the client authenticates."""
    sasl_oauth_extensions: Mapping[str, str] = field(default_factory=dict)

    # -- producer -------------------------------------------------------------------------
    acks: int = -1
    """0: no acknowledgement; 1: the leader's; -1 (all): every in-sync replica's."""
    produce_timeout: float = 30.0
    """The broker-side wait for acks (ProduceRequest timeout)."""
    delivery_timeout: float = 120.0
    """An upper bound on reporting a record's success or failure after it was sent."""
    linger: float = 0.005
    batch_size: int = 16384
    """Bytes per partition batch before it is sent without waiting for ``linger``."""
    batch_max_messages: int = 0
    """Records per batch before it is sent (0: no count limit)."""
    max_request_size: int = 1048576
    """Largest record (and largest produce request) the producer sends."""
    buffer_memory: int = 32 * 1024 * 1024
    """Bytes of records the producer may hold; beyond it, sending waits or raises."""
    compression: str = "none"
    compression_level: int | None = None
    partitioner: Any = "default"
    """A partitioner name (see :mod:`kproto.partitioners`) or a partitioner object."""
    retries: int = 2147483647
    idempotent: bool = True
    transactional_id: str | None = None
    transaction_timeout: float = 60.0
    max_in_flight_per_partition: int = 5
    """Batches of one partition on the wire at once; without idempotence, 1 keeps the
    send order even when a batch is answered with an error (docs/producer.md, Order)."""
    max_block: float = 60.0
    """How long a send may wait for buffer space, and how long transaction operations
    (init, commit, abort, add offsets) may take; 0 makes a full buffer raise at once."""
    interceptors: tuple[Any, ...] = ()
    """Producer interceptors: objects with ``on_send(msg) -> msg`` and
    ``on_acknowledgement(msg, error)`` (error None on success), called in order."""
    return_successes: bool = True
    """AsyncProducer: put delivered messages on its ``successes`` stream."""
    return_errors: bool = True
    """AsyncProducer: put failed messages on its ``errors`` stream."""
    result_stream_capacity: int = 10000
    """AsyncProducer: entries each result stream holds; what happens when one is full is
    ``results_when_full``'s choice."""
    results_when_full: str = "drop_oldest"
    """AsyncProducer, a result stream full: ``drop_oldest`` drops its oldest entry (counted in
    its ``dropped``; the first drop logs a warning), so the producer never waits for a
    reader; ``block`` makes ``send`` wait for a reader (up to ``max_block``), as sarama's
    channels do, and no result is ever dropped. See docs/producer.md."""

    # -- consumer -------------------------------------------------------------------------
    fetch_min_bytes: int = 1
    fetch_max_bytes: int = 52428800
    fetch_max_wait: float = 0.5
    max_partition_fetch_bytes: int = 1048576
    isolation_level: str = "read_uncommitted"
    auto_offset_reset: str = "latest"
    """Where to start when an offset is out of range or none is committed: earliest, latest
    or none (report the error instead)."""
    check_crcs: bool = True
    max_decompressed_batch_size: int = 256 * 1024 * 1024
    partition_buffer_bytes: int = 4 * 1024 * 1024
    """Bytes of fetched records buffered per partition before fetching for it pauses."""
    use_fetch_sessions: bool = True
    """Use incremental fetch sessions (KIP-227) instead of full Fetch requests every time."""
    fetch_max_version: int | None = None
    """Highest Fetch request version to use (None: the newest both sides support). Versions
    below 4 make a 3.x broker convert records to the legacy message formats."""

    # -- consumer group -------------------------------------------------------------------
    group_id: str | None = None
    """The consumer group to join (required by ConsumerGroup)."""
    group_instance_id: str | None = None
    """Static membership (KIP-345): a member that restarts with the same id within
    ``session_timeout`` gets its partitions back without a rebalance; it does not leave the
    group when closed."""
    session_timeout: float = 45.0
    """Without a heartbeat for this long the coordinator drops the member (the broker bounds
    it with group.min/max.session.timeout.ms)."""
    rebalance_timeout: float = 60.0
    """How long the coordinator waits for members to rejoin in a rebalance, and how long claim
    loops get to return once their session ends before it is abandoned."""
    heartbeat_interval: float = 3.0
    """Time between heartbeats; below ``session_timeout`` (a third of it is usual)."""
    assignors: tuple[Any, ...] = ("range", "roundrobin")
    """Assignor names (``range``, ``roundrobin``, ``sticky``, ``cooperative-sticky``) or
    :class:`kproto.group.Assignor` objects, most preferred first; the group uses the first one
    every member supports. Cooperative rebalancing (KIP-429) is used when all of them are
    cooperative."""
    enable_auto_commit: bool = True
    """Commit marked offsets every ``auto_commit_interval`` while a session runs (they are
    committed at the end of every session in any case)."""
    auto_commit_interval: float = 5.0

    def __post_init__(self) -> None:
        _positive(self, "request_timeout", "connect_timeout", "metadata_max_age",
                  "metadata_max_wait",
                  "retry_backoff", "retry_backoff_max", "reconnect_backoff",
                  "reconnect_backoff_max", "connections_max_idle", "produce_timeout",
                  "delivery_timeout", "transaction_timeout", "session_timeout",
                  "rebalance_timeout", "heartbeat_interval", "auto_commit_interval")
        _at_least(self, 1, "max_in_flight_per_connection", "batch_size", "max_request_size",
                  "buffer_memory", "fetch_min_bytes", "fetch_max_bytes",
                  "max_partition_fetch_bytes", "max_decompressed_batch_size",
                  "partition_buffer_bytes", "max_in_flight_per_partition")
        _at_least(self, 0, "batch_max_messages", "retries")
        _at_least(self, 1, "result_stream_capacity")
        if self.max_block < 0:
            raise ConfigurationError(f"max_block must be >= 0, got {self.max_block!r}")
        for interceptor in self.interceptors:
            if not callable(getattr(interceptor, "on_send", None)) or not callable(
                    getattr(interceptor, "on_acknowledgement", None)):
                raise ConfigurationError(
                    f"interceptor {interceptor!r} needs on_send and on_acknowledgement")
        if self.linger < 0 or self.fetch_max_wait < 0:
            raise ConfigurationError("linger and fetch_max_wait must be >= 0")
        if self.max_frame_size < 1024:
            raise ConfigurationError(f"max_frame_size must be >= 1024, got {self.max_frame_size}")
        _one_of(self, "security_protocol", SECURITY_PROTOCOLS)
        if self.ssl_context is not None and not all(
                callable(getattr(self.ssl_context, name, None))
                for name in ("wrap_socket", "wrap_bio")):
            raise ConfigurationError(
                f"ssl_context must be an ssl.SSLContext or None, got {self.ssl_context!r}")
        _one_of(self, "sasl_mechanism", SASL_MECHANISMS)
        _one_of(self, "acks", ACKS)
        _one_of(self, "isolation_level", ISOLATION_LEVELS)
        _one_of(self, "auto_offset_reset", OFFSET_RESETS)
        _one_of(self, "compression", ("none", "gzip", "snappy", "lz4", "zstd"))
        _one_of(self, "results_when_full", RESULTS_WHEN_FULL)
        if self.retry_backoff_max < self.retry_backoff:
            raise ConfigurationError("retry_backoff_max must be >= retry_backoff")
        if self.reconnect_backoff_max < self.reconnect_backoff:
            raise ConfigurationError("reconnect_backoff_max must be >= reconnect_backoff")
        if self.uses_sasl and self.sasl_mechanism == "OAUTHBEARER":
            if self.sasl_oauth_token_provider is None:
                raise ConfigurationError("sasl_mechanism OAUTHBEARER needs sasl_oauth_token_provider")
        elif self.uses_sasl and not self.sasl_username:
            raise ConfigurationError(f"sasl_mechanism {self.sasl_mechanism} needs sasl_username")
        if self.transactional_id is not None and not self.idempotent:
            raise ConfigurationError("a transactional producer must be idempotent")
        if self.idempotent and self.acks != -1:
            raise ConfigurationError(
                "an idempotent producer needs acks=-1 (all); set idempotent=False for acks 0 or 1")
        if self.idempotent and self.max_in_flight_per_partition > 5:
            raise ConfigurationError("an idempotent producer allows at most 5 batches in flight")
        if self.heartbeat_interval >= self.session_timeout:
            raise ConfigurationError("heartbeat_interval must be below session_timeout")
        if self.fetch_max_version is not None and not (
                isinstance(self.fetch_max_version, int) and self.fetch_max_version >= 0):
            raise ConfigurationError(
                f"fetch_max_version must be None or an int >= 0, got {self.fetch_max_version!r}")
        _check_group(self)
        if self.fetch_max_bytes + 1024 > self.max_frame_size:
            raise ConfigurationError("fetch_max_bytes must leave room below max_frame_size")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (and validated)."""
        return from_options(self, changes)


def from_options(base: Config | None, options: Mapping[str, Any]) -> Config:
    """Build a Config from keyword options, naming any option that does not exist."""
    known = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(f"unknown option(s): {', '.join(unknown)}")
    if base is None:
        return Config(**options)
    return dataclasses.replace(base, **options)


def parse_bootstrap(servers: str | list[str] | tuple[str, ...]) -> list[tuple[str, int]]:
    """``"h1:9092,h2:9092"`` or a list of ``"host:port"`` into (host, port) pairs."""
    items = servers.split(",") if isinstance(servers, str) else list(servers)
    out: list[tuple[str, int]] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        host, sep, port_text = item.rpartition(":")
        if not sep or not host:
            raise ConfigurationError(f"bootstrap server {item!r} is not host:port")
        host = host.strip("[]")
        try:
            port = int(port_text)
        except ValueError:
            raise ConfigurationError(f"bootstrap server {item!r} has a bad port") from None
        if not 0 < port < 65536:
            raise ConfigurationError(f"bootstrap server {item!r} has a bad port")
        out.append((host, port))
    if not out:
        raise ConfigurationError("no bootstrap servers given")
    return out


ASSIGNOR_NAMES = ("range", "roundrobin", "sticky", "cooperative-sticky")
"""The built-in assignors, by name; ``kproto.group.assignors`` implements exactly these (a test
checks), so that this module needs nothing above it."""


def _assignor_name(spec: Any) -> str:
    if isinstance(spec, str):
        if spec not in ASSIGNOR_NAMES:
            raise ConfigurationError(f"unknown assignor {spec!r}; known: "
                                     f"{', '.join(ASSIGNOR_NAMES)} (or pass an Assignor instance)")
        return spec
    name = getattr(spec, "name", None)
    if not callable(getattr(spec, "assign", None)):
        raise ConfigurationError(f"an assignor must be a name or an Assignor, got {spec!r}")
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"assignor {spec!r} has no name")
    return name


def _check_group(cfg: Config) -> None:
    for name in ("group_id", "group_instance_id"):
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigurationError(f"{name} must be a non-empty string or None, got {value!r}")
    assignors = cfg.assignors
    if isinstance(assignors, str) or not isinstance(assignors, (tuple, list)) or not assignors:
        raise ConfigurationError(
            f"assignors must be a non-empty tuple of assignor names or objects, got {assignors!r}")
    names = [_assignor_name(a) for a in assignors]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"assignor names must be unique, got {names}")


def _positive(cfg: Config, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not value > 0:
            raise ConfigurationError(f"{name} must be > 0, got {value!r}")


def _at_least(cfg: Config, low: int, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or value < low:
            raise ConfigurationError(f"{name} must be an int >= {low}, got {value!r}")


def _one_of(cfg: Config, name: str, allowed: tuple[Any, ...]) -> None:
    value = getattr(cfg, name)
    if value not in allowed:
        raise ConfigurationError(
            f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
