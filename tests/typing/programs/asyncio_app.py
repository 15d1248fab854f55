"""A small program on the asyncio transport (see threads_app.py)."""

from __future__ import annotations

import asyncio

from typing_extensions import assert_type

import kproto_asyncio as kp
from kproto import OFFSET_OLDEST, ConsumerMessage, ProducerMessage
from kproto.admin import TopicMetadata
from kproto.engine.cluster import BrokerInfo, Metadata
from kproto.errors import ProducerError

BOOT = "localhost:9092"


class Printer(kp.GroupHandler):
    async def consume_claim(self, session: kp.Session, claim: kp.Claim) -> None:
        async for message in claim.messages:
            assert_type(message, ConsumerMessage)
            session.mark_message(message)


async def main() -> None:
    async with kp.Client(BOOT, client_id="typed") as client:
        assert_type(await client.metadata(), Metadata)
        assert_type(await client.leader("t", 0), BrokerInfo)
    async with kp.SyncProducer(BOOT, acks=1, idempotent=False) as producer:
        assert_type(await producer.send_message(ProducerMessage("t", value=b"v")),
                    tuple[int, int])
    async with kp.AsyncProducer(BOOT, return_successes=True) as async_producer:
        await async_producer.send(ProducerMessage("t", value=b"v"))
        assert_type(await async_producer.successes.get(), ProducerMessage)
        assert_type(await async_producer.errors.get(), ProducerError)
    async with kp.Consumer(BOOT) as consumer:
        pc = await consumer.consume_partition("t", 0, OFFSET_OLDEST)
        async for message in pc.messages:
            assert_type(message, ConsumerMessage)
        assert_type(await pc.seek(3), int)
        assert_type(await pc.lag(), int)
    async with kp.GroupConsumer(BOOT, group_id="g") as members:
        members.subscribe(["t"])
        assert_type(await members.getone(), ConsumerMessage)
    async with kp.SyncProducer(BOOT, transactional_id="tx") as txn_producer, \
            txn_producer.transaction() as inside:
        assert_type(inside, kp.SyncProducer)
    async with kp.ConsumerGroup(BOOT, group_id="g") as group:
        await group.consume(["t"], Printer())
    async with kp.ClusterAdmin(BOOT) as admin:
        assert_type((await admin.describe_topics(["t"]))["t"], TopicMetadata)
    async with kp.OffsetManager(BOOT, group_id="g") as om:
        pom = await om.manage_partition("t", 0)
        assert_type(pom.next_offset(), tuple[int, str])


asyncio.run(main())
