"""The ClusterAdmin's less common operations through every transport, against real Kafka 4.x
and 3.9 brokers (log dirs, quotas, SCRAM credentials, ACLs without an authorizer, producers,
transactions, elections) and the three-broker cluster (reassignment and preferred election,
observed through metadata)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kproto.admin import (
    AclBinding,
    AclFilter,
    AclOperation,
    AclResourceType,
    AlterUserScramCredentialsDelete,
    AlterUserScramCredentialsUpsert,
    ClientQuotasOp,
    ConfigResourceType,
    ElectionType,
    FeatureUpdate,
    IncrementalAlterConfigsEntry,
    IncrementalAlterConfigsOperation,
    InvalidArgumentError,
    PartitionMetadata,
    QuotaEntityComponent,
    QuotaFilterComponent,
    QuotaMatchType,
    ScramMechanism,
    TopicDetail,
)
from kproto.errors import (
    AuthenticationError,
    ElectionNotNeededError,
    KafkaError,
    KprotoError,
    ResourceNotFoundError,
    SecurityDisabledError,
    TopicAuthorizationFailedError,
    TransactionalIdNotFoundError,
)
from kproto.message_types import OFFSET_OLDEST, ProducerMessage
from tests.conformance.drivers import TRANSPORTS
from tests.conformance.test_admin import admin, eventually

each = pytest.mark.parametrize("transport", TRANSPORTS)


@pytest.fixture(params=["kafka_broker", "kafka_broker_39"], ids=["newest", "3.9"])
def broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


@each
def test_log_dirs_quotas_producers_transactions(transport: str, broker: Any) -> None:
    import kproto_threads

    name = f"admin-more-{transport}-{int(time.time() * 1000)}"
    broker.create_topic(name, partitions=2)
    with kproto_threads.SyncProducer(broker.bootstrap, acks=-1, idempotent=True) as producer:
        producer.send_message(ProducerMessage(name, b"x", partition=0))
    with admin(transport, broker.bootstrap) as a:
        dirs = a.describe_log_dirs()
        [(node, result)] = dirs.items()
        assert result.ok and result.log_dirs and result.broker == node
        replicas = {k for d in result.log_dirs for k in d.replicas}
        assert {(name, 0), (name, 1)} <= replicas

        client_id = f"quota-{transport}-{name}"
        entity = [QuotaEntityComponent("client-id", client_id)]
        a.alter_client_quotas(entity, ClientQuotasOp("producer_byte_rate", 1024.0))
        wanted = [QuotaFilterComponent("client-id", QuotaMatchType.EXACT, client_id)]
        entries = eventually(lambda: a.describe_client_quotas(wanted, strict=True))
        assert [(e.entity, e.values) for e in entries] == [
            ({"client-id": client_id}, {"producer_byte_rate": 1024.0})]
        a.alter_client_quotas(entity, ClientQuotasOp("producer_byte_rate", remove=True))
        assert eventually(lambda: not a.describe_client_quotas(wanted, strict=True))

        producers = a.describe_producers([(name, 0), (name, 1)])
        assert producers[(name, 0)].ok and len(producers[(name, 0)].producers) == 1
        assert producers[(name, 1)].ok and producers[(name, 1)].producers == ()

        listed = a.list_transactions()
        assert listed.errors == {}
        [missing] = a.describe_transactions(["admin-no-such-txn"])
        assert isinstance(missing.error, TransactionalIdNotFoundError)

        elected = a.elect_leaders(ElectionType.PREFERRED, {name: [0, 1]})
        assert all(isinstance(r.error, ElectionNotNeededError) for r in elected.values())
        assert a.list_partition_reassignments() == {}


@each
@pytest.mark.real_broker("SCRAM credentials made by AlterUserScramCredentials: the fake cluster's "
                         "users are fixed when it is made")
def test_scram_credentials_authenticate_then_stop(transport: str, broker: Any) -> None:
    user = f"admin-scram-{transport}-{int(time.time() * 1000)}"
    host, port = broker.listeners["SASL_PLAINTEXT"]
    sasl = f"{host}:{port}"

    def authenticates() -> bool:
        import kproto_threads
        try:
            with kproto_threads.Client(sasl, security_protocol="SASL_PLAINTEXT",
                                       sasl_mechanism="SCRAM-SHA-256", sasl_username=user,
                                       sasl_password="s3cret", request_timeout=5.0) as c:
                c.metadata([], timeout=10.0)
            return True
        except AuthenticationError:
            return False

    with admin(transport, broker.bootstrap) as a:
        assert not authenticates()
        out = a.upsert_user_scram_credentials([AlterUserScramCredentialsUpsert(
            user, ScramMechanism.SCRAM_SHA_256, 4096, "s3cret")])
        assert out[user].ok
        # Described from the broker's metadata cache, which follows the controller's.
        described = eventually(lambda: (d := a.describe_user_scram_credentials([user]))[
            user].ok and d)
        assert [(c.mechanism, c.iterations) for c in described[user].credentials] == [
            (ScramMechanism.SCRAM_SHA_256, 4096)]
        assert eventually(authenticates)

        out = a.delete_user_scram_credentials([AlterUserScramCredentialsDelete(
            user, ScramMechanism.SCRAM_SHA_256)])
        assert out[user].ok
        assert eventually(lambda: isinstance(
            a.describe_user_scram_credentials([user])[user].error, ResourceNotFoundError))
        assert eventually(lambda: not authenticates())


@each
def test_acls_without_an_authorizer_fail_per_acl(transport: str, broker: Any) -> None:
    acl = AclBinding(AclResourceType.TOPIC, "t", "User:alice", AclOperation.READ)
    with admin(transport, broker.bootstrap) as a:
        results = a.create_acls([acl, AclBinding(AclResourceType.GROUP, "g", "User:bob",
                                                 AclOperation.READ)])
        assert len(results) == 2
        assert all(isinstance(r.error, SecurityDisabledError) for r in results)
        with pytest.raises(SecurityDisabledError):
            a.create_acl(acl)
        with pytest.raises(SecurityDisabledError):
            a.list_acls(AclFilter())
        with pytest.raises(SecurityDisabledError):
            a.delete_acl(AclFilter(principal="User:alice"))


@each
@pytest.mark.real_broker("finalized feature levels (metadata.version) are KRaft's; the fake "
                         "cluster has none to update")
def test_update_features_reports_each_feature(transport: str, broker: Any) -> None:
    with admin(transport, broker.bootstrap) as a:
        out = a.update_features({"metadata.version": FeatureUpdate(32000),
                                  "no.such.feature": FeatureUpdate(1)}, validate_only=True)
        assert set(out) == {"metadata.version", "no.such.feature"}
        assert all(isinstance(r.error, KafkaError) for r in out.values()), out
        with pytest.raises(InvalidArgumentError) as bad:
            a.update_features({"metadata.version": FeatureUpdate(0)})
        assert bad.value.field == "updates['metadata.version'].upgrade_type"


@each
def test_reassignment_and_preferred_election_on_the_cluster(transport: str,
                                                            kafka_cluster: Any) -> None:
    name = f"admin-reassign-{transport}-{int(time.time() * 1000)}"
    with admin(transport, kafka_cluster.bootstrap) as a:
        nodes = sorted(b.node_id for b in a.describe_cluster().brokers)
        first, second, third = nodes
        a.create_topic(name, TopicDetail(replica_assignment={0: [first, second]}))

        def partition() -> Any:
            """Partition 0 as metadata shows it (a broker may not know the topic yet)."""
            parts = a.describe_topics([name])[name].partitions
            return parts[0] if parts else PartitionMetadata(0, -1, -1, (), (), ())
        assert eventually(lambda: partition().leader == first), partition()

        # Move the replicas to [second, third]: the leader must leave the first broker.
        moved = a.alter_partition_reassignments(name, {0: [second, third]})
        assert moved[(name, 0)].ok
        assert eventually(lambda: a.list_partition_reassignments(name, [0]) == {}
                          and set(partition().replicas) == {second, third}, 60.0), partition()
        assert eventually(lambda: partition().leader in (second, third))

        # Prefer the third: reorder the replicas, then elect the preferred leader.
        a.alter_partition_reassignments(name, [[third, second]])
        assert eventually(lambda: partition().replicas == (third, second), 60.0), partition()

        def elected() -> bool:
            result = a.elect_leaders(ElectionType.PREFERRED, {name: [0]})[(name, 0)]
            assert result.ok or isinstance(result.error, (ElectionNotNeededError,
                                                          KprotoError))
            return partition().leader == third
        assert eventually(elected, 60.0), partition()
        a.delete_topic(name)


@pytest.fixture(params=["kafka_broker_acl", "kafka_broker_acl_39"], ids=["newest", "3.9"])
def acl_broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def sasl_user(broker: Any) -> tuple[str, dict[str, Any]]:
    """The SASL listener's address and the options of the user without rights."""
    user, password = broker.sasl_users["PLAIN"]
    host, port = broker.listeners["SASL_PLAINTEXT"]
    return f"{host}:{port}", {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                              "sasl_username": user, "sasl_password": password}


@each
def test_acls_decide_who_produces_and_consumes(transport: str, acl_broker: Any) -> None:
    """Records: the user's produce and consume are refused while only someone else's ACLs
    name the topic, go through once create_acl allows WRITE and READ, and are refused again
    after delete_acl."""
    from tests.conformance.drivers import open_remote

    broker = acl_broker
    name = f"admin-acl-rw-{transport}-{int(time.time() * 1000)}"
    address, sasl = sasl_user(broker)
    principal = f"User:{sasl['sasl_username']}"
    grants = [AclBinding(AclResourceType.TOPIC, name, principal, op)
              for op in (AclOperation.WRITE, AclOperation.READ)]
    opts = {**sasl, "metadata_max_wait": 5.0, "request_timeout": 5.0, "delivery_timeout": 5.0,
            "max_block": 5.0}
    with admin(transport, broker.bootstrap) as a, \
            open_remote(transport, lambda mod: mod.SyncProducer(address, **opts)) as producer:
        a.create_topic(name, TopicDetail(1, 1))
        a.create_acl(AclBinding(AclResourceType.TOPIC, name, "User:someone-else",
                                AclOperation.ALL))

        def send() -> BaseException | None:
            try:
                producer.send_message(ProducerMessage(name, value=b"allowed"))
            except KprotoError as exc:
                return exc
            return None

        assert eventually(lambda: isinstance(send(), TopicAuthorizationFailedError)), send()
        a.create_acls(grants)
        assert eventually(lambda: send() is None), send()
        assert read_one(transport, address, opts, name) == b"allowed"
        assert sorted(a.delete_acl(AclFilter(resource_name=name, principal=principal)),
                      key=lambda b: b.operation) == sorted(grants, key=lambda b: b.operation)
        assert eventually(lambda: isinstance(send(), TopicAuthorizationFailedError)), send()
        with pytest.raises(TopicAuthorizationFailedError):
            read_one(transport, address, opts, name)
        a.delete_topic(name)


def read_one(transport: str, address: str, opts: dict[str, Any], topic: str) -> bytes | None:
    """The first record of ``topic[0]``, read by the SASL user through ``transport``."""
    from tests.conformance.drivers import open_remote

    with open_remote(transport, lambda mod: mod.Consumer(address, **opts)) as consumer:
        pc = consumer.consume_partition(topic, 0, OFFSET_OLDEST)
        if transport == "threads":
            return pc.messages.get(30.0).value  # type: ignore[no-any-return]
        stream = pc.messages
        if transport == "trio":
            import trio

            async def receive() -> Any:
                with trio.fail_after(30):
                    return await stream.receive()
            return consumer._runner.call(receive).value  # type: ignore[no-any-return]
        return consumer._runner.call(lambda: stream.get(30.0)).value  # type: ignore[no-any-return]


@each
def test_acls_are_enforced(transport: str, acl_broker: Any) -> None:
    """A SASL user kept out of a topic by its ACLs can describe it once an ACL allows it,
    and not after that ACL is deleted."""
    broker = acl_broker
    name = f"admin-acl-{transport}-{int(time.time() * 1000)}"
    user, password = broker.sasl_users["PLAIN"]
    host, port = broker.listeners["SASL_PLAINTEXT"]
    sasl = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
            "sasl_username": user, "sasl_password": password}
    mine = AclBinding(AclResourceType.TOPIC, name, f"User:{user}", AclOperation.DESCRIBE)
    other = AclBinding(AclResourceType.TOPIC, name, "User:someone-else",
                       AclOperation.DESCRIBE)
    with admin(transport, broker.bootstrap) as a, \
            admin(transport, f"{host}:{port}", **sasl) as as_user:
        a.create_topic(name, TopicDetail(1, 1))

        def allowed() -> bool:
            return bool(as_user.describe_topics([name])[name].ok)

        assert eventually(allowed)  # no ACL on the topic yet: open to everyone
        a.create_acl(other)         # now only someone else may describe it
        assert eventually(lambda: isinstance(as_user.describe_topics([name])[name].error,
                                             TopicAuthorizationFailedError))
        a.create_acl(mine)
        assert eventually(allowed)
        assert set(a.list_acls(AclFilter(resource_name=name))) == {mine, other}
        deleted = a.delete_acl(AclFilter(resource_name=name, principal=f"User:{user}"))
        assert deleted == [mine]
        assert eventually(lambda: not allowed())
        assert isinstance(as_user.describe_topics([name])[name].error,
                          TopicAuthorizationFailedError)
        assert a.delete_acl(AclFilter(resource_name=name)) == [other]
        a.delete_topic(name)


LOGGER = "kafka.server.ReplicaManager"
SET, DELETE, APPEND = (IncrementalAlterConfigsOperation.SET,
                       IncrementalAlterConfigsOperation.DELETE,
                       IncrementalAlterConfigsOperation.APPEND)
REFUSED_LOCALLY = [
    (ConfigResourceType.BROKER_LOGGER, LOGGER, SET, "LOUD"),
    (ConfigResourceType.BROKER_LOGGER, LOGGER, APPEND, "DEBUG"),
    (ConfigResourceType.BROKER_LOGGER, "root", DELETE, None),
    (ConfigResourceType.CLIENT_METRICS, "colour", SET, "red"),
    (ConfigResourceType.TOPIC, "retention.msec", SET, "1"),
    (ConfigResourceType.TOPIC, "retention.ms", APPEND, "1"),
]
ACCEPTED = [
    (ConfigResourceType.BROKER_LOGGER, LOGGER, SET, "DEBUG"),
    (ConfigResourceType.BROKER_LOGGER, LOGGER, DELETE, None),
    (ConfigResourceType.TOPIC, "retention.ms", SET, "60000"),
    (ConfigResourceType.TOPIC, "cleanup.policy", APPEND, "compact"),
]


@pytest.mark.real_broker("compares kproto's local checks with Kafka's own validation of broker, "
                         "logger and client-metrics configs")
def test_incremental_checks_match_the_broker(broker: Any) -> None:
    """What check_incremental_entries refuses before sending, Kafka refuses too (asked with a
    raw IncrementalAlterConfigs, validate_only), and what it lets through, Kafka accepts: the
    local checks neither hide a broker error nor refuse what Kafka allows."""
    import kproto_threads
    from kproto import protocol
    from kproto.admin.validate import check_incremental_entries
    from kproto.protocol.apis import INCREMENTAL_ALTER_CONFIGS
    from kproto.protocol.messages import incremental_alter_configs_request as ia

    topic = f"admin-incr-{int(time.time() * 1000)}"
    broker.create_topic(topic, partitions=1)
    with kproto_threads.Client(broker.bootstrap) as client:
        node = str(client.metadata().brokers[0].node_id)

        def kafka_says(kind: ConfigResourceType, name: str, op: Any, value: Any) -> int:
            resource = {ConfigResourceType.TOPIC: topic,
                        ConfigResourceType.CLIENT_METRICS: "kproto-sub"}.get(kind, node)
            _, resp = client.request(INCREMENTAL_ALTER_CONFIGS, lambda v: (
                protocol.IncrementalAlterConfigsRequest(resources=[ia.AlterConfigsResource(
                    resource_type=int(kind), resource_name=resource,
                    configs=[ia.AlterableConfig(name=name, config_operation=int(op),
                                                value=value)])], validate_only=True)))
            return int(resp.responses[0].error_code)

        for kind, name, op, value in REFUSED_LOCALLY:
            with pytest.raises(InvalidArgumentError):
                check_incremental_entries({name: IncrementalAlterConfigsEntry(op, value)},
                                          kind=kind)
            code = kafka_says(kind, name, op, value)
            assert code != 0, (kind.name, name, op.name, value)
        for kind, name, op, value in ACCEPTED:
            check_incremental_entries({name: IncrementalAlterConfigsEntry(op, value)},
                                      kind=kind)
            assert kafka_says(kind, name, op, value) == 0, (kind.name, name, op.name, value)
