"""The transaction state machine against scripted coordinators."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from kproto import protocol
from kproto.errors import (
    ClientTimeoutError,
    ConfigurationError,
    FencedInstanceIdError,
    IllegalGenerationError,
    ProducerFencedError,
    TopicAuthorizationFailedError,
    UnknownMemberIdError,
    UnsupportedVersionError,
)
from kproto.group.metadata import ConsumerGroupMetadata
from kproto.message_types import ConsumerMessage
from kproto.producer import TransactionAbortedError, TransactionStateError, TxnStatus
from kproto.protocol.messages.txn_offset_commit_response import (
    TxnOffsetCommitResponsePartition,
    TxnOffsetCommitResponseTopic,
)
from kproto.records import decode_batches
from tests.core.wire import all_api_versions
from tests.producer.sim import (
    ADD_OFFSETS,
    ADD_PARTITIONS,
    API_VERSIONS,
    END_TXN,
    FIND_COORDINATOR,
    INIT_PRODUCER_ID,
    PRODUCE,
    TXN_OFFSET_COMMIT,
    Seen,
    Sim,
)

TXN = {"transactional_id": "tx-1", "transaction_timeout": 15.0}
S = TxnStatus


def done(sim: Sim, token: int) -> Any:
    sim.run_until(lambda: sim.completed(token) is not None, limit=120)
    return sim.completed(token)


def ready(sim: Sim) -> None:
    assert done(sim, sim.producer.init_transactions(sim.now)) == ("ok", None)


def test_init_finds_the_coordinator_then_gets_an_id_with_the_timeout() -> None:
    sim = Sim(**TXN)
    assert sim.producer.txn_status() == S.UNINITIALIZED
    sim.hold_apis.add(INIT_PRODUCER_ID)
    token = sim.producer.init_transactions(sim.now)
    sim.run_until(lambda: bool(sim.held))
    assert sim.producer.txn_status() == S.INITIALIZING
    find = sim.requests(FIND_COORDINATOR)[0]
    key = find.request.coordinator_keys[0] if find.version >= 4 else find.request.key
    assert (key, find.request.key_type) == ("tx-1", 1)
    [init] = sim.held
    assert (init.request.transactional_id, init.request.transaction_timeout_ms) == ("tx-1", 15000)
    sim.release()
    assert done(sim, token) == ("ok", None)
    assert sim.producer.txn_status() == S.READY


def test_sending_needs_a_transaction() -> None:
    sim = Sim(**TXN)
    ready(sim)
    with pytest.raises(TransactionStateError, match="begin"):
        sim.send(b"x")


def test_partitions_are_added_before_their_first_batch_and_commit_ends_after_flush() -> None:
    sim = Sim(topics={"t": [1, 1, 1]}, linger=5.0, **TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    assert sim.producer.txn_status() == S.IN_TRANSACTION
    tokens = [sim.send(b"%d" % i, partition=i % 2) for i in range(4)]
    sim.hold_apis.add(PRODUCE)
    commit = sim.producer.commit_transaction(sim.now)
    sim.step()
    assert sim.producer.txn_status() == S.END_TRANSACTION | S.COMMITTING_TRANSACTION
    kinds = [s.api_key for s in sim.seen if s.api_key in (ADD_PARTITIONS, PRODUCE, END_TXN)]
    assert kinds[-1] == PRODUCE and set(kinds[:-1]) == {ADD_PARTITIONS}  # EndTxn waits
    added = set()
    for seen in sim.requests(ADD_PARTITIONS):
        assert seen.request.v3_and_below_transactional_id == "tx-1"
        added |= {(t.name, p) for t in seen.request.v3_and_below_topics for p in t.partitions}
    assert added == {("t", 0), ("t", 1)}
    produce = sim.requests(PRODUCE)[0].request
    assert produce.transactional_id == "tx-1"
    batch = decode_batches(produce.topic_data[0].partition_data[0].records).batches[0]
    assert batch.is_transactional and batch.producer_id >= 0
    sim.hold_apis.clear()
    sim.release()
    assert done(sim, commit) == ("ok", None)
    assert set(tokens) <= set(sim.delivered())
    assert sim.ended == [("tx-1", True)]
    assert sim.producer.txn_status() == S.READY


def test_abort_drops_unsent_records_and_ends_with_abort() -> None:
    sim = Sim(linger=30.0, **TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    first = sim.send(b"a", partition=0)
    flush = sim.producer.flush(sim.now)
    assert done(sim, flush) == ("ok", None)
    unsent = sim.send(b"b", partition=0)
    abort = sim.producer.abort_transaction(sim.now)
    assert done(sim, abort) == ("ok", None)
    assert first in sim.delivered()
    assert isinstance(sim.failed()[unsent], TransactionAbortedError)
    assert sim.ended == [("tx-1", False)]
    assert sim.producer.txn_status() == S.READY
    # The producer goes on with the next transaction.
    sim.producer.begin_transaction(sim.now)
    nxt = sim.send(b"c", partition=0)
    assert done(sim, sim.producer.commit_transaction(sim.now)) == ("ok", None)
    assert nxt in sim.delivered()
    assert sim.ended == [("tx-1", False), ("tx-1", True)]


def test_a_transaction_without_records_commits_without_end_txn() -> None:
    sim = Sim(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    assert done(sim, sim.producer.commit_transaction(sim.now)) == ("ok", None)
    assert sim.requests(END_TXN) == []


def _coded(cls: Any, code: int, **kw: Any) -> Any:
    return lambda seen: cls(error_code=code, **kw)


def test_concurrent_transactions_and_not_coordinator_are_retried() -> None:
    sim = Sim(brokers=(1, 2), topics={"t": [1]}, **TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    # AddPartitionsToTxn answered CONCURRENT_TRANSACTIONS twice, then fine.
    from kproto.protocol.messages.add_partitions_to_txn_response import (
        AddPartitionsToTxnPartitionResult,
        AddPartitionsToTxnTopicResult,
    )

    def concurrent(seen: Seen) -> Any:
        return protocol.AddPartitionsToTxnResponse(results_by_topic_v3_and_below=[
            AddPartitionsToTxnTopicResult(name="t", results_by_partition=[
                AddPartitionsToTxnPartitionResult(partition_index=0, partition_error_code=51)])])

    sim.script[ADD_PARTITIONS] = deque([concurrent, concurrent])
    token = sim.send(b"x", partition=0)
    # EndTxn: the coordinator moved (NOT_COORDINATOR), then it is found again on broker 2.
    sim.script[END_TXN] = deque([_coded(protocol.EndTxnResponse, 16)])
    finds = len(sim.requests(FIND_COORDINATOR))
    sim.coordinator = 2
    commit = sim.producer.commit_transaction(sim.now)
    assert done(sim, commit) == ("ok", None)
    assert token in sim.delivered()
    assert len(sim.requests(ADD_PARTITIONS)) == 3
    assert len(sim.requests(FIND_COORDINATOR)) == finds + 1
    ends = sim.requests(END_TXN)
    assert [e.node for e in ends] == [1, 2]


def test_a_failed_record_is_an_abortable_error_and_abort_recovers() -> None:
    sim = Sim(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    sim.produce_errors[("t", 0)] = deque([29])
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.failed())
    assert isinstance(sim.failed()[token], TopicAuthorizationFailedError)
    assert sim.producer.txn_status() == S.IN_ERROR | S.ABORTABLE_ERROR
    with pytest.raises(TransactionStateError, match="abort"):
        sim.producer.commit_transaction(sim.now)
    with pytest.raises(TransactionStateError):
        sim.send(b"y")
    assert done(sim, sim.producer.abort_transaction(sim.now)) == ("ok", None)
    assert sim.producer.txn_status() == S.READY
    sim.producer.begin_transaction(sim.now)
    ok = sim.send(b"z", partition=0)
    assert done(sim, sim.producer.commit_transaction(sim.now)) == ("ok", None)
    assert ok in sim.delivered()


def test_fenced_is_fatal_and_nothing_works_afterwards() -> None:
    sim = Sim(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    sim.send(b"x", partition=0)
    sim.script[END_TXN] = deque([_coded(protocol.EndTxnResponse, 90)])
    result = done(sim, sim.producer.commit_transaction(sim.now))
    assert result[0] == "error" and isinstance(result[1], ProducerFencedError)
    assert sim.producer.txn_status() == S.IN_ERROR | S.FATAL_ERROR
    for op in (sim.producer.abort_transaction, sim.producer.begin_transaction,
               sim.producer.commit_transaction):
        with pytest.raises(TransactionStateError, match="fatal"):
            op(sim.now)


def test_out_of_order_in_a_transaction_is_abortable_and_abort_bumps_the_epoch() -> None:
    sim = Sim(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    sim.produce_errors[("t", 0)] = deque([45])
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.failed())
    assert sim.producer.txn_status() == S.IN_ERROR | S.ABORTABLE_ERROR
    assert done(sim, sim.producer.abort_transaction(sim.now)) == ("ok", None)
    inits = [s.request for s in sim.requests(INIT_PRODUCER_ID)]
    assert len(inits) == 2
    assert (inits[1].producer_id, inits[1].producer_epoch) == (1001, 0)
    sim.producer.begin_transaction(sim.now)
    ok = sim.send(b"y", partition=0)
    assert done(sim, sim.producer.commit_transaction(sim.now)) == ("ok", None)
    stamp = decode_batches(sim.requests(PRODUCE)[-1].request.topic_data[0]
                           .partition_data[0].records).batches[0]
    assert (stamp.producer_epoch, stamp.base_sequence) == (1, 0)
    assert ok in sim.delivered()


def test_add_offsets_and_add_message_commit_through_the_group_coordinator() -> None:
    sim = Sim(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    sim.send(b"x", partition=0)
    t1 = sim.producer.add_offsets_to_txn({"in": {0: 10, 1: (20, "meta")}}, "grp", sim.now)
    assert done(sim, t1) == ("ok", None)
    msg = ConsumerMessage("in", 2, 41, None, b"v", (), 0, 0)
    t2 = sim.producer.add_message_to_txn(msg, "grp", None, sim.now)
    assert done(sim, t2) == ("ok", None)
    assert [s.request.group_id for s in sim.requests(ADD_OFFSETS)] == ["grp", "grp"]
    group_finds = [s for s in sim.requests(FIND_COORDINATOR) if s.request.key_type == 0]
    assert len(group_finds) == 1  # the group coordinator is remembered
    commits = sim.requests(TXN_OFFSET_COMMIT)
    assert commits[0].request.transactional_id == "tx-1"
    assert sim.committed_offsets == {("grp", "in", 0): 10, ("grp", "in", 1): 20,
                                     ("grp", "in", 2): 42}
    meta = {p.partition_index: p.committed_metadata for p in commits[0].request.topics[0].partitions}
    assert meta == {0: None, 1: "meta"}
    assert done(sim, sim.producer.commit_transaction(sim.now)) == ("ok", None)
    assert sim.ended == [("tx-1", True)]


def test_offsets_alone_make_a_transaction_that_needs_end_txn() -> None:
    sim = Sim(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    assert done(sim, sim.producer.add_offsets_to_txn({("in", 0): 5}, "g", sim.now))[0] == "ok"
    assert done(sim, sim.producer.commit_transaction(sim.now)) == ("ok", None)
    assert sim.ended == [("tx-1", True)]


def test_begin_initializes_when_needed() -> None:
    sim = Sim(**TXN)
    token = sim.producer.begin_transaction(sim.now)
    assert done(sim, token) == ("ok", None)
    assert sim.producer.txn_status() == S.IN_TRANSACTION
    assert len(sim.requests(INIT_PRODUCER_ID)) == 1


def test_an_operation_that_cannot_finish_times_out_at_max_block_and_can_resume() -> None:
    sim = Sim(max_block=2.0, **TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    sim.send(b"x", partition=0)
    sim.hold_apis.add(END_TXN)
    commit = sim.producer.commit_transaction(sim.now)
    result = done(sim, commit)
    assert result[0] == "error" and isinstance(result[1], ClientTimeoutError)
    assert sim.producer.txn_status() == S.END_TRANSACTION | S.COMMITTING_TRANSACTION
    sim.hold_apis.clear()
    sim.release()  # the late answer to the abandoned attempt changes nothing
    assert sim.producer.txn_status() == S.END_TRANSACTION | S.COMMITTING_TRANSACTION
    again = sim.producer.commit_transaction(sim.now)
    assert done(sim, again) == ("ok", None)
    assert sim.producer.txn_status() == S.READY


def test_close_aborts_an_open_transaction() -> None:
    sim = Sim(linger=30.0, **TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    unsent = sim.send(b"x", partition=0)
    token = sim.producer.close(sim.now)
    assert done(sim, token) == ("ok", None)
    assert isinstance(sim.failed()[unsent], TransactionAbortedError)


# == group metadata in TxnOffsetCommit (KIP-447) ==========================================

MEMBER = ConsumerGroupMetadata("grp", generation_id=7, member_id="m-7",
                               group_instance_id="inst-1")


class _Sim24(Sim):
    """A coordinator of Kafka 2.4: TxnOffsetCommit up to version 2 (no member fields)."""

    def _default(self, seen: Seen) -> Any:
        if seen.api_key == API_VERSIONS:
            return all_api_versions({TXN_OFFSET_COMMIT: (0, 2)})
        return super()._default(seen)


def test_txn_offset_commit_carries_the_member_from_version_3() -> None:
    sim = Sim(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    msg = ConsumerMessage("in", 1, 41, None, b"v", (), 0, 0)
    assert done(sim, sim.producer.add_message_to_txn(msg, MEMBER, "m", sim.now)) == ("ok", None)
    assert done(sim, sim.producer.add_offsets_to_txn({("in", 0): 5}, "grp", sim.now))[0] == "ok"
    first, second = sim.requests(TXN_OFFSET_COMMIT)
    assert first.version >= 3 and second.version >= 3
    req = first.request  # as decoded from the bytes the producer wrote
    assert (req.group_id, req.generation_id, req.member_id, req.group_instance_id) == (
        "grp", 7, "m-7", "inst-1")
    assert [(p.partition_index, p.committed_offset, p.committed_metadata)
            for t in req.topics for p in t.partitions] == [(1, 42, "m")]
    plain = second.request  # a bare group id is generation -1, no member: Java's String form
    assert (plain.generation_id, plain.member_id, plain.group_instance_id) == (-1, "", None)
    assert [s.request.group_id for s in sim.requests(ADD_OFFSETS)] == ["grp", "grp"]
    assert done(sim, sim.producer.commit_transaction(sim.now)) == ("ok", None)


def test_a_version_2_coordinator_takes_a_bare_group_id() -> None:
    sim = _Sim24(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    token = sim.producer.add_offsets_to_txn({("in", 0): 5}, ConsumerGroupMetadata("grp"),
                                            sim.now)
    assert done(sim, token) == ("ok", None)
    [commit] = sim.requests(TXN_OFFSET_COMMIT)
    assert commit.version == 2 and commit.request.group_id == "grp"
    assert sim.committed_offsets == {("grp", "in", 0): 5}


def test_member_fields_are_never_dropped_for_a_version_2_coordinator() -> None:
    # Sending them as version 2 would lose the fencing; like the Java client, refuse (fatal).
    sim = _Sim24(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    result = done(sim, sim.producer.add_offsets_to_txn({("in", 0): 5}, MEMBER, sim.now))
    assert result[0] == "error" and isinstance(result[1], UnsupportedVersionError)
    text = str(result[1])
    assert "generation 7" in text and "'m-7'" in text and "up to version 2" in text
    assert "version 3" in text
    assert sim.requests(TXN_OFFSET_COMMIT) == []
    assert sim.committed_offsets == {}
    assert sim.producer.txn_status() == S.IN_ERROR | S.FATAL_ERROR


def _txn_commit_error(code: int) -> Any:
    def answer(seen: Seen) -> Any:
        return protocol.TxnOffsetCommitResponse(topics=[TxnOffsetCommitResponseTopic(
            name=t.name, partitions=[TxnOffsetCommitResponsePartition(
                partition_index=p.partition_index, error_code=code) for p in t.partitions])
            for t in seen.request.topics])
    return answer


@pytest.mark.parametrize(("code", "cls"), [(22, IllegalGenerationError),
                                           (25, UnknownMemberIdError),
                                           (82, FencedInstanceIdError)])
def test_a_fenced_member_commit_is_an_abortable_error(code: int, cls: type) -> None:
    sim = Sim(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    record = sim.send(b"out", partition=0)
    sim.script[TXN_OFFSET_COMMIT] = deque([_txn_commit_error(code)])
    result = done(sim, sim.producer.add_offsets_to_txn({("in", 3): 10}, MEMBER, sim.now))
    assert result[0] == "error" and isinstance(result[1], cls)
    text = str(result[1])
    assert "in[3]" in text and "generation 7" in text and "'m-7'" in text
    assert "'inst-1'" in text and "fenced" in text and "rejoin" in text
    assert len(sim.requests(TXN_OFFSET_COMMIT)) == 1, "not retried"
    assert sim.producer.txn_status() == S.IN_ERROR | S.ABORTABLE_ERROR
    with pytest.raises(TransactionStateError, match="abort"):
        sim.producer.commit_transaction(sim.now)
    assert done(sim, sim.producer.abort_transaction(sim.now)) == ("ok", None)
    assert sim.ended == [("tx-1", False)]
    assert sim.committed_offsets == {}
    assert sim.producer.txn_status() == S.READY
    assert len(sim.requests(INIT_PRODUCER_ID)) == 1, "the epoch stays (as in the Java client)"
    assert record in sim.delivered() or record in sim.failed()
    # The producer goes on: the next transaction commits with the member's new generation.
    sim.producer.begin_transaction(sim.now)
    rejoined = ConsumerGroupMetadata("grp", 8, "m-7", "inst-1")
    assert done(sim, sim.producer.add_offsets_to_txn({("in", 3): 10}, rejoined, sim.now)) == (
        "ok", None)
    assert sim.requests(TXN_OFFSET_COMMIT)[-1].request.generation_id == 8
    assert done(sim, sim.producer.commit_transaction(sim.now)) == ("ok", None)
    assert sim.committed_offsets == {("grp", "in", 3): 10}


def test_a_timed_out_txn_offset_commit_looks_for_the_group_coordinator_again() -> None:
    sim = Sim(brokers=(1, 2), **TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    sim.script[TXN_OFFSET_COMMIT] = deque([_txn_commit_error(7)])
    group_finds = lambda: [s for s in sim.requests(FIND_COORDINATOR)  # noqa: E731
                           if s.request.key_type == 0]
    token = sim.producer.add_offsets_to_txn({("in", 0): 5}, MEMBER, sim.now)
    sim.run_until(lambda: len(sim.requests(TXN_OFFSET_COMMIT)) == 1)
    sim.coordinator = 2
    assert done(sim, token) == ("ok", None)
    assert len(group_finds()) == 2
    assert [s.node for s in sim.requests(TXN_OFFSET_COMMIT)] == [1, 2]
    assert sim.committed_offsets == {("grp", "in", 0): 5}


def test_group_must_be_an_id_or_group_metadata() -> None:
    sim = Sim(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    with pytest.raises(ConfigurationError, match="ConsumerGroupMetadata, got int 5"):
        sim.producer.add_offsets_to_txn({("in", 0): 5}, 5, sim.now)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="group_id must be a non-empty str, got ''"):
        sim.producer.add_offsets_to_txn({("in", 0): 5}, "", sim.now)
    assert sim.requests(ADD_OFFSETS) == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"group_id": "g", "generation_id": -2}, "generation_id must be an int >= -1, got -2"),
    ({"group_id": "g", "generation_id": True}, "generation_id must be an int >= -1, got True"),
    ({"group_id": "g", "member_id": None}, "member_id must be a str, got None"),
    ({"group_id": "g", "group_instance_id": ""}, "group_instance_id must be None or a non-empty"),
    ({"group_id": None}, "group_id must be a non-empty str, got None"),
])
def test_consumer_group_metadata_rejects_bad_values(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ConsumerGroupMetadata(**kwargs)


def test_consumer_group_metadata_is_a_frozen_value_exported_from_kproto() -> None:
    import dataclasses

    import kproto
    assert kproto.ConsumerGroupMetadata is ConsumerGroupMetadata
    meta = ConsumerGroupMetadata("g")
    assert (meta.generation_id, meta.member_id, meta.group_instance_id) == (-1, "", None)
    assert meta == ConsumerGroupMetadata("g", -1, "", None) and not meta.identifies_member
    assert MEMBER.identifies_member
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.generation_id = 3  # type: ignore[misc]
