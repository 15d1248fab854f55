"""Consume, transform, produce -- exactly once: python transform_asyncio.py BOOT IN OUT GROUP N"""
import asyncio
import sys

from kproto import ProducerMessage
from kproto_asyncio import GroupConsumer, SyncProducer


async def main(boot: str, src: str, dst: str, group: str, count: int) -> None:
    async with GroupConsumer(boot, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest",
                             isolation_level="read_committed") as consumer, \
            SyncProducer(boot, transactional_id=f"{group}-tx", acks=-1) as producer:
        consumer.subscribe([src])
        done = 0
        while done < count:
            batch = await consumer.getmany(max_records=100, timeout=1.0)
            if not batch:
                continue
            async with producer.transaction():  # commits, or aborts if the block raises
                for messages in batch.values():
                    for m in messages:
                        await producer.send_message(ProducerMessage(dst, m.value.upper()))
                offsets = {tp: ms[-1].offset + 1 for tp, ms in batch.items()}
                await producer.add_offsets_to_txn(offsets, consumer.group_metadata())
            done += sum(map(len, batch.values()))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5], int(sys.argv[5])))
