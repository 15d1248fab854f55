"""AdminCore against the embedded fake cluster, in-process: where each request goes, what is
retried within the deadline, and that every resource gets its own result."""

from __future__ import annotations

from typing import Any

import pytest

from kproto.admin import (
    AclBinding,
    AclFilter,
    AclOperation,
    AclResourceType,
    AdminCore,
    AlterUserScramCredentialsDelete,
    AlterUserScramCredentialsUpsert,
    ConfigResource,
    ConfigResourceType,
    IncrementalAlterConfigsEntry,
    IncrementalAlterConfigsOperation,
    InvalidArgumentError,
    OffsetSpec,
    QuotaFilterComponent,
    QuotaMatchType,
    ScramMechanism,
    TopicDetail,
)
from kproto.errors import (
    ClientTimeoutError,
    GroupAuthorizationFailedError,
    GroupIdNotFoundError,
    InvalidConfigError,
    LeaderNotAvailableError,
    NotControllerError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from kproto.protocol import apis
from kproto.testing import FakeCluster
from kproto.testing.fake import codes
from tests.fake.driver import Client, Driver

SET = IncrementalAlterConfigsOperation.SET


def setup(brokers: int = 3, topics: dict[str, int] | None = None,
          **cluster_options: Any) -> tuple[FakeCluster, Driver, Client, AdminCore,
                                           list[tuple[int, int]]]:
    """A cluster, a driven client with an AdminCore, and a log of (node, api key) sent."""
    cluster = FakeCluster(brokers, topics=topics, **cluster_options)
    driver = Driver(cluster)
    client = driver.client()
    admin = AdminCore(client.core)
    sent: list[tuple[int, int]] = []
    send = client.core.send

    def spy(node_id: int, api_key: int, *args: Any, **kwargs: Any) -> Any:
        sent.append((node_id, api_key))
        return send(node_id, api_key, *args, **kwargs)
    client.core.send = spy  # type: ignore[method-assign]
    return cluster, driver, client, admin, sent


# -- input is refused before anything is sent ------------------------------------------------

BAD_CALLS: list[tuple[str, Any, str]] = [
    ("empty topic name", lambda a, n: a.create_topics({"": TopicDetail()}, False, n), "topic"),
    ("dot", lambda a, n: a.create_topics({".": TopicDetail()}, False, n), "topic"),
    ("dot dot", lambda a, n: a.delete_topics([".."], n), "topics[0]"),
    ("too long", lambda a, n: a.create_topics({"x" * 250: TopicDetail()}, False, n), "topic"),
    ("bad character", lambda a, n: a.create_topics({"a/b": TopicDetail()}, False, n), "topic"),
    ("one str for a list", lambda a, n: a.delete_topics("abc", n), "topics"),
    ("zero partitions", lambda a, n: a.create_topics({"t": TopicDetail(0, 1)}, False, n),
     "topics['t'].num_partitions"),
    ("negative replication", lambda a, n: a.create_topics({"t": TopicDetail(1, -2)}, False, n),
     "topics['t'].replication_factor"),
    ("zero replication", lambda a, n: a.create_topics({"t": TopicDetail(1, 0)}, False, n),
     "topics['t'].replication_factor"),
    ("assignment gap", lambda a, n: a.create_topics(
        {"t": TopicDetail(replica_assignment={0: [1], 2: [1]})}, False, n),
     "topics['t'].replica_assignment"),
    ("assignment twice", lambda a, n: a.create_topics(
        {"t": TopicDetail(replica_assignment={0: [1, 1]})}, False, n),
     "topics['t'].replica_assignment[0]"),
    ("assignment uneven", lambda a, n: a.create_topics(
        {"t": TopicDetail(replica_assignment={0: [1, 2], 1: [1]})}, False, n),
     "topics['t'].replica_assignment[1]"),
    ("assignment and count", lambda a, n: a.create_topics(
        {"t": TopicDetail(3, replica_assignment={0: [1]})}, False, n),
     "topics['t'].num_partitions"),
    ("partition count", lambda a, n: a.create_partitions("t", 0, None, False, n), "count"),
    ("new partition replicas", lambda a, n: a.create_partitions("t", 3, [[1], []], False, n),
     "assignment[1]"),
    ("negative partition", lambda a, n: a.list_offsets({("t", -1): -1}, n), "specs['t']"),
    ("bad offset spec", lambda a, n: a.list_offsets({("t", 0): -4}, n), "specs[('t', 0)]"),
    ("bad delete offset", lambda a, n: a.delete_records({("t", 0): -2}, n),
     "offsets[('t', 0)]"),
    ("empty group", lambda a, n: a.describe_consumer_groups([""], n), "groups[0]"),
    ("incremental without value", lambda a, n: a.incremental_alter_configs(
        {ConfigResource(ConfigResourceType.TOPIC, "t"):
         {"retention.ms": IncrementalAlterConfigsEntry(SET)}}, False, n),
     "resources[0].entries['retention.ms']"),
    ("unknown topic config", lambda a, n: a.incremental_alter_configs(
        {ConfigResource(ConfigResourceType.TOPIC, "t"):
         {"retention.msec": IncrementalAlterConfigsEntry(SET, "1")}}, False, n),
     "resources[0].entries['retention.msec']"),
    ("append to a scalar config", lambda a, n: a.incremental_alter_configs(
        {ConfigResource(ConfigResourceType.TOPIC, "t"):
         {"retention.ms": IncrementalAlterConfigsEntry(
             IncrementalAlterConfigsOperation.APPEND, "1")}}, False, n),
     "resources[0].entries['retention.ms']"),
    ("logger set to a non-level", lambda a, n: a.incremental_alter_configs(
        {ConfigResource(ConfigResourceType.BROKER_LOGGER, "1"):
         {"kafka.server.ReplicaManager": IncrementalAlterConfigsEntry(SET, "LOUD")}}, False, n),
     "resources[0].entries['kafka.server.ReplicaManager']"),
    ("append to a logger", lambda a, n: a.incremental_alter_configs(
        {ConfigResource(ConfigResourceType.BROKER_LOGGER, "1"):
         {"kafka.server.ReplicaManager": IncrementalAlterConfigsEntry(
             IncrementalAlterConfigsOperation.APPEND, "DEBUG")}}, False, n),
     "resources[0].entries['kafka.server.ReplicaManager']"),
    ("delete the root logger", lambda a, n: a.incremental_alter_configs(
        {ConfigResource(ConfigResourceType.BROKER_LOGGER, "1"):
         {"root": IncrementalAlterConfigsEntry(IncrementalAlterConfigsOperation.DELETE)}},
        False, n),
     "resources[0].entries['root']"),
    ("unknown client metrics config", lambda a, n: a.incremental_alter_configs(
        {ConfigResource(ConfigResourceType.CLIENT_METRICS, "sub"):
         {"colour": IncrementalAlterConfigsEntry(SET, "red")}}, False, n),
     "resources[0].entries['colour']"),
    ("broker named by a word", lambda a, n: a.describe_configs(
        [ConfigResource(ConfigResourceType.BROKER, "one")], n), "resources[0].name"),
    ("no static members", lambda a, n: a.remove_members("g", [], n), "group_instance_ids"),
    ("acl on any resource", lambda a, n: a.create_acls([AclBinding(
        AclResourceType.ANY, "t", "User:a", AclOperation.READ)], n), "acls[0].resource_type"),
    ("acl principal", lambda a, n: a.create_acls([AclBinding(
        AclResourceType.TOPIC, "t", "alice", AclOperation.READ)], n), "acls[0].principal"),
    ("acl any operation", lambda a, n: a.create_acls([AclBinding(
        AclResourceType.TOPIC, "t", "User:a", AclOperation.ANY)], n), "acls[0].operation"),
    ("acl filter of nothing", lambda a, n: a.describe_acls(
        AclFilter(operation=AclOperation.UNKNOWN), n), "filter.operation"),
    ("scram iterations", lambda a, n: a.alter_user_scram_credentials([
        AlterUserScramCredentialsUpsert("u", ScramMechanism.SCRAM_SHA_256, 100, "pw")], [], n),
     "upsertions[0].iterations"),
    ("scram mechanism", lambda a, n: a.alter_user_scram_credentials([], [
        AlterUserScramCredentialsDelete("u", ScramMechanism.UNKNOWN)], n),
     "deletions[0].mechanism"),
    ("reassignment repeats a broker", lambda a, n: a.alter_partition_reassignments(
        "t", {0: [1, 1]}, n), "assignment[0][0]"),
    ("quota match", lambda a, n: a.describe_client_quotas([QuotaFilterComponent(
        "user", QuotaMatchType.EXACT)], False, n), "components[0].match"),
]


@pytest.mark.parametrize(("call", "field"), [(c, f) for _, c, f in BAD_CALLS],
                         ids=[name for name, _, _ in BAD_CALLS])
def test_bad_input_is_refused_before_sending(call: Any, field: str) -> None:
    _, driver, client, admin, sent = setup(1)
    with pytest.raises(InvalidArgumentError) as info:
        call(admin, driver.now)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    driver.advance(1.0)
    assert sent == [] and client.refused == 0 and not client.core.pending_writes()


def test_topic_name_rules_accept_the_legal_ones() -> None:
    cluster, driver, client, admin, _ = setup(1)
    names = ["a", "A-b_c.9", "x" * 249, "..."]
    out = driver.wait(client, admin.create_topics(dict.fromkeys(names, TopicDetail(1, 1)),
                                                  False, driver.now))
    assert all(r.ok for r in out.values()), out
    assert set(names) <= set(cluster.topics)


# -- topics ----------------------------------------------------------------------------------


def test_create_topics_reports_each_topic() -> None:
    cluster, driver, client, admin, sent = setup(3, topics={"old": 1})
    out = driver.wait(client, admin.create_topics({
        "new": TopicDetail(4, 2),
        "old": TopicDetail(1, 1),
        "bad-config": TopicDetail(1, 1, config_entries={"no.such.config": "1"}),
        "manual": TopicDetail(replica_assignment={0: [3, 1], 1: [1, 2]}),
    }, False, driver.now))
    assert list(out) == ["new", "old", "bad-config", "manual"]
    assert out["new"].ok and out["new"].num_partitions == 4
    assert out["new"].replication_factor == 2
    assert isinstance(out["old"].error, TopicAlreadyExistsError)
    assert isinstance(out["bad-config"].error, InvalidConfigError)
    assert out["manual"].ok
    assert [p.replicas for p in cluster.topics["manual"].partitions] == [[3, 1], [1, 2]]
    # One CreateTopics, to the controller the metadata names.
    creates = [node for node, key in sent if key == apis.CREATE_TOPICS]
    assert creates == [1]  # the fake's metadata names the lowest live broker id


def test_validate_only_creates_nothing() -> None:
    cluster, driver, client, admin, _ = setup(1)
    out = driver.wait(client, admin.create_topics({"v": TopicDetail(2, 1)}, True, driver.now))
    assert out["v"].ok
    assert "v" not in cluster.topics


def test_not_controller_is_retried_within_the_deadline() -> None:
    cluster, driver, client, admin, sent = setup(3)
    cluster.faults.fail(apis.CREATE_TOPICS, NotControllerError.code, count=2)
    out = driver.wait(client, admin.create_topics({"n": TopicDetail(1, 1)}, False, driver.now))
    assert out["n"].ok and "n" in cluster.topics
    assert sum(1 for _, key in sent if key == apis.CREATE_TOPICS) == 3


def test_not_controller_until_the_deadline_reports_it() -> None:
    cluster, driver, client, admin, _ = setup(1)
    cluster.faults.fail(apis.CREATE_TOPICS, NotControllerError.code, count=-1)
    start = driver.now
    out = driver.wait(client, admin.create_topics({"n": TopicDetail(1, 1)}, False, driver.now,
                                                  timeout=2.0))
    assert isinstance(out["n"].error, NotControllerError)
    assert 1.0 <= driver.now - start <= 2.5


def test_delete_topics_one_unknown_does_not_hide_the_other() -> None:
    cluster, driver, client, admin, _ = setup(1, topics={"a": 1})
    start = driver.now
    out = driver.wait(client, admin.delete_topics(["a", "missing"], driver.now))
    assert out["a"].ok and "a" not in cluster.topics
    assert isinstance(out["missing"].error, UnknownTopicOrPartitionError)
    assert driver.now - start < 1.0  # the controller's answer is final: not retried


def test_a_delete_whose_answer_was_lost_is_a_success_on_retry() -> None:
    cluster, driver, client, admin, sent = setup(1, topics={"a": 1})
    admin.config = type(client.config)(request_timeout=1.0)
    cluster.faults.delay(3.0, apis.DELETE_TOPICS, count=1)  # deleted, answered too late
    out = driver.wait(client, admin.delete_topics(["a"], driver.now, timeout=10.0))
    assert out["a"].ok and "a" not in cluster.topics
    assert sum(1 for _, key in sent if key == apis.DELETE_TOPICS) == 2
    # Without a lost answer, an unknown topic stays an error.
    out = driver.wait(client, admin.delete_topics(["a"], driver.now))
    assert isinstance(out["a"].error, UnknownTopicOrPartitionError)


def test_describe_topics_and_create_partitions() -> None:
    _, driver, client, admin, _ = setup(3, topics={"t": 2})
    driver.wait(client, admin.create_partitions("t", 5, None, False, driver.now))
    out = driver.wait(client, admin.describe_topics(["t", "nope"], driver.now))
    assert [p.id for p in out["t"].partitions] == [0, 1, 2, 3, 4]
    assert out["t"].topic_id is not None
    assert isinstance(out["nope"].error, UnknownTopicOrPartitionError)


# -- configs ---------------------------------------------------------------------------------


def test_configs_are_described_and_altered_per_resource() -> None:
    _, driver, client, admin, _ = setup(3, topics={"t": 1})
    topic = ConfigResource(ConfigResourceType.TOPIC, "t")
    missing = ConfigResource(ConfigResourceType.TOPIC, "missing")
    out = driver.wait(client, admin.incremental_alter_configs(
        {topic: {"retention.ms": IncrementalAlterConfigsEntry(SET, "1234")},
         missing: {"retention.ms": IncrementalAlterConfigsEntry(SET, "1")}},
        False, driver.now))
    assert out[0].ok and out[1].error is not None
    described = driver.wait(client, admin.describe_configs([topic], driver.now))
    entry = described[0].get("retention.ms")
    assert entry is not None and entry.value == "1234" and not entry.default


def test_broker_configs_go_to_that_broker() -> None:
    _, driver, client, admin, sent = setup(3)
    driver.wait(client, admin.describe_configs(
        [ConfigResource(ConfigResourceType.BROKER, "2")], driver.now))
    assert [node for node, key in sent if key == apis.DESCRIBE_CONFIGS] == [2]


# -- partitions: batched per leader, retried on leader changes --------------------------------


def test_list_offsets_is_batched_per_leader() -> None:
    cluster, driver, client, admin, sent = setup(3, topics={"t": 6})
    specs = {("t", p): OffsetSpec.LATEST for p in range(6)}
    out = driver.wait(client, admin.list_offsets(specs, driver.now))
    assert all(r.ok and r.offset == 0 for r in out.values())
    assert list(out) == list(specs)
    leaders = {p.leader for p in cluster.topics["t"].partitions}
    nodes = [node for node, key in sent if key == apis.LIST_OFFSETS]
    assert sorted(nodes) == sorted(leaders)  # one request per leader


def test_a_leader_change_is_retried_and_the_others_are_not_held_back() -> None:
    cluster, driver, client, admin, sent = setup(3, topics={"t": 3})
    cluster.faults.fail(apis.LIST_OFFSETS, codes.NOT_LEADER_OR_FOLLOWER, count=1,
                        topic="t", partition=1)
    out = driver.wait(client, admin.list_offsets(
        {("t", p): OffsetSpec.EARLIEST for p in range(3)}, driver.now))
    assert all(r.ok for r in out.values()), out
    assert sum(1 for _, key in sent if key == apis.LIST_OFFSETS) == 4


def test_a_dead_broker_fails_its_partitions_only_within_the_deadline() -> None:
    cluster, driver, client, admin, _ = setup(3)
    cluster.create_topic("one", 3, 1)
    dead = cluster.topics["one"].partitions[0].leader
    cluster.stop_broker(dead, driver.now)
    start = driver.now
    out = driver.wait(client, admin.list_offsets(
        {("one", p): OffsetSpec.LATEST for p in range(3)}, driver.now, timeout=3.0))
    assert driver.now - start <= 3.5
    for p in range(3):
        result = out[("one", p)]
        if cluster.topics["one"].partitions[p].replicas == [dead]:
            assert isinstance(result.error, LeaderNotAvailableError), result
        else:
            assert result.ok, result


def test_unknown_partition_is_reported_without_waiting_for_the_deadline() -> None:
    _, driver, client, admin, _ = setup(1, topics={"t": 1})
    start = driver.now
    out = driver.wait(client, admin.list_offsets({("t", 0): -1, ("t", 7): -1,
                                                  ("nope", 0): -1}, driver.now))
    assert out[("t", 0)].ok
    assert isinstance(out[("t", 7)].error, UnknownTopicOrPartitionError)
    assert isinstance(out[("nope", 0)].error, UnknownTopicOrPartitionError)
    assert driver.now - start < 5.0


def test_a_stalled_broker_ends_at_the_deadline() -> None:
    cluster, driver, client, admin, _ = setup(1, topics={"t": 1})
    driver.wait(client, admin.describe_topics(["t"], driver.now))
    cluster.faults.stall(apis.DELETE_RECORDS, count=-1)
    start = driver.now
    out = driver.wait(client, admin.delete_records({("t", 0): -1}, driver.now, timeout=2.0))
    assert isinstance(out[("t", 0)].error, ClientTimeoutError)
    assert driver.now - start <= 2.5


# -- groups ----------------------------------------------------------------------------------


def test_group_offsets_round_trip_through_the_coordinator() -> None:
    cluster, driver, client, admin, sent = setup(3, topics={"t": 2})
    coordinator = cluster.coordinator_for(0, "g")
    out = driver.wait(client, admin.alter_consumer_group_offsets(
        "g", {"t": {0: 5, 1: 7}}, driver.now))
    assert all(r.ok for r in out.values())
    offsets = driver.wait(client, admin.list_consumer_group_offsets("g", None, driver.now))
    assert {p: b.offset for p, b in offsets["t"].items()} == {0: 5, 1: 7}
    assert {node for node, key in sent if key in (apis.OFFSET_COMMIT, apis.OFFSET_FETCH)} \
        == {coordinator}


def test_coordinator_moved_and_loading_are_retried() -> None:
    cluster, driver, client, admin, sent = setup(3)
    driver.wait(client, admin.alter_consumer_group_offsets("g", {"t": {0: 1}}, driver.now))
    cluster.faults.fail(apis.DESCRIBE_GROUPS, codes.NOT_COORDINATOR, count=1)
    cluster.faults.fail(apis.DESCRIBE_GROUPS, codes.COORDINATOR_LOAD_IN_PROGRESS, count=1)
    [described] = driver.wait(client, admin.describe_consumer_groups(["g"], driver.now))
    assert described.ok and described.state == "Empty"
    assert sum(1 for _, key in sent if key == apis.DESCRIBE_GROUPS) == 3


def test_groups_listed_on_every_broker_described_and_deleted() -> None:
    _, driver, client, admin, sent = setup(3)
    groups = [f"g{i}" for i in range(6)]
    for g in groups:
        driver.wait(client, admin.alter_consumer_group_offsets(g, {"t": {0: 1}}, driver.now))
    listed = driver.wait(client, admin.list_consumer_groups(driver.now))
    assert set(listed.groups) == set(groups) and listed.errors == {}
    assert sorted(node for node, key in sent if key == apis.LIST_GROUPS) == [1, 2, 3]
    out = driver.wait(client, admin.delete_consumer_groups(["g0", "g1", "nope"], driver.now))
    assert out["g0"].ok and out["g1"].ok
    assert isinstance(out["nope"].error, GroupIdNotFoundError)
    described = driver.wait(client, admin.describe_consumer_groups(["g2", "g0"], driver.now))
    assert [d.group_id for d in described] == ["g2", "g0"]
    assert described[0].state == "Empty" and described[1].state == "Dead"


def test_cluster_controller_and_coordinator() -> None:
    cluster, driver, client, admin, _ = setup(3)
    desc = driver.wait(client, admin.describe_cluster(driver.now))
    assert desc.cluster_id == cluster.cluster_id
    assert [b.node_id for b in desc.brokers] == [1, 2, 3]
    controller = driver.wait(client, admin.controller(driver.now))
    assert controller.node_id in (1, 2, 3)
    coord = driver.wait(client, admin.coordinator("grp", driver.now))
    assert coord.node_id == cluster.coordinator_for(0, "grp")
    assert coord.host == cluster.brokers[coord.node_id].host


def test_a_failing_coordinator_fails_only_its_groups() -> None:
    cluster, driver, client, admin, _ = setup(3)
    groups = [f"grp{i}" for i in range(12)]
    by_node: dict[int, list[str]] = {}
    for g in groups:
        driver.wait(client, admin.alter_consumer_group_offsets(g, {"t": {0: 1}}, driver.now))
        by_node.setdefault(cluster.coordinator_for(0, g) or -1, []).append(g)
    assert len(by_node) >= 2
    bad = next(iter(by_node))
    cluster.faults.fail(apis.DESCRIBE_GROUPS, GroupAuthorizationFailedError.code, count=-1,
                        node=bad)
    described = driver.wait(client, admin.describe_consumer_groups(groups, driver.now))
    assert [d.group_id for d in described] == groups
    for d in described:
        if d.group_id in by_node[bad]:
            assert isinstance(d.error, GroupAuthorizationFailedError), d
        else:
            assert d.ok and d.state == "Empty", d


def test_a_stalled_broker_leaves_the_other_brokers_groups_listed() -> None:
    cluster, driver, client, admin, _ = setup(3)
    groups = [f"grp{i}" for i in range(12)]
    for g in groups:
        driver.wait(client, admin.alter_consumer_group_offsets(g, {"t": {0: 1}}, driver.now))
    cluster.faults.stall(apis.LIST_GROUPS, count=-1, node=2)
    start = driver.now
    listed = driver.wait(client, admin.list_consumer_groups(driver.now, timeout=2.0))
    assert driver.now - start <= 2.5
    assert list(listed.errors) == [2] and isinstance(listed.errors[2], ClientTimeoutError)
    assert set(listed.groups) == {g for g in groups if cluster.coordinator_for(0, g) != 2}
