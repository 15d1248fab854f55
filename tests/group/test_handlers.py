"""Handlers for ConsumerGroup.consume: only consume_claim is required (the GroupHandler base
classes give no-op setup and cleanup), and a handler consume cannot run is refused by name
before the group is joined. Against the fake cluster in-process, on every transport."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import trio

import kproto_asyncio
import kproto_threads
import kproto_trio
from kproto import ConsumerMessage, ProducerMessage
from kproto.errors import UsageError
from kproto.testing import FakeCluster


class NoClaims(kproto_threads.GroupHandler):
    """Subclasses the base but never writes consume_claim."""


class NotCallable:
    consume_claim = "not a method"


def group_ids(cluster: FakeCluster) -> set[str]:
    return set(cluster.groups.groups)


@pytest.mark.parametrize("handler", [object(), NoClaims(), NotCallable()],
                         ids=["object", "base-only", "not-callable"])
def test_a_handler_consume_cannot_run_is_refused_before_joining(handler: Any) -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    with kproto_threads.ConsumerGroup(cluster.bootstrap, group_id="g") as group:
        with pytest.raises(UsageError, match="consume_claim"):
            group.consume(["t"], handler)
    assert group_ids(cluster) == set()  # never joined


def produce(cluster: FakeCluster) -> None:
    with kproto_threads.SyncProducer(cluster.bootstrap) as producer:
        producer.send_message(ProducerMessage("t", b"one"))


def test_threads_a_handler_of_one_method() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    produce(cluster)
    seen: list[ConsumerMessage] = []

    class OneMethod(kproto_threads.GroupHandler):
        def consume_claim(self, session: kproto_threads.Session,
                          claim: kproto_threads.Claim) -> None:
            seen.append(claim.messages.get(10.0))
            session.mark_message(seen[-1])  # returning ends the session: its only claim

    options: dict[str, Any] = {"group_id": "g", "auto_offset_reset": "earliest"}
    with kproto_threads.ConsumerGroup(cluster.bootstrap, **options) as group:
        group.consume(["t"], OneMethod())
    assert [m.value for m in seen] == [b"one"] and "g" in group_ids(cluster)


def test_asyncio_a_handler_of_one_method() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    produce(cluster)
    seen: list[ConsumerMessage] = []

    class OneMethod(kproto_asyncio.GroupHandler):
        async def consume_claim(self, session: kproto_asyncio.Session,
                                claim: kproto_asyncio.Claim) -> None:
            seen.append(await claim.messages.get())

    async def main() -> None:
        async with kproto_asyncio.ConsumerGroup(cluster.bootstrap, group_id="g",
                                                auto_offset_reset="earliest") as group:
            await group.consume(["t"], OneMethod())  # ends when its only claim returns
    asyncio.run(asyncio.wait_for(main(), 30))
    assert [m.value for m in seen] == [b"one"]


def test_trio_a_handler_of_one_method() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    produce(cluster)
    seen: list[ConsumerMessage] = []

    class OneMethod(kproto_trio.GroupHandler):
        async def consume_claim(self, session: kproto_trio.Session,
                                claim: kproto_trio.Claim) -> None:
            seen.append(await claim.messages.receive())

    async def main() -> None:
        with trio.fail_after(30):
            async with kproto_trio.ConsumerGroup(cluster.bootstrap, group_id="g",
                                                 auto_offset_reset="earliest") as group:
                await group.consume(["t"], OneMethod())
    trio.run(main)
    assert [m.value for m in seen] == [b"one"]
