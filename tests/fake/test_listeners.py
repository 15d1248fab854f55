"""A broker's other listeners: a client is told the addresses of the listener it came in on.

Kafka answers Metadata, FindCoordinator and DescribeCluster with the endpoints of the
listener the request arrived on; the harness relies on it to keep a client that bootstrapped
through a fault proxy talking through the proxies. The fake does the same with
``Broker.listeners`` and ``connect_node(..., listener=)``; ``kproto_threads.fake.serve``
binds a port per broker for each extra listener.
"""

from __future__ import annotations

import kproto_threads
import kproto_threads.fake
from kproto import protocol
from kproto.testing import FakeCluster
from kproto.testing.fake import codes
from tests.fake.driver import Raw


def _proxied(cluster: FakeCluster) -> dict[int, tuple[str, int]]:
    addresses = {n: (f"proxy{n}.example", 19000 + n) for n in cluster.brokers}
    for n, address in addresses.items():
        cluster.brokers[n].listeners["FAULTY"] = address
    return addresses


def test_each_listener_advertises_its_own_addresses() -> None:
    cluster = FakeCluster(3)
    proxied = _proxied(cluster)
    main = {n: (b.host, b.port) for n, b in cluster.brokers.items()}
    faulty = Raw(cluster)
    conn = cluster.connect_node(2, 0.0, listener="FAULTY")
    assert conn is not None
    faulty.conn = conn
    plain = Raw(cluster, node=2)
    for raw, want in ((faulty, proxied), (plain, main)):
        md = raw.call(protocol.MetadataRequest(topics=[]), 12)
        assert {b.node_id: (b.host, b.port) for b in md.brokers} == want
        dc = raw.call(protocol.DescribeClusterRequest(endpoint_type=1), 1)
        assert {b.broker_id: (b.host, b.port) for b in dc.brokers} == want
        fc = raw.call(protocol.FindCoordinatorRequest(key_type=0, coordinator_keys=["g"]), 4)
        [c] = fc.coordinators
        assert c.error_code == 0 and (c.host, c.port) == want[c.node_id]
        old = raw.call(protocol.FindCoordinatorRequest(key_type=0, key="g"), 2)
        assert (old.host, old.port) == want[old.node_id]


def test_a_served_extra_listener_advertises_what_it_is_given() -> None:
    cluster = FakeCluster(2, topics={"t": 2})
    with kproto_threads.fake.serve(cluster, listeners=("FAULTY",)) as served:
        ports = served.ports["FAULTY"]
        assert set(ports) == {1, 2}
        assert not set(ports.values()) & {b.port for b in cluster.brokers.values()}
        bootstrap = ",".join(f"127.0.0.1:{p}" for p in ports.values())
        with kproto_threads.Client(bootstrap) as client:  # advertising itself until told
            assert {(b.host, b.port) for b in client.metadata(["t"]).brokers} == \
                {("127.0.0.1", p) for p in ports.values()}
        served.advertise("FAULTY", 1, "elsewhere.example", 1234)
        with kproto_threads.Client(bootstrap) as client:
            assert {(b.node_id, b.host, b.port) for b in client.metadata(["t"]).brokers} == \
                {(1, "elsewhere.example", 1234), (2, "127.0.0.1", ports[2])}
        with kproto_threads.Client(served.bootstrap) as client:  # the main listener: unchanged
            assert {(b.host, b.port) for b in client.metadata(["t"]).brokers} == \
                {(b.host, b.port) for b in cluster.brokers.values()}


def test_sasl_listeners_require_authentication_and_the_others_do_not() -> None:
    cluster = FakeCluster(1, sasl_users={"alice": "pw"}, sasl_listeners=("SASL_PLAINTEXT",))
    plain = Raw(cluster)
    assert plain.call(protocol.MetadataRequest(topics=[]), 12).brokers
    refused = plain.call(protocol.SaslHandshakeRequest(mechanism="PLAIN"), 1)
    assert refused.error_code == codes.ILLEGAL_SASL_STATE  # as KafkaApis on a plain listener
    secured = Raw(cluster)
    conn = cluster.connect_node(1, 0.0, listener="SASL_PLAINTEXT")
    assert conn is not None
    secured.conn = conn
    assert secured.call(protocol.SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    auth = secured.call(protocol.SaslAuthenticateRequest(auth_bytes=b"\0alice\0pw"), 2)
    assert auth.error_code == 0
    assert secured.call(protocol.MetadataRequest(topics=[]), 12).brokers
    unauthenticated = cluster.connect_node(1, 0.0, listener="SASL_PLAINTEXT")
    assert unauthenticated is not None
    raw = Raw(cluster)
    raw.conn = unauthenticated
    raw.send(protocol.MetadataRequest(topics=[]), 12)
    assert unauthenticated.closed
