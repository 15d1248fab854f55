"""An object dropped without close() that still holds records or connections says what was
lost with a ResourceWarning, on every transport; a closed one says nothing.

A trio object can only hold connections of its own inside ``async with`` (whose exit closes
it), so on trio the case that can arise is a producer on a shared client dropped with
records queued.
"""

from __future__ import annotations

import asyncio
import gc
import re
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import trio

from kproto.message_types import ProducerMessage
from tests.conformance.drivers import adapter

RECORDS = 100
LOST_RECORDS = rf"AsyncProducer dropped without close\(\): {RECORDS} records unsettled"
OPEN_CONNECTION = r"dropped without close\(\): .*\d+ open broker connections?"


def topic_name() -> str:
    return f"rw-{uuid.uuid4().hex[:8]}"


def dropped_warnings(drop: Callable[[], None]) -> list[str]:
    """ResourceWarnings raised while ``drop`` runs and garbage is collected."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drop()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


# -- threads ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["AsyncProducer", "SyncProducer", "Consumer",
                                  "ConsumerGroup", "Client", "ClusterAdmin"])
def test_threads_objects_dropped_open_warn(kind: str, kafka_broker: Any) -> None:
    mod = adapter("threads")
    topic = topic_name()
    loops: list[Any] = []

    def drop() -> None:
        options: dict[str, Any] = {"group_id": topic} if kind == "ConsumerGroup" else {}
        if kind == "AsyncProducer":
            options["linger"] = 10.0
        obj = getattr(mod, kind)(kafka_broker.bootstrap, **options)
        client = obj if kind == "Client" else obj._client
        loops.append(client._loop)
        if kind == "AsyncProducer":
            for i in range(RECORDS):
                obj.send(ProducerMessage(topic, value=b"%d" % i))
        else:
            client.metadata()  # a connection is open

    try:
        found = dropped_warnings(drop)
    finally:
        for loop in loops:
            loop.close()
    expected = LOST_RECORDS if kind == "AsyncProducer" else f"{kind} {OPEN_CONNECTION}"
    assert any(re.search(expected, w) for w in found), found
    assert len(found) == 1, f"one warning per dropped object: {found}"


@pytest.mark.parametrize("kind", ["AsyncProducer", "Consumer", "Client", "ClusterAdmin"])
def test_threads_objects_closed_do_not_warn(kind: str, kafka_broker: Any) -> None:
    mod = adapter("threads")

    def drop() -> None:
        obj = getattr(mod, kind)(kafka_broker.bootstrap)
        (obj if kind == "Client" else obj._client).metadata()
        obj.close()

    assert dropped_warnings(drop) == []


# -- asyncio ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["AsyncProducer", "SyncProducer", "Consumer",
                                  "ConsumerGroup", "Client", "ClusterAdmin"])
def test_asyncio_objects_dropped_open_warn(kind: str, kafka_broker: Any) -> None:
    mod = adapter("asyncio")
    topic = topic_name()
    found: list[str] = []

    async def main() -> None:
        loops: list[Any] = []

        async def use() -> None:
            options: dict[str, Any] = {"group_id": topic} if kind == "ConsumerGroup" else {}
            if kind == "AsyncProducer":
                options["linger"] = 10.0
            obj = getattr(mod, kind)(kafka_broker.bootstrap, **options)
            client = obj if kind == "Client" else obj._client
            if kind == "ConsumerGroup":
                await obj.__aenter__()  # entered, never exited
            if kind == "AsyncProducer":
                for i in range(RECORDS):
                    await obj.send(ProducerMessage(topic, value=b"%d" % i))
            else:
                await client.metadata()
            loops.append(client._loop)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await use()
            gc.collect()
        found.extend(str(w.message) for w in caught if issubclass(w.category, ResourceWarning))
        for loop in loops:
            await loop.close()

    asyncio.run(main())
    expected = LOST_RECORDS if kind == "AsyncProducer" else f"{kind} {OPEN_CONNECTION}"
    assert any(re.search(expected, w) for w in found), found
    assert len(found) == 1, f"one warning per dropped object: {found}"


@pytest.mark.parametrize("kind", ["AsyncProducer", "Consumer", "Client", "ClusterAdmin"])
def test_asyncio_objects_closed_do_not_warn(kind: str, kafka_broker: Any) -> None:
    mod = adapter("asyncio")
    found: list[str] = []

    async def main() -> None:
        async def use() -> None:
            obj = getattr(mod, kind)(kafka_broker.bootstrap)
            await (obj if kind == "Client" else obj._client).metadata()
            await obj.close()

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await use()
            gc.collect()
        found.extend(str(w.message) for w in caught if issubclass(w.category, ResourceWarning))

    asyncio.run(main())
    assert found == []


# -- trio ------------------------------------------------------------------------------------

@pytest.mark.parametrize("closed", [False, True])
def test_trio_producer_dropped_with_records_warns(closed: bool, kafka_broker: Any) -> None:
    mod = adapter("trio")
    topic = topic_name()
    found: list[str] = []

    async def main() -> None:
        async with mod.Client(kafka_broker.bootstrap) as client:
            async def use() -> None:
                producer = mod.AsyncProducer(client=client, linger=10.0)
                for i in range(RECORDS):
                    await producer.send(ProducerMessage(topic, value=b"%d" % i))
                if closed:
                    await producer.close(drop=True)

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                await use()
                gc.collect()
            found.extend(str(w.message) for w in caught
                         if issubclass(w.category, ResourceWarning))

    trio.run(main)
    if closed:
        assert found == []
    else:
        assert len(found) == 1 and re.search(LOST_RECORDS, found[0])
