"""Exactly-once across a consumer group (KIP-447) against a real broker, on every transport.

Two members of one group run a consume-transform-produce loop: for each input record, a
transaction holds its output record and its input offset, committed with the member's
``session.group_metadata()``. One member stalls on a record (it keeps the record and the
group metadata of its generation) until a second member's arrival rebalances the group;
the record is then processed again, in the new generation, by whichever member owns its
partition now. The stalled work, finished late with the old generation (a zombie), is
rejected by the group coordinator: its transaction must be aborted, none of its offsets
stay committed and read_committed readers never see its output.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from typing import Any

import pytest

from kproto.errors import ClosedError, FencedInstanceIdError, IllegalGenerationError
from kproto.group.metadata import ConsumerGroupMetadata
from kproto.message_types import ConsumerMessage, ProducerMessage
from kproto.producer import TransactionStateError, TxnStatus
from tests.conformance.drivers import TRANSPORTS, open_remote
from tests.group.raw import committed, produce
from tests.producer.helpers import read_partition

each = pytest.mark.parametrize("transport", TRANSPORTS)
_names = itertools.count()

WAIT = 60.0
GROUP = dict(session_timeout=6.0, heartbeat_interval=0.5, rebalance_timeout=10.0,
             auto_offset_reset="earliest", isolation_level="read_committed",
             metadata_max_age=5.0)


class Shared:
    """What the members' handlers report to the test (written from their threads)."""

    def __init__(self, out_topic: str) -> None:
        self.out_topic = out_topic
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.processed: list[tuple[str, int, int, int]] = []
        """(member, generation, partition, offset) of each input committed with its output."""
        self.stall: tuple[str, int, int] | None = None
        """(member, partition, offset): that member keeps this record instead of processing."""
        self.stashed: tuple[ConsumerMessage, ConsumerGroupMetadata] | None = None
        self.metadata: dict[str, ConsumerGroupMetadata] = {}
        """Each member's group metadata of its last commit."""

    def take_stall(self, name: str, message: ConsumerMessage) -> bool:
        with self.lock:
            if self.stall != (name, message.partition, message.offset):
                return False
            self.stall = None
            return True

    def stash(self, message: ConsumerMessage, meta: ConsumerGroupMetadata) -> None:
        with self.changed:
            self.stashed = (message, meta)
            self.changed.notify_all()

    def done(self, name: str, meta: ConsumerGroupMetadata, message: ConsumerMessage) -> None:
        with self.changed:
            self.processed.append((name, meta.generation_id, message.partition, message.offset))
            self.metadata[name] = meta
            self.changed.notify_all()

    def wait(self, what: str, predicate: Any) -> None:
        deadline = time.monotonic() + WAIT
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                assert left > 0, f"timed out waiting for {what}; processed {self.processed}"
                self.changed.wait(left)

    def output(self, name: str, meta: ConsumerGroupMetadata, message: ConsumerMessage) -> Any:
        value = f"{name}:g{meta.generation_id}:{message.partition}:{message.offset}"
        return ProducerMessage(self.out_topic, value.encode(), partition=0)


def blocking_handler(name: str, shared: Shared, producer: Any, lock: Any) -> Any:
    class Handler:
        def setup(self, session: Any) -> None:
            pass

        def cleanup(self, session: Any) -> None:
            pass

        def consume_claim(self, session: Any, claim: Any) -> None:
            for message in claim.messages:
                meta = session.group_metadata()
                if shared.take_stall(name, message):
                    shared.stash(message, meta)
                    assert session.stopped.wait(WAIT), "no rebalance came"
                    return
                with lock:  # the member's claims share its producer: one transaction at a time
                    producer.begin_txn()
                    producer.send_message(shared.output(name, meta, message))
                    producer.add_message_to_txn(message, meta)
                    producer.commit_txn()
                shared.done(name, meta, message)
    return Handler()


def async_handler(name: str, shared: Shared, producer: Any, lock: Any, transport: str) -> Any:
    async def until_stopped(session: Any) -> None:
        if transport == "asyncio":
            import asyncio
            await asyncio.wait_for(session.stopped.wait(), WAIT)
        else:
            import trio
            with trio.fail_after(WAIT):
                await session.stopped.wait()

    class Handler:
        async def setup(self, session: Any) -> None:
            pass

        async def cleanup(self, session: Any) -> None:
            pass

        async def consume_claim(self, session: Any, claim: Any) -> None:
            async for message in claim.messages:
                meta = session.group_metadata()
                if shared.take_stall(name, message):
                    shared.stash(message, meta)
                    await until_stopped(session)
                    return
                async with lock:  # one transaction at a time on the member's producer
                    await producer.begin_txn()
                    await producer.send_message(shared.output(name, meta, message))
                    await producer.add_message_to_txn(message, meta)
                    await producer.commit_txn()
                shared.done(name, meta, message)
    return Handler()


class Member:
    """A consumer group and its transactional producer, living in one event loop."""

    def __init__(self, mod: Any, transport: str, bootstrap: str, name: str, group: str,
                 shared: Shared, **options: Any) -> None:
        self.transport = transport
        self.shared = shared
        self.group = mod.ConsumerGroup(bootstrap, group_id=group, **GROUP, **options)
        self.producer = mod.SyncProducer(bootstrap, transactional_id=f"tx-{group}-{name}",
                                         transaction_timeout=30.0)
        if transport == "threads":
            self.lock: Any = threading.Lock()
            self.handler = blocking_handler(name, shared, self.producer, self.lock)
        else:
            if transport == "asyncio":
                import asyncio
                self.lock = asyncio.Lock()
            else:
                import trio
                self.lock = trio.Lock()
            self.handler = async_handler(name, shared, self.producer, self.lock, transport)
        self._stack: Any = None

    def __enter__(self) -> Member:
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(self.group)
        self._stack.enter_context(self.producer)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    async def __aenter__(self) -> Member:
        self._stack = contextlib.AsyncExitStack()
        await self._stack.enter_async_context(self.group)
        await self._stack.enter_async_context(self.producer)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._stack.aclose()

    def consume(self, topics: list[str]) -> Any:
        return self.group.consume(topics, self.handler)

    def close_group(self) -> Any:
        return self.group.close()

    def txn_status(self) -> TxnStatus:
        return self.producer.txn_status()  # type: ignore[no-any-return]

    def zombie(self, message: ConsumerMessage, meta: ConsumerGroupMetadata,
               offset: int) -> Any:
        """Finish the stalled work late: output, then the input offset with ``meta``.
        Returns (what add_offsets_to_txn raised, what commit_txn raised)."""
        out = ProducerMessage(self.shared.out_topic, b"zombie", partition=0)
        offsets = {(message.topic, message.partition): offset}
        p = self.producer
        if self.transport == "threads":
            with self.lock:
                p.begin_txn()
                p.send_message(out)
                errors: list[BaseException | None] = []
                for step in (lambda: p.add_offsets_to_txn(offsets, meta), p.commit_txn):
                    try:
                        step()
                        errors.append(None)
                    except Exception as exc:
                        errors.append(exc)
                p.abort_txn()
                return errors

        async def run() -> list[BaseException | None]:
            async with self.lock:
                await p.begin_txn()
                await p.send_message(out)
                errors: list[BaseException | None] = []
                for step in (lambda: p.add_offsets_to_txn(offsets, meta), p.commit_txn):
                    try:
                        await step()
                        errors.append(None)
                    except Exception as exc:
                        errors.append(exc)
                await p.abort_txn()
                return errors
        return run()


class Runner:
    """Calls ``consume`` again and again on a test thread until stopped."""

    def __init__(self, remote: Any, topic: str) -> None:
        self.remote = remote
        self.topic = topic
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="test-eos-member", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.remote.consume([self.topic])
            except ClosedError:
                return
            except BaseException as exc:
                self.errors.append(exc)
                if self._stop.is_set():
                    return
                self._stop.wait(0.2)  # a failed session: the application tries again soon

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(ClosedError):
            self.remote.close_group()
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the member did not stop"


@contextlib.contextmanager
def running(transport: str, bootstrap: str, name: str, group: str, shared: Shared,
            topic: str, **options: Any) -> Any:
    with open_remote(transport, lambda mod: Member(mod, transport, bootstrap, name, group,
                                                   shared, **options)) as remote:
        runner = Runner(remote, topic)
        try:
            yield remote, runner
        finally:
            runner.stop()


def settled(what: str, read: Any, want: Any) -> None:
    """Wait (bounded) until ``read()`` gives ``want``: the coordinators write a committed
    transaction's offsets after EndTxn has been answered."""
    deadline = time.monotonic() + WAIT
    while (got := read()) != want:
        assert time.monotonic() < deadline, f"{what}: {got!r}, expected {want!r}"
        time.sleep(0.1)  # ask the broker again


def committed_output(boot: str, topic: str) -> list[bytes]:
    return [r.value for r in read_partition(boot, topic, 0, committed=True)
            if r.value is not None]


@each
@pytest.mark.parametrize("kafka", ["kafka_broker", "kafka_broker_39"])
def test_a_zombie_members_transactional_commit_is_rejected_after_a_rebalance(
        transport: str, kafka: str, request: pytest.FixtureRequest) -> None:
    kafka_broker = request.getfixturevalue(kafka)
    n = next(_names)
    topic_in, topic_out = f"eos-in-{transport}-{n}", f"eos-out-{transport}-{n}"
    group = f"eos-{transport}-{n}"
    boot = kafka_broker.bootstrap
    kafka_broker.create_topic(topic_in, partitions=2)
    kafka_broker.create_topic(topic_out, partitions=1)
    for p in range(2):
        produce(boot, topic_in, p, [b"in-%d-%d" % (p, i) for i in range(4)])
    shared = Shared(topic_out)
    shared.stall = ("a", 0, 2)
    every = {(p, o) for p in range(2) for o in range(4)}

    def processed() -> set[tuple[int, int]]:
        return {(p, o) for _m, _g, p, o in shared.processed}

    with running(transport, boot, "a", group, shared, topic_in) as (a, a_runner):
        # Alone, "a" processes everything but the record it stalls on.
        shared.wait("the stall", lambda: shared.stashed is not None
                    and processed() == every - {(0, 2), (0, 3)})
        assert shared.stashed is not None
        stalled, stale = shared.stashed
        assert (stalled.partition, stalled.offset) == (0, 2)
        assert stale.group_id == group and stale.generation_id >= 1 and stale.member_id
        with running(transport, boot, "b", group, shared, topic_in) as (_b, b_runner):
            # "b" joins: the rebalance ends the stalled session; the record is processed
            # in the new generation by whoever owns partition 0 now.
            shared.wait("the new generation", lambda: processed() == every)
            [(owner, generation, _p, _o)] = [e for e in shared.processed if e[2:] == (0, 2)]
            assert generation > stale.generation_id
            offsets = lambda: committed(boot, group, topic_in, 2)  # noqa: E731
            settled("offsets of the new generation", offsets, {0: 4, 1: 4})
            # The stalled work finishes late with its old generation: rejected.
            add_error, commit_error = a.zombie(stalled, stale, stalled.offset + 1)
            assert isinstance(add_error, IllegalGenerationError), add_error
            text = str(add_error)
            assert f"generation {stale.generation_id}" in text and "fenced" in text
            assert stale.member_id in text
            assert isinstance(commit_error, TransactionStateError), commit_error
            assert a.txn_status() == TxnStatus.READY, "aborted, ready for the next one"
            assert offsets() == {0: 4, 1: 4}
            # The group goes on: a new record is processed and committed by its owner,
            # and the zombie's producer works for its member in the current generation.
            produce(boot, topic_in, 0, [b"in-0-4"])
            produce(boot, topic_in, 1, [b"in-1-4"])
            shared.wait("the records after the zombie",
                        lambda: processed() == every | {(0, 4), (1, 4)})
            settled("offsets after the zombie", offsets, {0: 5, 1: 5})
            assert not b_runner.errors, b_runner.errors
        assert not a_runner.errors, a_runner.errors
    assert owner in ("a", "b")
    assert sorted((p, o) for _m, _g, p, o in shared.processed) == sorted(
        every | {(0, 4), (1, 4)}), "each input processed exactly once"
    want = sorted(f"{p}:{o}" for p, o in every | {(0, 4), (1, 4)})
    assert sorted(v.decode().split(":", 2)[2] for v in committed_output(boot, topic_out)) \
        == want  # (committed_output waits for the markers written after EndTxn)
    assert b"zombie" not in committed_output(boot, topic_out)
    everything = [r.value for r in read_partition(boot, topic_out, 0)]
    assert b"zombie" in everything, "the zombie's output was written, then aborted"


@each
@pytest.mark.parametrize("kafka", ["kafka_broker", "kafka_broker_39"])
def test_a_static_member_replaced_by_its_successor_is_fenced_by_instance_id(
        transport: str, kafka: str, request: pytest.FixtureRequest) -> None:
    kafka_broker = request.getfixturevalue(kafka)
    n = next(_names)
    topic_in, topic_out = f"eos-static-in-{transport}-{n}", f"eos-static-out-{transport}-{n}"
    group = f"eos-static-{transport}-{n}"
    boot = kafka_broker.bootstrap
    kafka_broker.create_topic(topic_in, partitions=1)
    kafka_broker.create_topic(topic_out, partitions=1)
    produce(boot, topic_in, 0, [b"in-0-%d" % i for i in range(3)])
    shared = Shared(topic_out)

    def processed() -> list[tuple[int, int]]:
        return [(p, o) for _m, _g, p, o in shared.processed]

    with running(transport, boot, "first", group, shared, topic_in,
                 group_instance_id="box-1"):
        shared.wait("the first run", lambda: processed() == [(0, 0), (0, 1), (0, 2)])
    stale = shared.metadata["first"]
    assert stale.group_instance_id == "box-1" and stale.member_id
    # Closed without leaving (a static member); its successor takes the instance id over.
    with running(transport, boot, "next", group, shared, topic_in, group_instance_id="box-1"):
        produce(boot, topic_in, 0, [b"in-0-3"])
        shared.wait("the successor", lambda: processed()[-1:] == [(0, 3)])
        assert shared.metadata["next"].member_id != stale.member_id
        offsets = lambda: committed(boot, group, topic_in, 1)  # noqa: E731
        settled("the successor's offsets", offsets, {0: 4})
        # The first incarnation's late work is fenced by the instance id.
        with open_remote(transport, lambda mod: mod.SyncProducer(
                boot, transactional_id=f"tx-{group}-first")) as zombie:
            zombie.begin_txn()
            zombie.send_message(ProducerMessage(topic_out, b"zombie", partition=0))
            with pytest.raises(FencedInstanceIdError, match="fenced") as fenced:
                zombie.add_offsets_to_txn({(topic_in, 0): 1}, stale)
            assert "'box-1'" in str(fenced.value) and stale.member_id in str(fenced.value)
            with pytest.raises(TransactionStateError, match="must be aborted"):
                zombie.commit_txn()
            zombie.abort_txn()
        assert offsets() == {0: 4}
    assert len(committed_output(boot, topic_out)) == 4
    assert b"zombie" not in committed_output(boot, topic_out)
