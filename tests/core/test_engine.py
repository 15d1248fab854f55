"""The engine, driven by hand: bytes and time in, bytes, actions and events out."""

from __future__ import annotations

import itertools
import random

import pytest

from kproto import protocol
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.errors import (
    AuthenticationError,
    BrokerConnectionError,
    ClientTimeoutError,
    DecodeError,
    NoCommonVersionError,
)
from kproto.events import CloseConnection, OpenConnection, OperationCompleted, OperationFailed
from tests.core.wire import Wire, all_api_versions, metadata_response, open_action


def make_core(bootstrap: str = "b1:9092", seed: int = 1, **options: object) -> ClientCore:
    return ClientCore(bootstrap, Config(**options), rng=random.Random(seed), now=0.0)  # type: ignore[arg-type]


def settle(core: ClientCore) -> list[object]:
    events = []
    while (ev := core.next_event()) is not None:
        events.append(ev)
    return events


def connect(core: ClientCore, now: float = 0.0) -> Wire:
    action = open_action(core)
    core.connection_made(action.conn_id, now)
    wire = Wire(core, action.conn_id)
    wire.handshake(now)
    return wire


def test_metadata_round_trip_through_apiversions_first() -> None:
    core = make_core()
    token = core.metadata(["t"], 0.0)
    action = open_action(core)
    assert (action.host, action.port, action.tls) == ("b1", 9092, False)
    assert core.data_to_send(action.conn_id) == b""  # nothing before the socket is open
    core.connection_made(action.conn_id, 0.1)
    wire = Wire(core, action.conn_id)
    [(header, req, version)] = wire.requests()
    assert header.request_api_key == 18 and version == protocol.API_SPECS[18].max_version
    assert req.client_software_name == "kproto"
    wire.reply(header, version, all_api_versions(), 0.2)
    [(header, req, version)] = wire.requests()
    assert header.request_api_key == 3 and version == protocol.API_SPECS[3].max_version
    assert [t.name for t in req.topics] == ["t"]
    wire.reply(header, version, metadata_response([(1, "h1", 9093)], {"t": [1, 1, 1]}), 0.3)
    [event] = settle(core)
    assert isinstance(event, OperationCompleted) and event.token == token
    assert [b.node_id for b in event.value.brokers] == [1]
    assert core.cluster.partitions("t") == (0, 1, 2)
    assert core.cluster.leader("t", 2) == 1


@pytest.mark.parametrize("split", range(0, 60))
def test_a_response_split_at_any_byte_decodes_the_same(split: int) -> None:
    core = make_core()
    token = core.metadata(["t"], 0.0)
    wire = connect(core)
    [(header, _req, version)] = wire.requests()
    resp = metadata_response([(1, "h1", 9093)], {"t": [1]})
    data = protocol.encode_response(resp, version, header.correlation_id, 3)
    cut = min(split, len(data))
    core.receive_data(wire.conn_id, data[:cut], 0.1)
    assert settle(core) == [] or cut == len(data)
    core.receive_data(wire.conn_id, data[cut:], 0.2)
    [event] = settle(core) or [None]
    assert isinstance(event, OperationCompleted) and event.token == token


def test_many_responses_in_one_read_and_byte_by_byte() -> None:
    core = make_core()
    tokens = [core.api_versions(0.0) for _ in range(3)]
    wire = connect(core)
    blob = b"".join(protocol.encode_response(all_api_versions(), v, h.correlation_id, 18)
                    for h, _r, v in wire.requests())
    for i in range(len(blob)):
        core.receive_data(wire.conn_id, blob[i:i + 1], 0.1)
    assert [e.token for e in settle(core)] == tokens  # type: ignore[attr-defined]


def test_an_oversized_frame_closes_the_connection_with_a_clear_error() -> None:
    core = make_core(max_frame_size=4096, fetch_max_bytes=1024)
    token = core.metadata(None, 0.0)
    wire = connect(core)
    wire.requests()
    core.receive_data(wire.conn_id, (10_000_000).to_bytes(4, "big") + b"x", 0.1)
    closes = [a for a in iter(core.next_action, None) if isinstance(a, CloseConnection)]
    assert [c.conn_id for c in closes] == [wire.conn_id]
    # The metadata request was on the wire: it fails with the reason.
    [event] = settle(core)
    assert isinstance(event, OperationFailed) and event.token == token
    assert isinstance(event.error, DecodeError) and "max_frame_size" in str(event.error)


def test_a_mismatched_correlation_id_closes_the_connection() -> None:
    core = make_core()
    token = core.api_versions(0.0)
    wire = connect(core)
    [(header, _r, version)] = wire.requests()
    header.correlation_id += 7
    wire.reply(header, version, all_api_versions(), 0.1)
    [event] = settle(core)
    assert isinstance(event, OperationFailed) and event.token == token
    assert "correlation id" in str(event.error)


def test_a_lost_response_becomes_a_timeout_not_a_hang() -> None:
    core = make_core(request_timeout=5.0)
    token = core.metadata(None, 0.0)
    wire = connect(core)
    wire.requests()
    assert core.next_deadline() is not None
    core.handle_timer(4.9)
    assert settle(core) == []
    core.handle_timer(core.next_deadline() or 0.0)
    [event] = settle(core)
    assert isinstance(event, OperationFailed) and event.token == token
    assert isinstance(event.error, ClientTimeoutError)


def test_handle_timer_early_or_twice_does_nothing() -> None:
    core = make_core(request_timeout=5.0)
    core.metadata(None, 0.0)
    connect(core)
    for _ in range(3):
        core.handle_timer(1.0)
    assert settle(core) == []


def test_apiversions_falls_back_when_the_broker_asks() -> None:
    from kproto.protocol.messages.api_versions_response import ApiVersion
    core = make_core()
    core.api_versions(0.0)
    action = open_action(core)
    core.connection_made(action.conn_id, 0.0)
    wire = Wire(core, action.conn_id)
    [(header, _r, version)] = wire.requests()
    assert version > 2
    reject = protocol.ApiVersionsResponse(error_code=35, api_keys=[
        ApiVersion(api_key=18, min_version=0, max_version=2)])
    # Brokers answer an unsupported ApiVersions in v0.
    core.receive_data(wire.conn_id, protocol.encode_response(reject, 0, header.correlation_id, 18), 0.1)
    [(header, _r, version)] = wire.requests()
    assert header.request_api_key == 18 and version == 2


def test_no_common_version_names_the_api_and_both_ranges() -> None:
    core = make_core()
    token = core.metadata(None, 0.0)
    action = open_action(core)
    core.connection_made(action.conn_id, 0.0)
    wire = Wire(core, action.conn_id)
    lo, hi = protocol.API_SPECS[3].min_version, protocol.API_SPECS[3].max_version
    wire.handshake(0.0, all_api_versions({3: (hi + 5, hi + 9)}))
    [event] = settle(core)
    assert isinstance(event, OperationFailed) and event.token == token
    assert isinstance(event.error, NoCommonVersionError)
    text = str(event.error)
    assert "Metadata" in text and f"{lo}-{hi}" in text and f"{hi + 5}-{hi + 9}" in text


def test_unreachable_bootstrap_names_every_address_and_reason() -> None:
    core = make_core("a:1,b:2", request_timeout=3.0, reconnect_backoff=0.5,
                     reconnect_backoff_max=0.5)
    token = core.metadata(None, 0.0)
    seen = set()
    now = 0.0
    while True:
        action = core.next_action()
        if isinstance(action, OpenConnection):
            seen.add(action.host)
            reason = "connection refused" if action.host == "a" else "TLS handshake failed: bad cert"
            core.connection_lost(action.conn_id, reason, now)
            continue
        if action is not None:
            continue
        events = settle(core)
        if events:
            break
        now = core.next_deadline() or now + 0.1
        core.handle_timer(now)
    assert seen == {"a", "b"}
    [event] = events
    assert isinstance(event, OperationFailed) and event.token == token
    assert isinstance(event.error, BrokerConnectionError)
    text = str(event.error)
    assert "a:1" in text and "connection refused" in text
    assert "b:2" in text and "TLS handshake failed" in text
    assert now <= 3.0 + 1e-9


def test_reconnect_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    core = make_core(reconnect_backoff=0.1, reconnect_backoff_max=0.8, request_timeout=100.0)
    core.metadata(None, 0.0)
    attempts = []
    now = 0.0
    while len(attempts) < 7:
        action = core.next_action()
        if isinstance(action, OpenConnection):
            attempts.append(now)
            core.connection_lost(action.conn_id, "connection refused", now)
            continue
        if action is not None:
            continue
        now = core.next_deadline() or 0.0
        core.handle_timer(now)
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    for gap, base in zip(gaps, [0.1, 0.2, 0.4, 0.8, 0.8, 0.8], strict=True):
        assert base * 0.8 - 1e-9 <= gap <= base * 1.2 + 1e-9
    assert len(set(gaps)) > 1  # jittered


def test_same_seed_same_outputs() -> None:
    def run(seed: int) -> list[object]:
        core = make_core("a:1,b:2,c:3", seed=seed, reconnect_backoff=0.1)
        core.metadata(None, 0.0)
        trace: list[object] = []
        now = 0.0
        for _ in range(20):
            action = core.next_action()
            if isinstance(action, OpenConnection):
                trace.append((action.host, round(now, 6)))
                core.connection_lost(action.conn_id, "refused", now)
            elif action is None:
                now = core.next_deadline() or now
                core.handle_timer(now)
        return trace

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_sasl_plain_authenticates_before_any_other_request() -> None:
    core = make_core(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                     sasl_username="alice", sasl_password="pw")
    token = core.metadata(None, 0.0)
    wire = connect(core)
    [(header, req, version)] = wire.requests()
    assert header.request_api_key == 17 and req.mechanism == "PLAIN"
    wire.reply(header, version, protocol.SaslHandshakeResponse(error_code=0, mechanisms=["PLAIN"]), 0.1)
    [(header, req, version)] = wire.requests()
    assert header.request_api_key == 36 and req.auth_bytes == b"\0alice\0pw"
    wire.reply(header, version, protocol.SaslAuthenticateResponse(
        error_code=0, auth_bytes=b"", session_lifetime_ms=10_000), 0.2)
    [(header, _req, version)] = wire.requests()
    assert header.request_api_key == 3
    wire.reply(header, version, metadata_response([(1, "h", 1)], {}), 0.3)
    [event] = settle(core)
    assert isinstance(event, OperationCompleted) and event.token == token
    # KIP-368: re-authenticate between 85% and 95% of the session lifetime.
    core.handle_timer(0.2 + 8.4)
    assert wire.requests() == []
    core.handle_timer(0.2 + 9.6)
    [(header, req, version)] = wire.requests()
    assert header.request_api_key == 17


def test_a_wrong_password_fails_at_once_without_a_retry_loop() -> None:
    core = make_core(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
                     sasl_username="alice", sasl_password="wrong", request_timeout=30.0)
    token = core.metadata(None, 0.0)
    wire = connect(core)
    [(header, _req, version)] = wire.requests()
    wire.reply(header, version, protocol.SaslHandshakeResponse(
        error_code=0, mechanisms=["SCRAM-SHA-256"]), 0.1)
    [(header, _req, version)] = wire.requests()
    wire.reply(header, version, protocol.SaslAuthenticateResponse(
        error_code=58, error_message="Authentication failed during authentication due to "
        "invalid credentials with SASL mechanism SCRAM-SHA-256", auth_bytes=b""), 0.2)
    [event] = settle(core)
    assert isinstance(event, OperationFailed) and event.token == token
    assert isinstance(event.error, AuthenticationError)
    assert "alice" in str(event.error) and "invalid credentials" in str(event.error)
    actions = list(iter(core.next_action, None))
    assert not any(isinstance(a, OpenConnection) for a in actions)


def test_sasl_mechanism_not_enabled_lists_the_enabled_ones() -> None:
    core = make_core(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                     sasl_username="alice", sasl_password="pw")
    core.metadata(None, 0.0)
    wire = connect(core)
    [(header, _req, version)] = wire.requests()
    wire.reply(header, version, protocol.SaslHandshakeResponse(
        error_code=33, mechanisms=["PLAIN"]), 0.1)
    [event] = settle(core)
    assert isinstance(event, OperationFailed) and "enabled: PLAIN" in str(event.error)


def test_idle_connections_are_closed() -> None:
    core = make_core(connections_max_idle=60.0)
    core.api_versions(0.0)
    wire = connect(core)
    [(header, _r, version)] = wire.requests()
    wire.reply(header, version, all_api_versions(), 1.0)
    settle(core)
    core.handle_timer(30.0)
    assert not [a for a in iter(core.next_action, None) if isinstance(a, CloseConnection)]
    while (deadline := core.next_deadline()) is not None and deadline < 200:
        core.handle_timer(deadline)
    closes = [a for a in iter(core.next_action, None) if isinstance(a, CloseConnection)]
    assert [c.conn_id for c in closes] == [wire.conn_id]
    assert core.metrics()["connections"] == 0


def test_close_fails_everything_pending_and_closes_every_connection() -> None:
    core = make_core()
    core.metadata(None, 0.0)
    wire = connect(core)
    core.close(1.0)
    assert [a.conn_id for a in iter(core.next_action, None)] == [wire.conn_id]
    [event] = settle(core)
    assert isinstance(event, OperationFailed) and "closed" in str(event.error)
    later = core.api_versions(2.0)
    [event] = settle(core)
    assert isinstance(event, OperationFailed) and event.token == later


def test_in_flight_cap_holds_requests_until_responses_arrive() -> None:
    core = make_core(max_in_flight_per_connection=2)
    tokens = [core.api_versions(0.0) for _ in range(5)]
    wire = connect(core)
    first = wire.requests()
    assert len(first) == 2
    header, _r, version = first[0]
    wire.reply(header, version, all_api_versions(), 0.1)
    assert len(wire.requests()) == 1  # one slot freed, one more written
    [event] = settle(core)
    assert event.token == tokens[0]  # type: ignore[attr-defined]


def test_connect_timeout_closes_a_connection_that_never_opens() -> None:
    core = make_core(connect_timeout=2.0, request_timeout=30.0)
    core.metadata(None, 0.0)
    action = open_action(core)
    core.handle_timer(1.9)
    assert core.next_action() is None
    core.handle_timer(2.0)
    close = core.next_action()
    assert isinstance(close, CloseConnection) and close.conn_id == action.conn_id
    assert "connect_timeout" in close.reason


def test_metadata_is_refreshed_when_it_grows_old() -> None:
    core = make_core(metadata_max_age=60.0)
    core.add_topics(["t"], 0.0)
    wire = connect(core)
    [(header, req, version)] = wire.requests()
    assert [t.name for t in req.topics] == ["t"]
    wire.reply(header, version, metadata_response([(1, "b1", 9092)], {"t": [1]}), 1.0)
    core.handle_timer(60.5)
    assert wire.requests() == []
    core.handle_timer(61.0)
    # The refresh goes to the broker from metadata: a new connection to node 1.
    action = open_action(core)
    assert (action.host, action.port) == ("b1", 9092)


def test_a_lost_connection_fails_in_flight_requests_with_a_retriable_error() -> None:
    core = make_core()
    token = core.api_versions(0.0)
    wire = connect(core)
    wire.requests()
    core.connection_lost(wire.conn_id, "connection reset by peer", 0.5)
    [event] = settle(core)
    assert isinstance(event, OperationFailed) and event.token == token
    assert isinstance(event.error, BrokerConnectionError)
    assert "connection reset by peer" in str(event.error)


def test_a_dedicated_node_gets_its_own_connection_and_is_never_used_for_any() -> None:
    core = make_core()
    core.add_topics(["t"], 0.0)
    wire = connect(core)
    [(header, _req, version)] = wire.requests()
    wire.reply(header, version, metadata_response([(1, "b1", 9092)], {"t": [1]}), 0.1)
    alias = core.dedicated_node(1)
    assert alias != 1 and core.dedicated_node(1) == alias
    assert core.now == 0.1
    core.send(1, 18, lambda v: protocol.ApiVersionsRequest(), lambda r, e: None, 0.2)
    core.send(alias, 18, lambda v: protocol.ApiVersionsRequest(), lambda r, e: None, 0.3)
    opened = [a for a in iter(core.next_action, None) if isinstance(a, OpenConnection)]
    assert [(a.host, a.port) for a in opened] == [("b1", 9092), ("b1", 9092)]
    assert opened[0].conn_id != opened[1].conn_id
    assert core.now == 0.3
    assert all(n.node_id != alias for n in core._candidates())


def test_a_failed_tls_handshake_is_an_authentication_error_not_retried() -> None:
    core = make_core(security_protocol="SSL", request_timeout=30.0)
    token = core.metadata(None, 0.0)
    action = open_action(core)
    assert action.tls
    core.connection_lost(action.conn_id, "certificate verify failed", 0.1, tls_failed=True)
    [event] = settle(core)
    assert isinstance(event, OperationFailed) and event.token == token
    assert isinstance(event.error, AuthenticationError)
    assert "TLS handshake failed: certificate verify failed" in str(event.error)
    assert not any(isinstance(a, OpenConnection) for a in iter(core.next_action, None))


def test_requests_for_any_broker_wait_out_a_reauthentication() -> None:
    core = make_core(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                     sasl_username="alice", sasl_password="pw")

    def authenticate(wire: Wire, now: float, lifetime_ms: int) -> None:
        [(header, _req, version)] = wire.requests()
        assert header.request_api_key == 17
        wire.reply(header, version, protocol.SaslHandshakeResponse(mechanisms=["PLAIN"]), now)
        [(header, _req, version)] = wire.requests()
        wire.reply(header, version, protocol.SaslAuthenticateResponse(
            auth_bytes=b"", session_lifetime_ms=lifetime_ms), now)

    core.api_versions(0.0)
    wire = connect(core)
    authenticate(wire, 0.1, 10_000)
    [(header, _r, version)] = wire.requests()
    wire.reply(header, version, all_api_versions(), 0.2)
    settle(core)
    core.handle_timer(9.6)  # re-authentication starts
    token = core.api_versions(9.7)  # arrives while it runs
    authenticate(wire, 9.8, 10_000)
    [(header, _r, version)] = wire.requests()
    assert header.request_api_key == 18
    wire.reply(header, version, all_api_versions(), 9.9)
    [event] = settle(core)
    assert isinstance(event, OperationCompleted) and event.token == token


def test_a_metadata_listener_asking_again_waits_for_the_backoff() -> None:
    core = make_core(retry_backoff=0.5, retry_backoff_max=0.5)
    asked: list[float] = []

    def listener(now: float) -> None:
        asked.append(now)
        core.request_metadata_update(now)  # e.g. a partition still has no leader

    core.add_metadata_listener(listener)
    core.add_topics(["t"], 0.0)
    wire = connect(core)
    [(header, _req, version)] = wire.requests()
    wire.reply(header, version, metadata_response([(1, "b1", 9092)], {"t": [-1]}), 1.0)
    assert asked == [1.0]
    assert wire.requests() == [] and core.next_action() is None  # nothing resent at once
    assert core.next_deadline() == 1.5


def test_each_failure_to_reach_a_known_broker_asks_a_live_broker_for_metadata() -> None:
    # Broker 2 died: its connections are refused, while the metadata still names it (the
    # controller has not noticed yet). Only fresh metadata can show the leader that takes
    # over, so every refused connection must ask again, of the broker that is alive.
    core = make_core(reconnect_backoff=0.1, reconnect_backoff_max=0.1)
    core.add_topics(["t"], 0.0)
    boot = connect(core)
    [(header, _req, version)] = boot.requests()
    brokers = [(1, "b1", 9092), (2, "b2", 9092)]
    boot.reply(header, version, metadata_response(brokers, {"t": [2]}), 0.0)
    core.api_versions(0.0, 1)
    live = connect(core)
    [(header, _req, version)] = live.requests()
    live.reply(header, version, all_api_versions(), 0.0)
    settle(core)
    now = 0.0
    for attempt in range(3):
        now += 0.5
        core.api_versions(now, 2)  # e.g. a produce request for the partition it leads
        refused = open_action(core)
        assert (refused.host, refused.port) == ("b2", 9092)
        core.connection_lost(refused.conn_id, "connection refused", now)
        assert not any(isinstance(a, OpenConnection) for a in iter(core.next_action, None))
        [(header, req, version)] = live.requests()
        assert header.request_api_key == 3, f"attempt {attempt}: no metadata request"
        assert [t.name for t in req.topics] == ["t"]
        live.reply(header, version, metadata_response(brokers, {"t": [2]}), now)
        settle(core)


def test_a_refused_connection_to_a_dedicated_node_also_asks_for_metadata() -> None:
    # A group coordinator is reached over a connection of its own; when its broker is gone
    # for good, the failure must refresh the metadata like any other broker's.
    core = make_core()
    core.add_topics(["t"], 0.0)
    boot = connect(core)
    [(header, _req, version)] = boot.requests()
    brokers = [(1, "b1", 9092), (2, "b2", 9092)]
    boot.reply(header, version, metadata_response(brokers, {"t": [1]}), 0.0)
    core.api_versions(0.0, 1)
    live = connect(core)
    [(header, _req, version)] = live.requests()
    live.reply(header, version, all_api_versions(), 0.0)
    settle(core)
    alias = core.dedicated_node(2)
    core.api_versions(0.5, alias)  # e.g. a heartbeat to the coordinator
    refused = open_action(core)
    assert (refused.host, refused.port) == ("b2", 9092)
    core.connection_lost(refused.conn_id, "connection refused", 0.5)
    [(header, req, _version)] = live.requests()
    assert header.request_api_key == 3 and [t.name for t in req.topics] == ["t"]
