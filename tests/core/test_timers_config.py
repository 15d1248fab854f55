"""The timer heap and configuration validation."""

from __future__ import annotations

import pytest

from kproto.config import Config, parse_bootstrap
from kproto.engine.timers import Timers
from kproto.errors import ConfigurationError


def test_timers_fire_in_deadline_order_once_and_never_early() -> None:
    timers = Timers()
    fired: list[tuple[str, float]] = []
    timers.call_at(2.0, lambda now: fired.append(("b", now)))
    timers.call_at(1.0, lambda now: fired.append(("a", now)))
    cancelled = timers.call_at(1.5, lambda now: fired.append(("x", now)))
    cancelled.cancel()
    assert timers.next_deadline() == 1.0
    assert timers.run_due(0.5) == 0
    assert timers.run_due(1.7) == 1
    assert timers.next_deadline() == 2.0
    assert timers.run_due(1.7) == 0  # calling twice does nothing
    timers.run_due(5.0)
    assert fired == [("a", 1.7), ("b", 5.0)]
    assert timers.next_deadline() is None


def test_timer_scheduled_from_a_callback_fires_in_the_same_run_when_due() -> None:
    timers = Timers()
    seen: list[float] = []
    timers.call_at(1.0, lambda now: timers.call_at(now, seen.append))
    timers.run_due(1.0)
    assert seen == [1.0]


def test_bootstrap_parsing() -> None:
    assert parse_bootstrap("a:1, b:2") == [("a", 1), ("b", 2)]
    assert parse_bootstrap(["[::1]:9092"]) == [("::1", 9092)]
    for bad in ("", "nohost", "h:0", "h:x", ":9092"):
        with pytest.raises(ConfigurationError):
            parse_bootstrap(bad)


@pytest.mark.parametrize("options, message", [
    ({"request_timeout": 0}, "request_timeout"),
    ({"security_protocol": "TLS"}, "security_protocol"),
    ({"acks": 2}, "acks"),
    ({"security_protocol": "SASL_PLAINTEXT"}, "sasl_username"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER"}, "token_provider"),
    ({"idempotent": True, "acks": 1}, "idempotent"),
    ({"heartbeat_interval": 50.0}, "heartbeat_interval"),
])
def test_config_rejects_bad_values_naming_the_option(options: dict[str, object],
                                                     message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Config(**options)  # type: ignore[arg-type]


def test_config_replace_validates_and_names_unknown_options() -> None:
    cfg = Config(client_id="x")
    assert cfg.replace(acks=-1).client_id == "x"
    with pytest.raises(ConfigurationError, match="bogus"):
        cfg.replace(bogus=1)
