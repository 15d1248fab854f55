"""The engine against the three-broker cluster: a killed broker is reconnected."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kproto.errors import KprotoError
from tests.conformance.drivers import TRANSPORTS, open_remote


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_broker_killed_and_restarted_is_reconnected(transport: str, kafka_cluster: Any) -> None:
    opts = {"request_timeout": 5.0, "reconnect_backoff": 0.05, "reconnect_backoff_max": 0.5}
    with open_remote(transport, lambda mod: mod.Client(kafka_cluster.bootstrap, **opts)) as c:
        meta = c.metadata(None)
        nodes = sorted(b.node_id for b in meta.brokers)
        assert len(nodes) == 3
        victim = nodes[-1]
        assert c.api_versions(victim).node_id == victim
        kafka_cluster.kill(victim)
        try:
            with pytest.raises(KprotoError):
                c.api_versions(victim)
            # The rest of the cluster still answers.
            assert len(c.metadata(None).brokers) >= 2
        finally:
            kafka_cluster.restart(victim)
        deadline = time.monotonic() + 60
        while True:
            try:
                assert c.api_versions(victim).node_id == victim
                break
            except KprotoError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert len(c.metadata(None).brokers) == 3
