"""An already running Kafka cluster (``KPROTO_BOOTSTRAP=host:port,...``) behind the same
interface as ``KafkaCluster``, exposing only what can be known from outside.

Abilities only a harness-started broker has (killing nodes, the fault proxy, SASL users, the
test CA) raise ``Unavailable``; the pytest fixtures turn that into a skip with the reason.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path
from typing import Any, NoReturn

from . import wire
from .jars import HarnessError, libs_dir
from .java import run_tool


class Unavailable(HarnessError):
    """Asked an external cluster for something only a harness-started broker has."""


def parse_bootstrap(text: str) -> list[tuple[str, int]]:
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit():
            raise HarnessError(f"KPROTO_BOOTSTRAP entry {item!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise HarnessError("KPROTO_BOOTSTRAP is empty")
    return out


class ExternalNode:
    """A broker of the external cluster, as its metadata describes it."""

    def __init__(self, node_id: int, host: str, port: int) -> None:
        self.node_id = node_id
        self.listeners = {"PLAINTEXT": (host, port)}
        self.bootstrap = f"{host}:{port}"
        self.alive = True

    def _unavailable(self, what: str) -> NoReturn:
        raise Unavailable(f"{what} needs a harness-started broker (KPROTO_BOOTSTRAP points at an external cluster)")

    @property
    def proxy(self) -> Any:
        self._unavailable("the fault proxy")

    @property
    def log_path(self) -> Path:
        self._unavailable("broker logs")

    def __repr__(self) -> str:
        return f"<external kafka node {self.node_id} {self.bootstrap}>"


class ExternalKafka:
    """A cluster the harness did not start; talks PLAINTEXT to the given bootstrap servers."""

    external = True

    def __init__(self, bootstrap: str, version: str | None = None) -> None:
        self.addresses = parse_bootstrap(bootstrap)
        self.bootstrap = ",".join(f"{h}:{p}" for h, p in self.addresses)
        self.version = version
        self.name = f"external {self.bootstrap}"

    def _unavailable(self, what: str) -> NoReturn:
        raise Unavailable(f"{what} needs a harness-started broker (KPROTO_BOOTSTRAP points at an external cluster)")

    # -- what is known ------------------------------------------------------------------------

    @property
    def listeners(self) -> dict[str, tuple[str, int]]:
        return {"PLAINTEXT": self.addresses[0]}

    def _conn(self, timeout: float = 10.0) -> wire.Conn:
        errors = []
        for host, port in self.addresses:
            try:
                return wire.Conn(host, port, timeout=timeout)
            except OSError as exc:
                errors.append(f"{host}:{port}: {exc}")
        raise HarnessError(f"no bootstrap server reachable: {'; '.join(errors)}")

    def check(self) -> None:
        """Fail early with a clear message if the cluster does not answer."""
        with self._conn() as conn:
            versions = conn.api_versions()
        if versions.error_code:
            raise HarnessError(f"{self.name}: ApiVersions error {versions.error_code}")

    def metadata(self, topics: list[str] | None = None) -> wire.Metadata:
        with self._conn() as conn:
            return conn.metadata(topics)

    def metadata_brokers(self) -> set[int]:
        return set(self.metadata([]).brokers)

    @property
    def size(self) -> int:
        return len(self.metadata_brokers())

    @property
    def nodes(self) -> dict[int, ExternalNode]:
        """The brokers the cluster's metadata lists now."""
        return {i: ExternalNode(i, h, p) for i, (h, p) in sorted(self.metadata([]).brokers.items())}

    @property
    def brokers(self) -> dict[int, ExternalNode]:
        return self.nodes

    def node(self, node_id: int) -> ExternalNode:
        return self.nodes[node_id]

    def leader(self, topic: str, partition: int = 0, timeout: float = 30.0) -> int:
        return self.wait_for_leader(topic, partition, timeout=timeout)

    def wait_for_leader(
        self, topic: str, partition: int = 0, *, exclude: set[int] | frozenset[int] = frozenset(), timeout: float = 30.0
    ) -> int:
        deadline = time.monotonic() + timeout
        while True:
            info = self.metadata([topic]).topics.get(topic)
            part = info.partitions.get(partition) if info else None
            if part is not None and part.leader >= 0 and part.leader not in exclude:
                return part.leader
            if time.monotonic() > deadline:
                raise HarnessError(f"no leader for {topic}-{partition}")
            time.sleep(0.1)

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int | None = None,
        config: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        """Create a topic (replication factor defaults to the cluster's default: -1)."""
        rf = replication_factor if replication_factor is not None else -1
        deadline = time.monotonic() + timeout
        with self._conn(timeout) as conn:
            error, message = conn.create_topics([(name, partitions, rf, dict(config or {}))])[name]
        if error != wire.NONE:
            raise HarnessError(f"create topic {name!r}: error {error} ({message})")
        while True:
            info = self.metadata([name]).topics.get(name)
            if (
                info is not None
                and info.error_code == wire.NONE
                and len(info.partitions) == partitions
                and all(p.leader >= 0 for p in info.partitions.values())
            ):
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"topic {name!r} not usable in time: {info}")
            time.sleep(0.05)

    def delete_topic(self, name: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self._conn(timeout) as conn:
            error = conn.delete_topics([name]).get(name, -1)
        if error != wire.NONE:
            raise HarnessError(f"delete topic {name!r}: error {error}")
        while True:
            info = None
            with contextlib.suppress(OSError, wire.WireError):
                info = self.metadata([name]).topics.get(name)
            if info is None or info.error_code == wire.UNKNOWN_TOPIC_OR_PARTITION:
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"topic {name!r} still listed after delete")
            time.sleep(0.05)

    @property
    def libs_dir(self) -> Path:
        if self.version is None:
            self._unavailable("the Kafka jars (set KPROTO_KAFKA_VERSION to pick them)")
        return libs_dir(self.version)

    def java_tool(
        self,
        class_name: str,
        *args: str,
        timeout: float = 120.0,
        input: str | None = None,
        check: bool = False,
        jvm_opts: list[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        if self.version is None:
            self._unavailable("running Java tools (set KPROTO_KAFKA_VERSION to pick the jars)")
        return run_tool(self.version, class_name, *args, timeout=timeout, input=input, check=check, jvm_opts=jvm_opts)

    # -- what is not ------------------------------------------------------------------------------

    @property
    def sasl_users(self) -> dict[str, tuple[str, str]]:
        self._unavailable("SASL users")

    @property
    def sasl_bad_credentials(self) -> tuple[str, str]:
        self._unavailable("SASL users")

    @property
    def ca_file(self) -> Path:
        self._unavailable("the test CA")

    def ssl_context(self) -> Any:
        self._unavailable("the test CA")

    @property
    def proxy(self) -> Any:
        self._unavailable("the fault proxy")

    @property
    def proxies(self) -> Any:
        self._unavailable("the fault proxy")

    @property
    def log_path(self) -> Path:
        self._unavailable("broker logs")

    @property
    def log_paths(self) -> list[Path]:
        return []

    @property
    def logs(self) -> dict[int, Path]:
        return {}

    def kill(self, node_id: int) -> None:
        self._unavailable("killing a broker")

    def stop(self, node_id: int, timeout: float = 0) -> bool:
        self._unavailable("stopping a broker")

    def restart(self, node_id: int, timeout: float = 0) -> None:
        self._unavailable("restarting a broker")

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"{self.name} (Kafka {self.version or 'version unknown'})"

    def __repr__(self) -> str:
        return f"<ExternalKafka {self.bootstrap}>"
