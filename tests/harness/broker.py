"""Real Kafka brokers for tests: one combined broker+controller, or a cluster of them.

A ``KafkaCluster`` of size 1 is "the broker"; size 3 is the failover cluster. Start-up:

1. the jars come from the cache (``jars.py``), TLS material from trustme (``tls.py``);
2. every node (``node.py``) gets free ports for PLAINTEXT, SASL_PLAINTEXT, SSL, FAULTY and
   CONTROLLER, and a FaultProxy in front of FAULTY whose address the broker advertises for
   that listener; its ``server.properties`` comes from ``config.py``;
3. every node's storage is formatted with one fresh cluster id (SCRAM users added there);
4. all nodes start at once (a combined node needs a controller quorum to come up) and the
   cluster is ready when every node answers ApiVersions and lists all nodes in its Metadata.

All waits are bounded. Stopping is SIGTERM, a bounded wait, then SIGKILL; an atexit hook,
``setpriv --pdeathsig`` (where available) and a sweep of dead runs at start-up make sure no
JVM outlives the Python process that started it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import os
import shutil
import signal
import subprocess
import time
import weakref
from pathlib import Path
from typing import Any

from . import wire
from .config import (
    SASL_MECHANISMS,
    SASL_USER,
    SASL_WRONG_PASSWORD,
    scram_format_args,
    server_properties,
)
from .jars import HarnessError, check_version, fetch
from .java import TOOL_JVM_OPTS, find_java, log_flags, run_tool
from .node import HOST, Node
from .proxy import FaultProxy
from .runs import run_dir, tail
from .tls import TlsFiles, make_tls

BROKER_JVM_OPTS = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]
START_TIMEOUT = float(os.environ.get("KPROTO_BROKER_START_TIMEOUT", "120"))
STOP_TIMEOUT = 20.0
FORMAT_TIMEOUT = 120.0
POLL = 0.1


class BrokerStartError(HarnessError):
    """A broker did not come up; the message carries the tail of its log."""


class PortClash(BrokerStartError):
    """A port picked as free was taken before the broker bound it (the start is retried)."""


def random_cluster_id() -> str:
    """A Kafka Uuid in its base64 form, as ``StorageTool random-uuid`` prints (no JVM needed)."""
    while True:
        raw = os.urandom(16)
        text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if not text.startswith("-") and raw not in (bytes(16), bytes(15) + b"\x01"):
            return text


_tls: TlsFiles | None = None


def tls_files() -> TlsFiles:
    """One test CA and broker certificate per process, shared by every broker."""
    global _tls
    if _tls is None:
        _tls = make_tls(run_dir() / "tls")
    return _tls


_live: weakref.WeakSet[KafkaCluster] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for cluster in list(_live):
        with contextlib.suppress(Exception):
            cluster.close()


class KafkaCluster:
    """``size`` combined broker+controller nodes of one Kafka ``version`` on 127.0.0.1."""

    external = False

    def __init__(self, version: str, size: int = 1, *, name: str | None = None, jvm_opts: list[str] | None = None,
                 authorizer: bool = False) -> None:
        check_version(version)
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.version = version
        self.size = size
        self.name = name or (f"kafka-{version}" if size == 1 else f"cluster{size}-{version}")
        self.authorizer = authorizer
        """KRaft's StandardAuthorizer runs (see ``config.server_properties``)."""
        if authorizer and name is None:
            self.name += "-acl"
        env_opts = os.environ.get("KPROTO_BROKER_JVM_OPTS")
        self.jvm_opts = jvm_opts or (env_opts.split() if env_opts else BROKER_JVM_OPTS)
        self.libs_dir: Path = Path()
        self.dir: Path = Path()
        self.nodes: dict[int, Node] = {}
        self.cluster_id = ""
        self.tls: TlsFiles | None = None
        self.sasl_users = {m: SASL_USER for m in SASL_MECHANISMS}
        self.sasl_bad_credentials = (SASL_USER[0], SASL_WRONG_PASSWORD)
        self.start_seconds = 0.0
        self._closed = False

    # -- life cycle -----------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> KafkaCluster:
        """Fetch (if needed), format and start every node; return when all answer."""
        started = time.monotonic()
        self.libs_dir = fetch(self.version)
        find_java()
        self.tls = tls_files()
        _live.add(self)
        try:
            for attempt in range(3):
                try:
                    self._start_once(attempt, timeout)
                    break
                except PortClash:
                    self._shutdown(graceful=False)
                    if attempt == 2:
                        raise
        except BaseException:
            self._shutdown(graceful=False)
            raise
        self.start_seconds = time.monotonic() - started
        return self

    def _start_once(self, attempt: int, timeout: float) -> None:
        self.dir = run_dir() / (self.name if attempt == 0 else f"{self.name}-retry{attempt}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cluster_id = random_cluster_id()
        self.nodes = {}
        for i in range(1, self.size + 1):
            d = self.dir / f"node-{i}"
            d.mkdir(parents=True, exist_ok=True)
            self.nodes[i] = Node(self, i, d)
        voters = {n.node_id: n.ports["CONTROLLER"] for n in self.nodes.values()}
        assert self.tls is not None
        for node in self.nodes.values():
            node.config_path.write_text(
                server_properties(
                    version=self.version,
                    node_id=node.node_id,
                    host=HOST,
                    ports=node.ports,
                    proxy_address=node.proxy.address,
                    voters=voters,
                    data_dir=node.data_dir,
                    tls_config=self.tls.broker_config(),
                    cluster_size=self.size,
                    authorizer=self.authorizer,
                )
            )
        self._format_all()
        for node in self.nodes.values():
            node.start()
        self._wait_ready(list(self.nodes.values()), time.monotonic() + timeout)

    def _format_all(self) -> None:
        """Format every node's storage at once with the cluster id and the SCRAM users."""
        procs = []
        for node in self.nodes.values():
            cmd = [
                find_java(),
                *TOOL_JVM_OPTS,
                *log_flags(self.version, tool=True),
                "-cp",
                str(self.libs_dir / "*"),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self.cluster_id,
                "-c",
                str(node.config_path),
                *scram_format_args(),
            ]
            with open(node.dir / "format.out", "wb") as out:
                procs.append((node, subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)))
        deadline = time.monotonic() + FORMAT_TIMEOUT
        failures = []
        for node, proc in procs:
            try:
                rc = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = -9
            if rc != 0:
                failures.append(f"node {node.node_id} (exit {rc}):\n{tail(node.dir / 'format.out', 30)}")
        if failures:
            raise BrokerStartError(f"{self.name}: formatting storage failed\n" + "\n".join(failures))

    def _wait_ready(self, nodes: list[Node], deadline: float) -> None:
        """Until each of ``nodes`` answers ApiVersions and lists every running node."""
        pending = {n.node_id: n for n in nodes}
        last_error: dict[int, str] = {}
        while pending:
            for node_id, node in list(pending.items()):
                if not node.alive:
                    self._raise_start_error(node, "exited during start-up")
                expected = {n.node_id for n in self.nodes.values() if n.alive}
                try:
                    with wire.Conn(HOST, node.ports["PLAINTEXT"], timeout=2.0) as conn:
                        versions = conn.api_versions()
                        if versions.error_code:
                            raise HarnessError(f"ApiVersions error {versions.error_code}")
                        seen = set(conn.metadata([]).brokers)
                    if expected <= seen:
                        del pending[node_id]
                    else:
                        last_error[node_id] = f"metadata lists brokers {sorted(seen)}, expected {sorted(expected)}"
                except (OSError, wire.WireError, HarnessError) as exc:
                    last_error[node_id] = f"{type(exc).__name__}: {exc}"
            if not pending:
                return
            if time.monotonic() > deadline:
                node = next(iter(pending.values()))
                self._raise_start_error(node, f"not ready in time ({last_error.get(node.node_id, 'no answer')})")
            time.sleep(POLL)

    def _raise_start_error(self, node: Node, what: str) -> None:
        log = node.log_tail(80)
        if "Address already in use" in log or "BindException" in log:
            raise PortClash(f"{self.name} node {node.node_id}: a port was taken\n{log}")
        raise BrokerStartError(
            f"{self.name} (Kafka {self.version}) node {node.node_id} {what}; log {node.log_path}:\n{log}"
        )

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop every node (SIGTERM, bounded wait, SIGKILL) and close the proxies."""
        if self._closed:
            return
        self._shutdown(graceful=True)
        self._closed = True
        _live.discard(self)
        if not os.environ.get("KPROTO_KEEP_DATA"):
            for node in self.nodes.values():
                shutil.rmtree(node.data_dir, ignore_errors=True)

    def _shutdown(self, graceful: bool) -> None:
        """Stop all nodes together. A combined node's controlled shutdown needs a controller
        quorum, so once a majority of the nodes has exited the rest cannot finish cleanly:
        they get a short grace period and then SIGKILL instead of the full timeout."""
        nodes = list(self.nodes.values())
        for node in nodes:
            node.signal(signal.SIGTERM if graceful else signal.SIGKILL)
        now = time.monotonic()
        deadline = now + (STOP_TIMEOUT if graceful else 10.0)
        majority = len(nodes) // 2 + 1
        while time.monotonic() < deadline:
            running = [n for n in nodes if n.alive]
            if not running:
                break
            if len(nodes) > 1 and len(nodes) - len(running) >= majority:
                deadline = min(deadline, time.monotonic() + 1.0)
            time.sleep(0.05)
        for node in nodes:
            if node.alive:
                node.signal(signal.SIGKILL)
            node.wait_exit(10.0)
        for node in nodes:
            node.proxy.close()

    def __enter__(self) -> KafkaCluster:
        return self.start() if not self.nodes else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- per-node control -----------------------------------------------------------------------

    def node(self, node_id: int) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise KeyError(f"no node {node_id} in {self.name} (nodes: {sorted(self.nodes)})") from None

    @property
    def brokers(self) -> dict[int, Node]:
        return self.nodes

    def kill(self, node_id: int) -> None:
        """SIGKILL the node's JVM (no controlled shutdown) and reap it."""
        node = self.node(node_id)
        node.signal(signal.SIGKILL)
        node.wait_exit(10.0)

    def stop(self, node_id: int, timeout: float = STOP_TIMEOUT) -> bool:
        """Graceful shutdown (SIGTERM); SIGKILL after ``timeout``. True if it stopped in time."""
        node = self.node(node_id)
        node.signal(signal.SIGTERM)
        if node.wait_exit(timeout):
            return True
        node.signal(signal.SIGKILL)
        node.wait_exit(10.0)
        return False

    def restart(self, node_id: int, timeout: float = START_TIMEOUT) -> None:
        """Start a stopped or killed node again with the same command and storage (stopping it
        first if it is running) and wait until it answers and sees every running node."""
        node = self.node(node_id)
        if node.alive:
            self.stop(node_id)
        node.start()
        self._wait_ready([node], time.monotonic() + timeout)

    # -- addresses ------------------------------------------------------------------------------

    @property
    def first(self) -> Node:
        return self.nodes[min(self.nodes)]

    def live_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.alive]

    @property
    def bootstrap(self) -> str:
        """PLAINTEXT bootstrap list of every node."""
        return self.bootstrap_for("PLAINTEXT")

    def bootstrap_for(self, listener: str) -> str:
        return ",".join(f"{h}:{p}" for n in self.nodes.values() for h, p in [n.listeners[listener]])

    @property
    def listeners(self) -> dict[str, tuple[str, int]]:
        """The first node's client listeners (for a single broker: the broker's)."""
        return self.first.listeners

    @property
    def proxy(self) -> FaultProxy:
        """The FaultProxy of the first node's FAULTY listener."""
        return self.first.proxy

    @property
    def proxies(self) -> dict[int, FaultProxy]:
        return {i: n.proxy for i, n in self.nodes.items()}

    @property
    def log_path(self) -> Path:
        return self.first.log_path

    @property
    def log_paths(self) -> list[Path]:
        return [n.log_path for n in self.nodes.values()]

    @property
    def logs(self) -> dict[int, Path]:
        """``{node_id: server.out}``."""
        return {i: n.log_path for i, n in self.nodes.items()}

    @property
    def ca_file(self) -> Path:
        assert self.tls is not None
        return self.tls.ca_file

    def ssl_context(self) -> Any:
        """A client ``ssl.SSLContext`` trusting the broker certificate (checks 127.0.0.1)."""
        assert self.tls is not None
        return self.tls.client_context()

    # -- admin through the raw protocol ---------------------------------------------------------

    def _conn(self, timeout: float = 5.0) -> wire.Conn:
        errors = []
        for node in self.live_nodes():
            try:
                return wire.Conn(HOST, node.ports["PLAINTEXT"], timeout=timeout)
            except OSError as exc:
                errors.append(f"node {node.node_id}: {exc}")
        raise HarnessError(f"{self.name}: no node reachable ({'; '.join(errors) or 'none running'})")

    def metadata(self, topics: list[str] | None = None) -> wire.Metadata:
        with self._conn() as conn:
            return conn.metadata(topics)

    def metadata_brokers(self) -> set[int]:
        """Node ids the cluster's metadata currently lists (unfenced brokers)."""
        return set(self.metadata([]).brokers)

    def wait_for_brokers(self, node_ids: set[int] | None = None, timeout: float = 60.0) -> None:
        """Until every running node's metadata lists exactly ``node_ids`` (default: the running ones)."""
        deadline = time.monotonic() + timeout
        while True:
            want = node_ids if node_ids is not None else {n.node_id for n in self.live_nodes()}
            views = {}
            for node in self.live_nodes():
                with contextlib.suppress(OSError, wire.WireError):
                    views[node.node_id] = set(wire.metadata(HOST, node.ports["PLAINTEXT"], []).brokers)
            if views and all(v == want for v in views.values()) and len(views) == len(self.live_nodes()):
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.name}: brokers never settled on {sorted(want)}; views {views}")
            time.sleep(POLL)

    def leader(self, topic: str, partition: int = 0, timeout: float = 30.0) -> int:
        """The partition's current leader, waiting (bounded) while it has none."""
        return self.wait_for_leader(topic, partition, timeout=timeout)

    def wait_for_leader(
        self, topic: str, partition: int = 0, *, exclude: set[int] | frozenset[int] = frozenset(), timeout: float = 30.0
    ) -> int:
        """Until some node other than ``exclude`` leads the partition; returns its id."""
        deadline = time.monotonic() + timeout
        last = "no metadata"
        while True:
            try:
                md = self.metadata([topic])
                info = md.topics.get(topic)
                part = info.partitions.get(partition) if info else None
                if part is not None and part.leader >= 0 and part.leader not in exclude:
                    return part.leader
                last = f"topic error {info.error_code if info else '?'}, partition {part}"
            except (OSError, wire.WireError, HarnessError) as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.name}: no leader for {topic}-{partition} ({last})")
            time.sleep(POLL)

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int | None = None,
        config: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        """Create a topic and wait until every running node sees a leader for each partition.

        ``replication_factor`` defaults to the cluster size (at most 3).
        """
        rf = replication_factor if replication_factor is not None else min(3, self.size)
        deadline = time.monotonic() + timeout
        while True:
            with self._conn() as conn:
                conn.settimeout(timeout)
                error, message = conn.create_topics([(name, partitions, rf, dict(config or {}))])[name]
            if error == wire.NONE:
                break
            if error in (wire.NOT_CONTROLLER, 7) and time.monotonic() < deadline:  # 7: REQUEST_TIMED_OUT
                time.sleep(POLL)
                continue
            raise HarnessError(f"create topic {name!r}: error {error} ({message})")
        self._wait_topic(name, partitions, deadline)

    def _wait_topic(self, name: str, partitions: int, deadline: float) -> None:
        last = ""
        while True:
            ready = True
            for node in self.live_nodes():
                try:
                    md = wire.metadata(HOST, node.ports["PLAINTEXT"], [name])
                except (OSError, wire.WireError) as exc:
                    ready, last = False, str(exc)
                    break
                info = md.topics.get(name)
                if (
                    info is None
                    or info.error_code != wire.NONE
                    or len(info.partitions) != partitions
                    or any(p.leader < 0 or p.error_code != wire.NONE for p in info.partitions.values())
                ):
                    ready, last = False, f"node {node.node_id} sees {info}"
                    break
            if ready:
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"topic {name!r} not usable in time: {last}")
            time.sleep(0.05)

    def delete_topic(self, name: str, timeout: float = 60.0) -> None:
        """Delete a topic and wait until no running node lists it."""
        deadline = time.monotonic() + timeout
        with self._conn() as conn:
            conn.settimeout(timeout)
            error = conn.delete_topics([name]).get(name, -1)
        if error != wire.NONE:
            raise HarnessError(f"delete topic {name!r}: error {error}")
        while True:
            gone = True
            for node in self.live_nodes():
                with contextlib.suppress(OSError, wire.WireError):
                    info = wire.metadata(HOST, node.ports["PLAINTEXT"], [name]).topics.get(name)
                    if info is not None and info.error_code != wire.UNKNOWN_TOPIC_OR_PARTITION:
                        gone = False
                        break
            if gone:
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"topic {name!r} still listed after delete")
            time.sleep(0.05)

    # -- Java tools -----------------------------------------------------------------------------

    def java_tool(
        self,
        class_name: str,
        *args: str,
        timeout: float = 120.0,
        input: str | None = None,
        check: bool = False,
        jvm_opts: list[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a Kafka tool (class name or short name like ``console-producer``) on this
        version's classpath, warnings-only logging on stderr."""
        return run_tool(self.version, class_name, *args, timeout=timeout, input=input, check=check, jvm_opts=jvm_opts)

    def describe(self) -> str:
        lines = [f"{self.name}: Kafka {self.version}, cluster id {self.cluster_id}, run dir {self.dir}"]
        for node in self.nodes.values():
            lines.append(f"  node {node.node_id} (pid {node.pid}, log {node.log_path})")
            for listener, (h, p) in node.listeners.items():
                lines.append(f"    {listener:<15} {h}:{p}")
        user, password = SASL_USER
        lines.append(f"  SASL users: {user}/{password} ({', '.join(SASL_MECHANISMS)})")
        if self.tls is not None:
            lines.append(f"  CA file: {self.tls.ca_file}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<KafkaCluster {self.name} {self.bootstrap if self.nodes else '(not started)'}>"


def start_broker(version: str, timeout: float = START_TIMEOUT) -> KafkaCluster:
    return KafkaCluster(version, 1).start(timeout)


def start_cluster(version: str, size: int = 3, timeout: float = START_TIMEOUT) -> KafkaCluster:
    return KafkaCluster(version, size).start(timeout)
