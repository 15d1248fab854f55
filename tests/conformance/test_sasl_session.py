"""OAUTHBEARER and re-authentication (KIP-368) against the real broker, on every transport."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from kproto.errors import AuthenticationError
from tests.conformance.drivers import TRANSPORTS, open_remote
from tests.harness.config import REAUTH_MS

pytestmark = pytest.mark.real_broker(
    "OAUTHBEARER and SASL session lifetimes (connections.max.reauth.ms) are the harness "
    "broker's; the fake cluster has PLAIN and SCRAM with sessions that never expire")


def unsecured_token(subject: str, lifetime: float = 3600.0) -> str:
    """A JWS with alg "none", which Kafka's unsecured validator accepts (for tests only)."""
    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    now = time.time()
    claims = {'sub': subject, 'iat': int(now) - 60, 'exp': int(now + lifetime)}
    return f"{b64({'alg': 'none'})}.{b64(claims)}."


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_oauthbearer_with_a_token_provider(transport: str, kafka_broker: Any) -> None:
    host, port = kafka_broker.listeners["SASL_PLAINTEXT"]
    calls: list[str] = []

    def provider() -> str:
        calls.append("token")
        return unsecured_token("alice")

    with open_remote(transport, lambda mod: mod.Client(
            f"{host}:{port}", security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="OAUTHBEARER", sasl_oauth_token_provider=provider)) as c:
        assert c.metadata(None).brokers[0].port == port
    assert calls


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_oauthbearer_rejected_token_is_an_authentication_error(transport: str,
                                                               kafka_broker: Any) -> None:
    host, port = kafka_broker.listeners["SASL_PLAINTEXT"]
    expired = lambda: unsecured_token("alice", lifetime=-60.0)  # noqa: E731
    with open_remote(transport, lambda mod: mod.Client(
            f"{host}:{port}", security_protocol="SASL_PLAINTEXT", request_timeout=10.0,
            sasl_mechanism="OAUTHBEARER", sasl_oauth_token_provider=expired)) as c:
        with pytest.raises(AuthenticationError, match="OAUTHBEARER"):
            c.metadata(None)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_connection_reauthenticates_before_the_session_expires(transport: str,
                                                               kafka_broker: Any) -> None:
    user, password = kafka_broker.sasl_users["SCRAM-SHA-512"]
    host, port = kafka_broker.listeners["SASL_PLAINTEXT"]
    with open_remote(transport, lambda mod: mod.Client(
            f"{host}:{port}", security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
            sasl_username=user, sasl_password=password)) as c:
        c.metadata(None)
        # Keep using the connection across three broker session lifetimes; a client that
        # did not re-authenticate would be disconnected by the broker after the first.
        end = time.monotonic() + 3 * REAUTH_MS / 1000
        while time.monotonic() < end:
            c.api_versions()
            time.sleep(0.25)
        stats = c.metrics()["brokers"]
        assert sum(b["connects"] for b in stats.values()) == 2  # bootstrap + broker 1
        assert sum(b["errors"] for b in stats.values()) == 0
