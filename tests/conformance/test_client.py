"""The Client (versions, metadata, security, failures) through every transport, for real."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kproto.errors import AuthenticationError, BrokerConnectionError, KprotoError
from tests.conformance.drivers import TRANSPORTS, kproto_threads_alive, open_fds, open_remote

ROOT = Path(__file__).resolve().parents[2]
each = pytest.mark.parametrize("transport", TRANSPORTS)


def client(transport: str, bootstrap: str, **options: Any) -> Any:
    return open_remote(transport, lambda mod: mod.Client(bootstrap, **options))


@each
def test_api_versions_and_metadata(transport: str, kafka_broker: Any) -> None:
    topic = f"engine-meta-{transport}"
    kafka_broker.create_topic(topic, partitions=3)
    with client(transport, kafka_broker.bootstrap, client_id=f"test-{transport}") as c:
        versions = c.api_versions()
        assert versions.range("Produce") is not None and versions.range("Fetch") is not None
        assert versions.range("Metadata")[1] >= 9
        meta = c.metadata([topic])
        assert len(meta.brokers) == 1
        info = meta.topics[topic]
        assert [p.partition for p in info.partitions] == [0, 1, 2]
        assert all(p.leader == meta.brokers[0].node_id for p in info.partitions)
        assert info.topic_id.int != 0
        stats = c.metrics()["brokers"]
        assert sum(b["requests"] for b in stats.values()) >= 3
        assert all(b["latency_max"] >= 0 for b in stats.values())


@each
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext_each_mechanism(transport: str, mechanism: str, kafka_broker: Any) -> None:
    user, password = kafka_broker.sasl_users[mechanism]
    host, port = kafka_broker.listeners["SASL_PLAINTEXT"]
    with client(transport, f"{host}:{port}", security_protocol="SASL_PLAINTEXT",
                sasl_mechanism=mechanism, sasl_username=user, sasl_password=password) as c:
        meta = c.metadata(None)
        assert meta.brokers and meta.brokers[0].port == port


@each
def test_wrong_password_is_a_clear_error_within_the_timeout(transport: str,
                                                            kafka_broker: Any) -> None:
    user, _ = kafka_broker.sasl_users["SCRAM-SHA-256"]
    host, port = kafka_broker.listeners["SASL_PLAINTEXT"]
    started = time.monotonic()
    with client(transport, f"{host}:{port}", security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="SCRAM-SHA-256", sasl_username=user,
                sasl_password="not-the-password", request_timeout=20.0) as c:
        with pytest.raises(AuthenticationError) as info:
            c.metadata(None)
        connects = sum(b["connects"] for b in c.metrics()["brokers"].values())
    assert user in str(info.value) and "SCRAM-SHA-256" in str(info.value)
    assert time.monotonic() - started < 20.0
    assert connects == 1  # no retry loop


@each
def test_ssl_with_hostname_checking(transport: str, kafka_broker: Any) -> None:
    host, port = kafka_broker.listeners["SSL"]
    ctx = kafka_broker.ssl_context()
    assert ctx.check_hostname
    with client(transport, f"{host}:{port}", security_protocol="SSL", ssl_context=ctx) as c:
        assert c.metadata(None).brokers[0].port == port


@each
def test_ssl_with_an_untrusted_certificate_names_the_tls_failure(transport: str,
                                                                 kafka_broker: Any) -> None:
    host, port = kafka_broker.listeners["SSL"]
    started = time.monotonic()
    with client(transport, f"{host}:{port}", security_protocol="SSL",
                ssl_context=ssl.create_default_context(), request_timeout=30.0) as c:
        with pytest.raises(AuthenticationError) as info:
            c.metadata(None)
        connects = sum(b["connects"] for b in c.metrics()["brokers"].values())
    text = str(info.value).lower()
    assert f"{host}:{port}" in text and "tls handshake failed" in text
    assert "certificate" in text
    assert connects == 1 and time.monotonic() - started < 30.0  # failed at once, no retry loop


@each
def test_unreachable_bootstrap_names_each_address(transport: str) -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    bootstrap = ",".join(f"127.0.0.1:{p}" for p in ports)
    started = time.monotonic()
    with client(transport, bootstrap, request_timeout=2.0) as c:
        with pytest.raises(BrokerConnectionError) as info:
            c.metadata(None)
    assert time.monotonic() - started < 10.0
    for p in ports:
        assert f"127.0.0.1:{p}" in str(info.value)
    assert "refused" in str(info.value)


@each
def test_fault_proxy_cut_then_restore_reconnects(transport: str, kafka_broker: Any) -> None:
    host, port = kafka_broker.listeners["FAULTY"]
    proxy = kafka_broker.proxy
    with client(transport, f"{host}:{port}", request_timeout=3.0, reconnect_backoff=0.05,
                reconnect_backoff_max=0.2) as c:
        assert c.metadata(None).brokers[0].port == port
        proxy.cut()
        try:
            with pytest.raises(KprotoError):
                c.metadata(None)
        finally:
            proxy.restore()
        deadline = time.monotonic() + 30
        while True:
            try:
                assert c.metadata(None).brokers[0].port == port
                break
            except KprotoError:
                if time.monotonic() > deadline:
                    raise


@each
def test_clean_shutdown_leaves_no_thread_task_or_socket(transport: str,
                                                        kafka_broker: Any) -> None:
    before = open_fds()
    with client(transport, kafka_broker.bootstrap) as c:
        c.metadata(None)
        c.api_versions()
        assert open_fds() > before
    deadline = time.monotonic() + 5
    while (open_fds() > before or kproto_threads_alive()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds() <= before
    assert kproto_threads_alive() == []


@each
def test_closed_client_raises_closed(transport: str, kafka_broker: Any) -> None:
    from kproto.errors import ClosedError
    with client(transport, kafka_broker.bootstrap) as c:
        c.metadata(None)
        c.close()
        with pytest.raises(ClosedError):
            c.metadata(None)


def test_the_selectors_example_runs_against_the_broker(kafka_broker: Any) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "docs/examples/selectors_loop.py"),
                           kafka_broker.bootstrap], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "broker speaks" in proc.stdout and "broker 1 at 127.0.0.1" in proc.stdout
