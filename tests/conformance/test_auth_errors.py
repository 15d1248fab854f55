"""Authentication and security-protocol mismatches reach every object at once, on every
transport, against the real broker: producers (sync, async, transactional), consumers and
groups fail with an AuthenticationError within seconds, where the default waits are a minute
or more; a PLAINTEXT client on a SASL or TLS listener is told to check security_protocol."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from kproto import OFFSET_OLDEST, ProducerMessage
from kproto.errors import AuthenticationError
from tests.conformance.drivers import TRANSPORTS, NoopHandler, Remote, open_remote

FAST_ENOUGH = 10.0
"""Loose bound for failing at once: the defaults would wait 60 s or more."""


def wrong_password(kafka_broker: Any) -> tuple[str, dict[str, Any]]:
    host, port = kafka_broker.listeners["SASL_PLAINTEXT"]
    user, password = kafka_broker.sasl_bad_credentials
    return f"{host}:{port}", {"security_protocol": "SASL_PLAINTEXT",
                              "sasl_mechanism": "SCRAM-SHA-512",
                              "sasl_username": user, "sasl_password": password}


def async_error(transport: str, producer: Any) -> Any:
    if transport == "threads":
        return producer.errors.get(timeout=2 * FAST_ENOUGH)
    assert isinstance(producer, Remote)
    return producer._runner.call(lambda: producer.target.errors.get())


def send_message(transport: str, bootstrap: str, options: dict[str, Any]) -> Callable[[], Any]:
    def run() -> None:
        with open_remote(transport, lambda m: m.SyncProducer(bootstrap, **options)) as p:
            p.send_message(ProducerMessage("auth-t", b"v"))
    return run


def async_send(transport: str, bootstrap: str, options: dict[str, Any]) -> Callable[[], Any]:
    def run() -> None:
        with open_remote(transport, lambda m: m.AsyncProducer(bootstrap, **options)) as p:
            p.send(ProducerMessage("auth-t", b"v"))
            raise async_error(transport, p).error
    return run


def init_transactions(transport: str, bootstrap: str,
                      options: dict[str, Any]) -> Callable[[], Any]:
    def run() -> None:
        with open_remote(transport, lambda m: m.SyncProducer(
                bootstrap, transactional_id=f"auth-{uuid.uuid4().hex[:6]}", **options)) as p:
            p.init_transactions()
    return run


def topics(transport: str, bootstrap: str, options: dict[str, Any]) -> Callable[[], Any]:
    def run() -> None:
        with open_remote(transport, lambda m: m.Consumer(bootstrap, **options)) as c:
            c.topics()
    return run


def consume_partition(transport: str, bootstrap: str,
                      options: dict[str, Any]) -> Callable[[], Any]:
    def run() -> None:
        with open_remote(transport, lambda m: m.Consumer(bootstrap, **options)) as c:
            c.consume_partition("auth-t", 0, OFFSET_OLDEST)
    return run


def group_consume(transport: str, bootstrap: str, options: dict[str, Any]) -> Callable[[], Any]:
    def run() -> None:
        with open_remote(transport, lambda m: m.ConsumerGroup(
                bootstrap, group_id=f"auth-{uuid.uuid4().hex[:6]}", **options)) as g:
            g.consume(["auth-t"], NoopHandler())
    return run


OPERATIONS = {f.__name__: f for f in (send_message, async_send, init_transactions, topics,
                                      consume_partition, group_consume)}


def fails_fast(run: Callable[[], Any], match: str) -> AuthenticationError:
    started = time.monotonic()
    with pytest.raises(AuthenticationError, match=match) as info:
        run()
    elapsed = time.monotonic() - started
    assert elapsed < FAST_ENOUGH, f"took {elapsed:.1f}s"
    return info.value


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_wrong_password_fails_every_operation_at_once(transport: str, operation: str,
                                                        kafka_broker: Any) -> None:
    bootstrap, options = wrong_password(kafka_broker)
    err = fails_fast(OPERATIONS[operation](transport, bootstrap, options),
                     "SCRAM-SHA-512 authentication failed")
    assert bootstrap in str(err)


@pytest.mark.parametrize("listener", ["SASL_PLAINTEXT", "SSL"])
@pytest.mark.parametrize("operation", ["send_message", "topics", "group_consume"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_plaintext_client_on_a_secured_listener_is_told_to_check_security_protocol(
        transport: str, operation: str, listener: str, kafka_broker: Any) -> None:
    host, port = kafka_broker.listeners[listener]
    bootstrap = f"{host}:{port}"
    err = fails_fast(OPERATIONS[operation](transport, bootstrap, {}), "security_protocol")
    assert bootstrap in str(err)
    assert "'PLAINTEXT'" in str(err)
