"""``with producer.transaction():`` / ``async with producer.transaction():`` on every
transport, against real Kafka 4.x and 3.9: a block that ends normally commits (read_committed
readers see its records), one that raises aborts (they never do) and the exception goes on,
and an abort that fails too is chained to the original instead of hiding it."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import pytest

from kproto.message_types import ProducerMessage
from kproto.producer import TxnStatus
from tests.conformance.drivers import TRANSPORTS, open_remote
from tests.producer.helpers import in_loop, read_partition

each = pytest.mark.parametrize("transport", TRANSPORTS)
_names = itertools.count()


class Boom(Exception):
    pass


@pytest.fixture(params=["kafka_broker", "kafka_broker_39"], ids=["newest", "3.9"])
def broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def unique(what: str, transport: str) -> str:
    return f"txnblock-{what}-{transport}-{int(time.time() * 1000)}-{next(_names)}"


def block(transport: str, p: Any, values: list[bytes], topic: str, fail: Exception | None,
          sabotage: bool = False) -> BaseException | None:
    """Run one transaction block sending ``values`` (then raising ``fail``) where the
    producer lives; the exception that left the block, or None. ``sabotage`` makes the
    abort fail too (the producer is closed inside the block)."""
    msgs = [ProducerMessage(topic, v, partition=0) for v in values]
    if transport == "threads":
        try:
            with p.transaction() as inside:
                assert inside is p
                for m in msgs:
                    p.send_message(m)
                if sabotage:
                    p.close(drop=True)
                if fail is not None:
                    raise fail
        except Exception as exc:
            return exc
        return None

    async def run(obj: Any) -> BaseException | None:
        try:
            async with obj.transaction() as inside:
                assert inside is obj
                for m in msgs:
                    await obj.send_message(m)
                if sabotage:
                    await obj.close(drop=True)
                if fail is not None:
                    raise fail
        except Exception as exc:
            return exc
        return None

    return in_loop(transport, p, run)  # type: ignore[no-any-return]


@each
def test_a_block_commits_on_exit_and_aborts_on_an_exception(transport: str,
                                                            broker: Any) -> None:
    topic = unique("commit", transport)
    broker.create_topic(topic, partitions=1, replication_factor=1)
    options = dict(transactional_id=f"txb-{uuid.uuid4().hex[:8]}", acks=-1)
    with open_remote(transport, lambda mod: mod.SyncProducer(broker.bootstrap,
                                                             **options)) as p:
        assert block(transport, p, [b"kept-1", b"kept-2"], topic, None) is None
        assert p.txn_status() & TxnStatus.READY
        err = Boom("the block failed")
        raised = block(transport, p, [b"dropped"], topic, err)
        assert raised is err and raised.__cause__ is None  # the abort worked: nothing chained
        assert p.txn_status() & TxnStatus.READY
        assert block(transport, p, [b"kept-3"], topic, None) is None
    committed = [r.value for r in read_partition(broker.bootstrap, topic, 0, committed=True)]
    assert committed == [b"kept-1", b"kept-2", b"kept-3"]
    everything = [r.value for r in read_partition(broker.bootstrap, topic, 0)]
    assert b"dropped" in everything  # written, then aborted


@each
def test_a_failed_abort_is_chained_to_the_original_error(transport: str,
                                                        kafka_broker: Any) -> None:
    topic = unique("chain", transport)
    kafka_broker.create_topic(topic, partitions=1, replication_factor=1)
    options = dict(transactional_id=f"txb-{uuid.uuid4().hex[:8]}", acks=-1)
    with open_remote(transport, lambda mod: mod.SyncProducer(kafka_broker.bootstrap,
                                                             **options)) as p:
        err = Boom("the original")
        raised = block(transport, p, [b"lost"], topic, err, sabotage=True)
    assert raised is err
    assert raised.__cause__ is not None and not isinstance(raised.__cause__, Boom)
    notes = getattr(raised, "__notes__", ["abort_txn failed as well"])  # (3.11+)
    assert any("abort_txn failed as well" in note for note in notes)
    assert [r.value for r in read_partition(kafka_broker.bootstrap, topic, 0, committed=True,
                                            settle=False)] == []  # (left open: no abort)


@each
def test_a_block_on_a_producer_without_transactional_id_is_refused(transport: str,
                                                                  kafka_broker: Any) -> None:
    topic = unique("plain", transport)
    with open_remote(transport, lambda mod: mod.SyncProducer(kafka_broker.bootstrap)) as p:
        raised = block(transport, p, [b"x"], topic, None)
    assert raised is not None and "transactional_id" in str(raised)
