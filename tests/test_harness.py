"""The test harness itself: the fault proxy against a local echo server (no broker), then real
brokers (3.9, 4.x and the three-node cluster) answering on every listener, SASL logins, the
FAULTY listener's proxy faults, and killing and restarting a cluster node."""

from __future__ import annotations

import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import wire
from tests.harness.broker import KafkaCluster
from tests.harness.java import tool_class
from tests.harness.proxy import FaultProxy

SHORT = 0.5  # how long "no answer" is waited for; a stalled proxy must stay silent this long
LONG = 10.0  # bound for anything that should happen


# -- the proxy alone, against an echo server ---------------------------------------------------

class EchoServer:
    """Echoes every byte back; counts the connections it accepted."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.closed = threading.Event()
        self.threads: list[threading.Thread] = []
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)
            t = threading.Thread(target=self._echo, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                try:
                    conn.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        self.closed.set()
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(LONG)
        for t in self.threads:
            t.join(LONG)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def echo_proxy(echo: EchoServer) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", echo.port, name="echo-proxy") as proxy:
        yield proxy


def connect(address: tuple[str, int], timeout: float = LONG) -> socket.socket:
    return socket.create_connection(address, timeout=timeout)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def assert_closed(sock: socket.socket) -> None:
    """The peer has closed (clean EOF or reset) within the bound."""
    sock.settimeout(LONG)
    try:
        data = sock.recv(1)
    except (ConnectionResetError, BrokenPipeError):
        return
    assert data == b"", f"expected the connection closed, read {data!r}"


def assert_dropped(address: tuple[str, int]) -> None:
    """A new connection is closed at once (the reset may already fail the connect itself)."""
    try:
        sock = connect(address)
    except ConnectionResetError:
        return
    with sock:
        assert_closed(sock)


def assert_silent(sock: socket.socket, seconds: float = SHORT) -> None:
    """Nothing arrives within ``seconds``."""
    sock.settimeout(seconds)
    with pytest.raises(TimeoutError):
        sock.recv(1)


def test_proxy_forwards_both_ways(echo_proxy: FaultProxy) -> None:
    with connect(echo_proxy.address) as s:
        payload = bytes(range(256)) * 1000
        s.sendall(payload)
        assert recv_exactly(s, len(payload)) == payload
        assert echo_proxy.connection_count() == 1


def test_proxy_delay_holds_data_then_delivers(echo_proxy: FaultProxy) -> None:
    with connect(echo_proxy.address) as s:
        echo_proxy.delay(0.4)
        s.sendall(b"ping")
        assert_silent(s, 0.3)  # the echo comes back through the proxy twice: 0.8 s at least
        s.settimeout(LONG)
        assert recv_exactly(s, 4) == b"ping"
        echo_proxy.restore()
        s.sendall(b"pong")
        assert recv_exactly(s, 4) == b"pong"


def test_proxy_stall_then_restore(echo_proxy: FaultProxy) -> None:
    with connect(echo_proxy.address) as s:
        s.sendall(b"before")
        assert recv_exactly(s, 6) == b"before"
        echo_proxy.stall()
        s.sendall(b"held")
        assert_silent(s)
        assert echo_proxy.connection_count() == 1  # still open
        echo_proxy.restore()
        s.settimeout(LONG)
        assert recv_exactly(s, 4) == b"held"


def test_proxy_cut_closes_and_refuses_until_restore(echo_proxy: FaultProxy, echo: EchoServer) -> None:
    s = connect(echo_proxy.address)
    s.sendall(b"x")
    assert recv_exactly(s, 1) == b"x"
    echo_proxy.cut()
    assert_closed(s)
    s.close()
    assert echo_proxy.connection_count() == 0
    accepted = echo.accepted
    assert_dropped(echo_proxy.address)  # the listener stays, but drops us at once
    assert echo.accepted == accepted  # never forwarded upstream
    echo_proxy.restore()
    with connect(echo_proxy.address) as s3:
        s3.sendall(b"again")
        assert recv_exactly(s3, 5) == b"again"


def test_proxy_close_releases_port_and_threads(echo: EchoServer) -> None:
    proxy = FaultProxy("127.0.0.1", echo.port, name="closing-proxy")
    with connect(proxy.address) as s:
        s.sendall(b"hi")
        assert recv_exactly(s, 2) == b"hi"
        proxy.close()
        assert_closed(s)
    assert not [t for t in threading.enumerate() if t.name.startswith("closing-proxy")]
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.address).close()


def test_proxy_to_dead_target_drops_client() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        dead_port = placeholder.getsockname()[1]
    with FaultProxy("127.0.0.1", dead_port, name="dead-proxy") as proxy:
        assert_dropped(proxy.address)


# -- real brokers ---------------------------------------------------------------------------------

BROKERS = [
    pytest.param("kafka_broker_39", marks=pytest.mark.broker, id="3.9"),
    pytest.param("kafka_broker_4x", marks=pytest.mark.broker, id="4.x"),
    pytest.param("kafka_cluster", marks=pytest.mark.cluster, id="cluster"),
]


@pytest.fixture(params=BROKERS)
def kafka(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def nodes_of(kafka: KafkaCluster) -> list[Any]:
    return list(kafka.nodes.values())


def test_api_versions_on_plaintext(kafka: KafkaCluster) -> None:
    for node in nodes_of(kafka):
        versions = wire.api_versions(*node.listeners["PLAINTEXT"])
        assert versions.error_code == 0
        lo, hi = versions.ranges[wire.API_API_VERSIONS]
        assert lo == 0 <= hi
        assert wire.API_METADATA in versions.ranges


def test_api_versions_over_ssl(kafka: KafkaCluster) -> None:
    ctx = kafka.ssl_context()
    for node in nodes_of(kafka):
        versions = wire.api_versions(*node.listeners["SSL"], ssl_context=ctx)
        assert versions.error_code == 0
    with pytest.raises(ssl.SSLError):  # without the test CA the certificate is not trusted
        wire.api_versions(*kafka.listeners["SSL"], ssl_context=ssl.create_default_context())


def test_sasl_plaintext_listener(kafka: KafkaCluster) -> None:
    user, password = kafka.sasl_users["PLAIN"]
    for node in nodes_of(kafka):
        with wire.Conn(*node.listeners["SASL_PLAINTEXT"]) as conn:
            assert conn.api_versions().error_code == 0  # allowed before authenticating
            error, message = conn.sasl_plain(user, password)
            assert error == 0, message
            assert node.node_id in conn.metadata([]).brokers  # authenticated requests work


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_scram_users_exist(kafka: KafkaCluster, mechanism: str) -> None:
    user, password = kafka.sasl_users[mechanism]
    with wire.Conn(*kafka.listeners["SASL_PLAINTEXT"]) as conn:
        error, message = conn.sasl_scram(mechanism, user, password)
        assert error == 0, message
        assert conn.metadata([]).brokers
    bad_user, bad_password = kafka.sasl_bad_credentials
    with wire.Conn(*kafka.listeners["SASL_PLAINTEXT"]) as conn:
        error, _ = conn.sasl_scram(mechanism, bad_user, bad_password)
        assert error == wire.SASL_AUTHENTICATION_FAILED


def test_sasl_wrong_password_is_rejected(kafka: KafkaCluster) -> None:
    user, password = kafka.sasl_bad_credentials
    assert password != kafka.sasl_users["PLAIN"][1]
    with wire.Conn(*kafka.listeners["SASL_PLAINTEXT"]) as conn:
        error, message = conn.sasl_plain(user, password)
        assert error == wire.SASL_AUTHENTICATION_FAILED, message
        # The broker closes the connection after a failed authentication.
        conn.settimeout(LONG)
        with pytest.raises((ConnectionError, OSError)):
            conn.api_versions()


def test_faulty_listener_advertises_proxy_addresses(kafka: KafkaCluster) -> None:
    proxies = {node.node_id: node.proxy.address for node in nodes_of(kafka)}
    for node in nodes_of(kafka):
        with wire.Conn(*node.listeners["FAULTY"]) as conn:
            assert conn.api_versions().error_code == 0
            brokers = conn.metadata([]).brokers
        assert brokers == proxies  # every broker is reached through its proxy


def test_faulty_listener_faults(kafka_broker: KafkaCluster) -> None:
    proxy = kafka_broker.proxy
    address = kafka_broker.listeners["FAULTY"]
    try:
        conn = wire.Conn(*address)
        assert conn.api_versions().error_code == 0

        proxy.delay(0.3)  # slower, still answered
        assert conn.api_versions().error_code == 0

        proxy.stall()
        conn.settimeout(SHORT)
        with pytest.raises(TimeoutError):
            conn.api_versions()
        conn.close()  # its stream is now out of step; a fresh one after restore
        proxy.restore()
        with wire.Conn(*address) as conn2:
            assert conn2.api_versions().error_code == 0

            proxy.cut()
            conn2.settimeout(LONG)
            with pytest.raises((ConnectionError, OSError)):
                conn2.api_versions()
        with pytest.raises((ConnectionError, OSError)), wire.Conn(*address, timeout=LONG) as conn3:
            conn3.api_versions()

        proxy.restore()
        with wire.Conn(*address) as conn4:
            assert conn4.api_versions().error_code == 0
    finally:
        proxy.restore()


def test_create_and_delete_topic(kafka: KafkaCluster) -> None:
    name = f"harness-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(name, partitions=3, config={"retention.ms": "60000"})
    md = kafka.metadata([name])
    assert sorted(md.topics[name].partitions) == [0, 1, 2]
    rf = min(3, kafka.size)
    assert all(len(p.replicas) == rf for p in md.topics[name].partitions.values())
    kafka.delete_topic(name)
    assert kafka.metadata([name]).topics[name].error_code == wire.UNKNOWN_TOPIC_OR_PARTITION


@pytest.mark.parametrize("fixture", ["kafka_broker_39", "kafka_broker_4x"])
def test_java_tool_runs_on_the_broker_version(request: pytest.FixtureRequest, fixture: str) -> None:
    broker = request.getfixturevalue(fixture)
    name = f"harness-tool-{uuid.uuid4().hex[:8]}"
    broker.create_topic(name)
    proc = broker.java_tool("topics", "--bootstrap-server", broker.bootstrap, "--list", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert name in proc.stdout.split()
    assert "INFO" not in proc.stdout  # logging stays off stdout
    moved = tool_class(broker.version, "configs")
    assert moved == ("kafka.admin.ConfigCommand" if broker.version.startswith("3.") else "org.apache.kafka.tools.ConfigCommand")


def test_version_fixtures_are_distinct(kafka_broker_39: KafkaCluster, kafka_broker_4x: KafkaCluster, kafka_broker: KafkaCluster) -> None:
    assert kafka_broker_39.version.startswith("3.9.")
    assert kafka_broker_4x.version.startswith("4.")
    assert kafka_broker in (kafka_broker_39, kafka_broker_4x)  # reused, not a third broker
    # 4.x dropped the oldest protocol versions; 3.9 still accepts them.
    v39 = wire.api_versions(*kafka_broker_39.listeners["PLAINTEXT"]).ranges
    v4x = wire.api_versions(*kafka_broker_4x.listeners["PLAINTEXT"]).ranges
    assert v39[wire.API_CREATE_TOPICS][0] == 0
    assert v4x[wire.API_CREATE_TOPICS][0] == 2


# -- the cluster ----------------------------------------------------------------------------------

def test_cluster_has_three_brokers(kafka_cluster: KafkaCluster) -> None:
    assert kafka_cluster.metadata_brokers() == {1, 2, 3}
    assert len(kafka_cluster.bootstrap.split(",")) == 3


def test_cluster_survives_kill_and_restart(kafka_cluster: KafkaCluster) -> None:
    topic = f"harness-failover-{uuid.uuid4().hex[:8]}"
    kafka_cluster.create_topic(topic, partitions=1, replication_factor=3)
    leader = kafka_cluster.leader(topic, 0)
    try:
        kafka_cluster.kill(leader)
        assert not kafka_cluster.node(leader).alive
        new_leader = kafka_cluster.wait_for_leader(topic, 0, exclude={leader}, timeout=60)
        assert new_leader != leader
        kafka_cluster.wait_for_brokers({1, 2, 3} - {leader})  # fenced after the session timeout
    finally:
        kafka_cluster.restart(leader)
    assert wire.api_versions(*kafka_cluster.node(leader).listeners["PLAINTEXT"]).error_code == 0
    kafka_cluster.wait_for_brokers({1, 2, 3})
    assert kafka_cluster.metadata_brokers() == {1, 2, 3}


def test_cluster_graceful_stop_and_restart(kafka_cluster: KafkaCluster) -> None:
    node_id = 3
    try:
        assert kafka_cluster.stop(node_id), "node did not stop within the timeout"
        kafka_cluster.wait_for_brokers({1, 2})
    finally:
        kafka_cluster.restart(node_id)
    kafka_cluster.wait_for_brokers({1, 2, 3})
