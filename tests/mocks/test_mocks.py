"""The mocks on every transport: scripted sends, partitions and sessions behave as scripted,
an unexpected call raises at once, and close names every expectation left unmet."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kproto import ProducerMessage
from kproto.errors import ClientTimeoutError, ProducerError, ProducerErrors
from kproto.testing.mocks import MockError

ASYNC = ("kproto_asyncio", "kproto_trio")


def run(adapter: str, fn: Callable[[], Awaitable[Any]]) -> Any:
    if adapter == "kproto_trio":
        import trio
        return trio.run(fn)
    return asyncio.run(fn())  # type: ignore[arg-type]


def mocks(adapter: str) -> Any:
    return importlib.import_module(f"{adapter}.mocks")


# -- blocking -------------------------------------------------------------------------------

def test_threads_sync_producer_succeeds_fails_and_checks() -> None:
    m = mocks("kproto_threads")
    p = m.SyncProducer()
    boom = ValueError("boom")
    p.expect_send_message_and_succeed()
    p.expect_send_message_and_fail(boom)
    p.expect_send_message_with_check(lambda msg: msg.key == b"k")
    p.expect_send_message_with_check(lambda msg: msg.key == b"k")
    assert p.send_message(ProducerMessage("t", b"a", partition=2)) == (2, 0)
    with pytest.raises(ProducerError) as caught:
        p.send_message(ProducerMessage("t", b"b"))
    assert caught.value.error is boom
    assert p.send_message(ProducerMessage("t", b"c", key=b"k", partition=2)) == (2, 1)
    with pytest.raises(MockError, match="rejected"):
        p.send_message(ProducerMessage("t", b"d", key=b"other"))
    with pytest.raises(MockError, match="unexpected send"):
        p.send_message(ProducerMessage("t", b"e"))
    p.close()
    assert [x.value for x in p.sent] == [b"a", b"b", b"c", b"d"]


def test_threads_unmet_expectations_are_named_at_close() -> None:
    m = mocks("kproto_threads")
    p = m.SyncProducer()
    p.expect_send_message_and_succeed()
    p.expect_send_message_and_fail(RuntimeError("x"))
    with pytest.raises(MockError) as caught:
        with p:
            p.send_message(ProducerMessage("t", b"a"))
    assert "1 expectation(s) not met" in str(caught.value)
    assert "send #2: fail with RuntimeError('x')" in str(caught.value)

    c = m.Consumer()
    c.expect_consume_partition("t", 0, 5)
    c.expect_consume_partition("t", 1, 0)
    c.consume_partition("t", 0, 5)
    with pytest.raises(MockError, match=r"consume_partition\('t', 1, 0\) was never called"):
        c.close()

    g = m.ConsumerGroup("g")
    g.expect_consume(["t"])
    with pytest.raises(MockError, match=r"consume #1 of \['t'\]"):
        g.close()


def test_threads_send_messages_raises_every_failure() -> None:
    p = mocks("kproto_threads").SyncProducer()
    p.expect_send_message_and_fail(ValueError("1"))
    p.expect_send_message_and_succeed()
    p.expect_send_message_and_fail(ValueError("3"))
    with pytest.raises(ProducerErrors) as caught:
        p.send_messages([ProducerMessage("t", b"%d" % i) for i in range(3)])
    assert [str(e.error) for e in caught.value.errors] == ["1", "3"]
    p.close()


def test_threads_async_producer_results_go_to_the_streams() -> None:
    p = mocks("kproto_threads").AsyncProducer()
    p.expect_send_message_and_succeed()
    p.expect_send_message_and_fail(ValueError("no"))
    p.send(ProducerMessage("t", b"a"))
    p.send_nowait(ProducerMessage("t", b"b"))
    assert p.successes.get(1.0).value == b"a"
    assert str(p.errors.get(1.0).error) == "no"
    with pytest.raises(ClientTimeoutError):
        p.successes.get(1.0)
    with pytest.raises(MockError, match="wait forever"):
        p.errors.get()
    p.close()


def test_threads_consumer_yields_messages_and_errors() -> None:
    m = mocks("kproto_threads")
    c = m.Consumer()
    c.expect_consume_partition("t", 0, 10).yield_message(b"a", key=b"k").yield_message(
        b"b").yield_error(ValueError("bad"))
    with pytest.raises(MockError, match="unexpected consume_partition"):
        c.consume_partition("t", 1, 0)
    with pytest.raises(MockError, match="expects offset 10"):
        c.consume_partition("t", 0, 0)
    with c.consume_partition("t", 0, 10) as pc:
        first = pc.messages.get(1.0)
        assert (first.offset, first.key, first.value) == (10, b"k", b"a")
        assert pc.position() == 11
        assert [x.offset for x in pc.messages] == [11]
        assert str(pc.errors.get(1.0).error) == "bad"
    assert c.partitions("t") == [0]
    assert c.high_water_marks() == {"t": {0: 12}}
    c.close()


def test_threads_drained_on_close() -> None:
    c = mocks("kproto_threads").Consumer()
    c.expect_messages_drained_on_close()
    c.expect_consume_partition("t", 0, 0).yield_message(b"a").yield_message(b"b")
    pc = c.consume_partition("t", 0, 0)
    pc.messages.get(1.0)
    with pytest.raises(MockError, match="1 message"):
        c.close()


def test_threads_consumer_group_runs_the_handler_and_commits_marks() -> None:
    m = mocks("kproto_threads")
    g = m.ConsumerGroup("g")
    g.expect_consume(["t"]).yield_claim("t", 0, [b"a", b"b"]).yield_claim(
        "t", 1, [b"c"], offset=7).yield_error(ValueError("lost"))
    g.expect_consume().fail(RuntimeError("coordinator gone"))
    seen: list[tuple[int, int, bytes | None]] = []
    calls: list[str] = []

    class Handler:
        def setup(self, session: Any) -> None:
            calls.append(f"setup {session.claims()}")

        def cleanup(self, session: Any) -> None:
            calls.append("cleanup")

        def consume_claim(self, session: Any, claim: Any) -> None:
            for message in claim.messages:
                seen.append((message.partition, message.offset, message.value))
                session.mark_message(message)

    g.consume(["t"], Handler())
    assert calls == ["setup {'t': [0, 1]}", "cleanup"]
    assert seen == [(0, 0, b"a"), (0, 1, b"b"), (1, 7, b"c")]
    assert g.committed == {("t", 0): (2, None), ("t", 1): (8, None)}
    assert str(g.errors.get(1.0).error) == "lost"
    with pytest.raises(RuntimeError, match="coordinator gone"):
        g.consume(["t"], Handler())
    with pytest.raises(MockError, match="unexpected consume"):
        g.consume(["t"], Handler())
    g.close()


def test_threads_transactions_are_tracked() -> None:
    p = mocks("kproto_threads").SyncProducer(transactional_id="tx")
    p.expect_send_message_and_succeed()
    with p.transaction():
        p.send_message(ProducerMessage("t", b"a"))
    with pytest.raises(ValueError), p.transaction():
        raise ValueError
    assert p._script.txn_calls == ["begin", "commit", "begin", "abort"]
    with pytest.raises(MockError, match="outside a transaction"):
        p.commit_txn()
    with pytest.raises(MockError, match="without transactional_id"):
        mocks("kproto_threads").SyncProducer().begin_txn()


def test_bad_scripts_are_refused_naming_the_argument() -> None:
    m = mocks("kproto_threads")
    with pytest.raises(TypeError, match="error must be an exception"):
        m.SyncProducer().expect_send_message_and_fail("oops")
    with pytest.raises(TypeError, match="check must be callable"):
        m.SyncProducer().expect_send_message_with_check(3)
    with pytest.raises(ValueError, match="partition must be"):
        m.Consumer().expect_consume_partition("t", -1, 0)
    with pytest.raises(TypeError, match="topics must be a list"):
        m.ConsumerGroup().expect_consume("t")


# -- asyncio and trio -----------------------------------------------------------------------

@pytest.mark.parametrize("adapter", ASYNC)
def test_async_producers(adapter: str) -> None:
    m = mocks(adapter)

    async def main() -> None:
        async with m.SyncProducer() as p:
            p.expect_send_message_and_succeed()
            p.expect_send_message_and_fail(ValueError("no"))
            assert await p.send_message(ProducerMessage("t", b"a")) == (0, 0)
            with pytest.raises(ProducerError):
                await p.send_message(ProducerMessage("t", b"b"))
            with pytest.raises(MockError, match="unexpected send"):
                await p.send_message(ProducerMessage("t", b"c"))
        ap = m.AsyncProducer()
        ap.expect_send_message_and_succeed()
        ap.expect_send_message_and_succeed()
        await ap.send(ProducerMessage("t", b"x"))
        with pytest.raises(MockError, match="send #2: succeed"):
            await ap.close()
        assert (await ap.successes.get()).value == b"x"

    run(adapter, main)


@pytest.mark.parametrize("adapter", ASYNC)
def test_async_consumer(adapter: str) -> None:
    m = mocks(adapter)

    async def main() -> None:
        c = m.Consumer()
        c.expect_consume_partition("t", 0, 0).yield_message(b"a").yield_message(
            b"b").yield_error(ValueError("bad"))
        async with await c.consume_partition("t", 0, 0) as pc:
            if adapter == "kproto_trio":
                assert (await pc.messages.receive()).value == b"a"
            else:
                assert (await pc.messages.get()).value == b"a"
            assert [x.value async for x in pc.messages] == [b"b"]
            assert pc.position() == 2
            assert len(pc.errors) == 1
        c.expect_consume_partition("t", 1, 0)
        with pytest.raises(MockError, match=r"consume_partition\('t', 1, 0\)"):
            await c.close()

    run(adapter, main)


@pytest.mark.parametrize("adapter", ASYNC)
def test_async_consumer_group(adapter: str) -> None:
    m = mocks(adapter)

    class Handler:
        async def setup(self, session: Any) -> None:
            pass

        async def cleanup(self, session: Any) -> None:
            pass

        async def consume_claim(self, session: Any, claim: Any) -> None:
            async for message in claim.messages:
                session.mark_message(message)
            await session.commit()

    async def main() -> None:
        async with m.ConsumerGroup("g") as g:
            g.expect_consume(["a", "b"]).yield_claim("a", 0, [b"1", b"2", b"3"])
            await g.consume(["b", "a"], Handler())
            assert g.committed == {("a", 0): (3, None)}
            g.expect_consume(["a"]).fail(ValueError("fenced"))
            with pytest.raises(ValueError, match="fenced"):
                await g.consume(["a"], Handler())

    run(adapter, main)
