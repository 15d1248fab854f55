"""The ``server.properties`` of a harness broker node, and the test users it knows.

Every node is a combined broker+controller with a static controller quorum (the same
``controller.quorum.voters`` line works on 3.9 and 4.x) and these listeners, all on 127.0.0.1:

    PLAINTEXT       inter-broker traffic and most tests
    SASL_PLAINTEXT  PLAIN (users in the JAAS line) and SCRAM-SHA-256/512 (added at format time)
    SSL             server certificate from the test CA, no client authentication
    FAULTY          plain protocol, but advertised at a FaultProxy's address
    CONTROLLER      the KRaft quorum (not advertised)

With ``authorizer``, the node runs KRaft's StandardAuthorizer: ``User:ANONYMOUS`` (the
PLAINTEXT, SSL and CONTROLLER listeners) is a super user, and a resource without ACLs is open
to everyone, so ACLs bind only the SASL users on the resources they name.

Settings favour fast tests: no initial rebalance delay, few internal-topic partitions, short
minimum session timeout, and in a cluster a 3 s broker session timeout so a killed broker is
fenced quickly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SASL_USER = ("alice", "alice-secret")
SASL_WRONG_PASSWORD = "not-alice-secret"
ADVERTISED = ("PLAINTEXT", "SASL_PLAINTEXT", "SSL")

OAUTH_MECHANISM = "OAUTHBEARER"
"""Enabled with Kafka's unsecured-token validator (tokens signed with alg "none")."""
REAUTH_MS = 4000
"""SASL sessions on the broker last this long, so clients must re-authenticate (KIP-368)."""

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
OAUTH_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


def scram_format_args() -> list[str]:
    """``kafka-storage format`` arguments that create the SCRAM users."""
    user, password = SASL_USER
    return [
        arg
        for mech in SASL_MECHANISMS
        if mech.startswith("SCRAM-")
        for arg in ("--add-scram", f"{mech}=[name={user},password={password}]")
    ]


def server_properties(
    *,
    version: str,
    node_id: int,
    host: str,
    ports: dict[str, int],
    proxy_address: tuple[str, int],
    voters: dict[int, int],
    data_dir: Path,
    tls_config: dict[str, str],
    cluster_size: int,
    authorizer: bool = False,
) -> str:
    """Render one node's configuration; ``voters`` maps node id -> controller port."""
    rf = min(3, cluster_size)
    min_isr = min(2, rf)
    user, password = SASL_USER
    listeners = ",".join(f"{name}://{host}:{port}" for name, port in ports.items())
    advertised = ",".join(
        [f"{name}://{host}:{ports[name]}" for name in ADVERTISED]
        + [f"FAULTY://{proxy_address[0]}:{proxy_address[1]}"]
    )
    cfg: dict[str, Any] = {
        "process.roles": "broker,controller",
        "node.id": node_id,
        "controller.quorum.voters": ",".join(f"{i}@{host}:{p}" for i, p in sorted(voters.items())),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listeners": listeners,
        "advertised.listeners": advertised,
        "listener.security.protocol.map": (
            "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,FAULTY:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        "sasl.enabled.mechanisms": ",".join((*SASL_MECHANISMS, OAUTH_MECHANISM)),
        "connections.max.reauth.ms": REAUTH_MS,
        # Server-side JAAS entries only count with the listener and mechanism prefix.
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
            f'{PLAIN_MODULE} required user_{user}="{password}";'
        ),
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": f"{SCRAM_MODULE} required;",
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": f"{SCRAM_MODULE} required;",
        "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": (
            f'{OAUTH_MODULE} required unsecuredLoginStringClaim_sub="{user}";'
        ),
        **tls_config,
        "log.dirs": data_dir,
        "num.partitions": 1,
        "default.replication.factor": rf,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": rf,
        "offsets.topic.num.partitions": 3,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": 3,
        "group.initial.rebalance.delay.ms": 0,
        "group.min.session.timeout.ms": 1000,
        "auto.create.topics.enable": "true",
        "num.network.threads": 2,
        "num.io.threads": 4,
        "num.recovery.threads.per.data.dir": 1,
    }
    if cluster_size > 1:
        # Fence a killed broker after 3 s (heartbeat * 2 must not exceed the session timeout).
        cfg["broker.heartbeat.interval.ms"] = 1000
        cfg["broker.session.timeout.ms"] = 3000
    if authorizer:
        cfg["authorizer.class.name"] = AUTHORIZER
        cfg["super.users"] = "User:ANONYMOUS"
        cfg["allow.everyone.if.no.acl.found"] = "true"
    if not version.startswith("3."):
        cfg["share.coordinator.state.topic.replication.factor"] = rf
        cfg["share.coordinator.state.topic.min.isr"] = min_isr
        cfg["share.coordinator.state.topic.num.partitions"] = 3
    header = f"# written by tests/harness: Kafka {version}, node {node_id} of {cluster_size}\n"
    return header + "".join(f"{k}={v}\n" for k, v in cfg.items())
