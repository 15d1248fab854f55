"""A small program on the blocking transport: it must type-check cleanly (mypy --strict,
pyright), and the types it asserts must be exactly what kproto declares."""

from __future__ import annotations

from typing_extensions import assert_type

import kproto_threads as kp
from kproto import OFFSET_OLDEST, ConsumerMessage, ProducerMessage
from kproto.admin import TopicMetadata
from kproto.engine.cluster import BrokerInfo, Metadata
from kproto.errors import KafkaError, ProducerError

BOOT = "localhost:9092"


class Printer(kp.GroupHandler):
    """Only consume_claim is required."""

    def consume_claim(self, session: kp.Session, claim: kp.Claim) -> None:
        for message in claim.messages:
            assert_type(message, ConsumerMessage)
            session.mark_message(message)


def main() -> None:
    with kp.Client(BOOT, client_id="typed", request_timeout=5.0) as client:
        assert_type(client.metadata(), Metadata)
        assert_type(client.leader("t", 0), BrokerInfo)
        assert_type(client.partitions("t"), list[int])
    with kp.SyncProducer(BOOT, acks=-1, compression="zstd", linger=0.01) as producer:
        assert_type(producer.send_message(ProducerMessage("t", value=b"v")), tuple[int, int])
    with kp.AsyncProducer(BOOT, return_successes=True) as async_producer:
        async_producer.send(ProducerMessage("t", value=b"v"))
        assert_type(async_producer.successes.get(1.0), ProducerMessage)
        assert_type(async_producer.errors.get(1.0), ProducerError)
    with kp.Consumer(BOOT, isolation_level="read_committed") as consumer:
        pc = consumer.consume_partition("t", 0, OFFSET_OLDEST)
        for message in pc.messages:
            assert_type(message, ConsumerMessage)
        assert_type(pc.seek(3), int)
        assert_type(pc.lag(), int)
        assert_type(pc.position(), int)
    with kp.GroupConsumer(BOOT, group_id="g", enable_auto_commit=False) as members:
        members.subscribe(["t"])
        assert_type(members.getone(1.0), ConsumerMessage)
        members.commit()
    with kp.SyncProducer(BOOT, transactional_id="tx") as txn_producer, \
            txn_producer.transaction() as inside:
        assert_type(inside, kp.SyncProducer)
    with kp.ConsumerGroup(BOOT, group_id="g", assignors=("sticky",)) as group:
        group.consume(["t"], Printer())
    with kp.ClusterAdmin(BOOT) as admin:
        assert_type(admin.describe_topics(["t"])["t"], TopicMetadata)
    with kp.OffsetManager(BOOT, group_id="g") as om:
        pom = om.manage_partition("t", 0)
        assert_type(pom.next_offset(), tuple[int, str])
    try:
        pass
    except KafkaError as exc:
        assert_type(exc.retriable, bool)
