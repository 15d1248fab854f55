"""The engine's view of an unreachable cluster and of a mismatched security protocol, without
sockets: which addresses failed and why, the metadata_max_wait bound, the failure listeners,
and the signs that a listener speaks TLS or SASL to a PLAINTEXT client."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kproto import ProducerMessage
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.engine.connection import DroppedAfterApiVersions
from kproto.errors import (
    AuthenticationError,
    BrokerConnectionError,
    ClientTimeoutError,
    ClusterUnreachableError,
    ConfigurationError,
    KprotoError,
)
from kproto.events import OpenConnection, OperationFailed
from kproto.producer import ProducerCore, RecordsFailed
from tests.core.wire import Wire, open_action


def make_core(bootstrap: str, **options: Any) -> ClientCore:
    return ClientCore(bootstrap, Config(**options), rng=random.Random(1), now=0.0)


def events(core: ClientCore) -> list[Any]:
    out = []
    while (ev := core.next_event()) is not None:
        out.append(ev)
    return out


def refuse_all(core: ClientCore, now: float) -> int:
    """Every connection the engine opens is refused; returns how many were."""
    count = 0
    while (action := core.next_action()) is not None:
        if isinstance(action, OpenConnection):
            core.connection_lost(action.conn_id, "connection refused", now)
            count += 1
    return count


def run_until(core: ClientCore, end: float) -> None:
    """Drive timers up to ``end``, refusing every connection attempt."""
    now = 0.0
    refuse_all(core, now)
    while True:
        deadline = core.next_deadline()
        if deadline is None or deadline > end:
            return
        now = max(now, deadline)
        core.handle_timer(now)
        refuse_all(core, now)


def test_metadata_max_wait_is_validated() -> None:
    with pytest.raises(ConfigurationError, match="metadata_max_wait"):
        Config(metadata_max_wait=0)


def test_an_ssl_context_that_is_not_one_is_refused_when_configured() -> None:
    def factory() -> None:
        return None
    with pytest.raises(ConfigurationError, match=r"ssl_context must be an ssl\.SSLContext"):
        Config(security_protocol="SSL", ssl_context=factory)


def test_a_query_with_every_address_refused_fails_at_metadata_max_wait_naming_each() -> None:
    core = make_core("a:1,b:2", metadata_max_wait=5.0, request_timeout=30.0)
    token = core.metadata(None, 0.0)
    run_until(core, 4.9)
    assert not events(core)
    run_until(core, 5.0)
    [ev] = events(core)
    assert isinstance(ev, OperationFailed) and ev.token == token
    err = ev.error
    assert isinstance(err, ClusterUnreachableError)
    assert isinstance(err, BrokerConnectionError) and isinstance(err, ClientTimeoutError)
    assert err.reasons == {"a:1": "connecting: connection refused",
                           "b:2": "connecting: connection refused"}
    assert str(err) == ("Metadata request: the cluster could not be reached "
                        "(a:1: connecting: connection refused; b:2: connecting: connection "
                        "refused)")


def test_a_cluster_is_not_called_unreachable_before_every_address_failed() -> None:
    core = make_core("a:1,b:2")
    core.metadata(None, 0.0)
    action = open_action(core)
    core.connection_lost(action.conn_id, "connection refused", 0.0)
    failed = {"a:1", "b:2"} - {f"{action.host}:{action.port}"}
    assert core.unreachable_error("x") is None  # the other address was not tried yet
    run_until(core, 1.0)
    err = core.unreachable_error("x")
    assert err is not None and failed <= set(err.reasons)


def test_a_ready_connection_means_reachable() -> None:
    core = make_core("a:1")
    core.metadata(None, 0.0)
    action = open_action(core)
    core.connection_made(action.conn_id, 0.0)
    Wire(core, action.conn_id).handshake(0.0)
    assert core.unreachable_error("x") is None


def test_failure_listeners_hear_of_an_unreachable_cluster_and_of_authentication() -> None:
    core = make_core("a:1")
    heard: list[KprotoError] = []
    core.add_failure_listener(lambda err, now: heard.append(err))
    core.metadata(None, 0.0)
    refuse_all(core, 0.0)
    assert [type(e) for e in heard] == [ClusterUnreachableError]

    tls = make_core("a:1", security_protocol="SSL")
    heard.clear()
    tls.add_failure_listener(lambda err, now: heard.append(err))
    tls.metadata(None, 0.0)
    action = open_action(tls)
    tls.connection_lost(action.conn_id, "certificate verify failed", 0.0, tls_failed=True)
    assert [type(e) for e in heard] == [AuthenticationError]


def test_a_tls_alert_instead_of_apiversions_names_security_protocol() -> None:
    core = make_core("a:1")
    token = core.metadata(None, 0.0)
    action = open_action(core)
    core.connection_made(action.conn_id, 0.0)
    core.data_to_send(action.conn_id)
    core.receive_data(action.conn_id, bytes.fromhex("15030300020250"), 0.1)
    [ev] = [e for e in events(core) if isinstance(e, OperationFailed)]
    assert ev.token == token
    assert isinstance(ev.error, AuthenticationError)
    assert "security_protocol is 'PLAINTEXT'" in str(ev.error)
    assert "SSL or SASL_SSL" in str(ev.error)


def next_open(core: ClientCore) -> OpenConnection:
    """The next connection the engine opens (the closes it asks for are done already)."""
    while (action := core.next_action()) is not None:
        if isinstance(action, OpenConnection):
            return action
    raise AssertionError("the engine opened no connection")


def drop_after_api_versions(core: ClientCore, now: float) -> None:
    """The next connection answers ApiVersions, then is closed at the first other request."""
    action = next_open(core)
    core.connection_made(action.conn_id, now)
    wire = Wire(core, action.conn_id)
    wire.handshake(now)
    keys = [h.request_api_key for h, _r, _v in wire.requests()]
    assert keys and set(keys) == {3}  # Metadata, no answer
    core.connection_lost(action.conn_id, "connection closed by the broker", now)


def test_two_closes_in_a_row_at_the_first_request_after_apiversions_name_security_protocol(
) -> None:
    core = make_core("a:1")
    first = core.metadata(None, 0.0)
    drop_after_api_versions(core, 0.0)
    [ev] = [e for e in events(core) if isinstance(e, OperationFailed)]
    assert ev.token == first
    # Once is what a broker dying at that moment looks like: retriable, with a hint.
    assert type(ev.error) is DroppedAfterApiVersions
    assert isinstance(ev.error, BrokerConnectionError)
    assert "check security_protocol" in str(ev.error)
    second = core.metadata(None, 1.0)
    core.handle_timer(1.0)
    drop_after_api_versions(core, 1.0)
    [ev] = [e for e in events(core) if isinstance(e, OperationFailed)]
    assert ev.token == second
    assert isinstance(ev.error, AuthenticationError)
    assert "SASL_PLAINTEXT or SASL_SSL" in str(ev.error)
    assert "security_protocol is 'PLAINTEXT'" in str(ev.error)


def test_a_broker_dying_after_apiversions_is_not_taken_for_a_mismatch() -> None:
    core = make_core("a:1")
    core.metadata(None, 0.0)
    drop_after_api_versions(core, 0.0)
    events(core)
    # The broker is gone: the next attempt is refused, which clears the suspicion.
    waiting = core.metadata(None, 1.0)
    core.handle_timer(1.0)
    action = next_open(core)
    core.connection_lost(action.conn_id, "connection refused", 1.0)
    events(core)
    # Restarted, it answers ApiVersions and drops the connection once more while going
    # down again: still an ordinary connection error, not an authentication failure.
    token = core.metadata(None, 2.0)
    core.handle_timer(2.0)
    drop_after_api_versions(core, 2.0)
    failed = [e for e in events(core) if isinstance(e, OperationFailed)]
    assert sorted(e.token for e in failed) == [waiting, token]
    for ev in failed:
        assert type(ev.error) is DroppedAfterApiVersions, ev.error


def test_a_reset_after_apiversions_is_an_ordinary_connection_error() -> None:
    core = make_core("a:1")
    token = core.metadata(None, 0.0)
    action = open_action(core)
    core.connection_made(action.conn_id, 0.0)
    wire = Wire(core, action.conn_id)
    wire.handshake(0.0)
    wire.requests()
    core.connection_lost(action.conn_id, "connection reset by peer", 0.1)
    [ev] = [e for e in events(core) if isinstance(e, OperationFailed)]
    assert ev.token == token
    assert type(ev.error) is BrokerConnectionError


def test_a_record_for_an_unknown_topic_fails_at_metadata_max_wait_with_the_true_cause() -> None:
    core = make_core("a:1", metadata_max_wait=3.0, delivery_timeout=120.0)
    producer = ProducerCore(core)
    token = producer.send(ProducerMessage("t", b"v"), 0.0, 0)
    run_until(core, 2.9)
    assert not [e for e in events(core) if isinstance(e, RecordsFailed)]
    run_until(core, 3.5)
    [ev] = [e for e in events(core) if isinstance(e, RecordsFailed)]
    assert ev.tokens == (token,)
    assert isinstance(ev.error, ClusterUnreachableError)
    assert "no metadata for topic 't' within 3s" in str(ev.error)
    assert ev.error.reasons == {"a:1": "connecting: connection refused"}


def test_closing_a_producer_with_no_broker_reachable_fails_its_records_at_once() -> None:
    core = make_core("a:1")  # default waits: 60 s for metadata, 120 s for delivery
    producer = ProducerCore(core)
    tokens = [producer.send(ProducerMessage("t", b"%d" % i), 0.0, 0) for i in range(3)]
    refuse_all(core, 0.0)
    close = producer.close(0.1)
    evs = events(core)
    failed = [e for e in evs if isinstance(e, RecordsFailed)]
    assert sorted(t for e in failed for t in e.tokens) == tokens
    assert all(isinstance(e.error, ClusterUnreachableError) for e in failed)
    assert any(getattr(e, "token", None) == close for e in evs)
    assert producer.stopped


def test_authentication_failure_fails_held_records_at_once() -> None:
    core = make_core("a:1", security_protocol="SSL")
    producer = ProducerCore(core, core.config.replace(idempotent=False, acks=1))
    token = producer.send(ProducerMessage("t", b"v"), 0.0, 0)
    action = open_action(core)
    core.connection_lost(action.conn_id, "certificate verify failed", 0.2, tls_failed=True)
    [ev] = [e for e in events(core) if isinstance(e, RecordsFailed)]
    assert ev.tokens == (token,)
    assert isinstance(ev.error, AuthenticationError)
