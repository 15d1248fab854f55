"""A toy consume-transform-produce application, tested with Hypothesis on the simulator.

The application reads topic ``in``, writes ``b"out:" + value`` to topic ``out`` and keeps its
input position as group ``copier``'s committed offset. Two versions:

- ``AtLeastOnceCopier`` (the planted bug): an idempotent producer, and each input's offset
  marked once its output is acknowledged and committed every ``auto_commit_interval``. A
  crash after an output was acknowledged but before the next commit makes the new process
  read that input again: its output is written twice.
- ``ExactlyOnceCopier`` (the fix): a transactional producer; each batch of inputs is one
  transaction holding the outputs *and* the input offsets (``add_offsets_to_txn``), so both
  are committed together or not at all; any failure restarts the process, whose
  ``init_transactions`` fences the old one and aborts what it left open.

``CopierMachine`` states the property: every input appears exactly once in the committed
output. ``python docs/examples/copy_app.py`` runs both machines (tests/sim/test_user_tools.py
runs them too).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from hypothesis.stateful import invariant

from kproto.consumer import ConsumerCore
from kproto.consumer.events import RecordsFetched
from kproto.errors import KprotoError
from kproto.group.offset_manager import OffsetManagerCore
from kproto.message_types import ConsumerMessage, ProducerMessage
from kproto.producer import ProducerCore, RecordsDelivered, RecordsFailed
from kproto.testing.sim import Simulation
from kproto.testing.sim.actors import Actor
from kproto.testing.stateful import SimulatedKafkaMachine

GROUP = "copier"
BOUND = 25.0
"""How long the application waits for any one operation (max_block plus a margin)."""


def transform(value: bytes | None) -> bytes:
    return b"out:" + (value or b"")


class _Copier(Actor):
    """Start-up shared by both versions: find the committed input offset, read from it."""

    def __init__(self, sim: Simulation, fail: Callable[[str], None],
                 **options: Any) -> None:
        super().__init__(sim, sim.host("app", group_id=GROUP, **options))
        cfg = self.host.config
        self.fail = fail
        self.producer = ProducerCore(self.host.core, cfg)
        self.offsets = OffsetManagerCore(self.host.core, cfg, GROUP)
        self.consumer = ConsumerCore(self.host.core, cfg)
        self.stream = -1
        self.queue: deque[ConsumerMessage] = deque()
        self.start()

    def start(self) -> None:
        self.watch("manage", self.offsets.manage("in", 0, self.now), self.read)

    def watch(self, what: str, token: int, then: Callable[[], None]) -> None:
        """Run ``then`` when the operation succeeds; restart the process when it fails."""
        def done(ok: bool, value: Any) -> None:
            if ok:
                then()
            else:
                self.fail(f"{what} failed: {value!r}")
        self.host.op(what, token, BOUND, done)

    def read(self) -> None:
        offset, _ = self.offsets.next_offset("in", 0)
        self.note(f"reads in[0] from {'the oldest' if offset < 0 else offset}")
        self.stream = self.consumer.consume_partition("in", 0, offset, self.now)

    def on_event(self, event: Any) -> None:
        if isinstance(event, RecordsFetched) and event.stream == self.stream:
            self.queue.extend(event.messages)
            if event.size:
                self.consumer.fetcher.release(event.stream, event.size, self.now)
            self.work()

    def work(self) -> None:
        raise NotImplementedError

    def produce(self, m: ConsumerMessage) -> int | None:
        try:
            return self.producer.send(ProducerMessage("out", transform(m.value), key=m.key),
                                      self.now, 0)
        except KprotoError as exc:
            self.fail(f"send failed: {exc!r}")
            return None


class AtLeastOnceCopier(_Copier):
    """The planted bug: outputs and input offsets are committed separately."""

    def __init__(self, sim: Simulation, fail: Callable[[str], None]) -> None:
        self.pending: dict[int, ConsumerMessage] = {}
        super().__init__(sim, fail, idempotent=True, enable_auto_commit=True,
                         auto_commit_interval=5.0)

    def work(self) -> None:
        while self.queue:
            m = self.queue.popleft()
            token = self.produce(m)
            if token is None:
                return
            self.pending[token] = m

    def on_event(self, event: Any) -> None:
        if isinstance(event, RecordsDelivered):
            for token in event.tokens:
                m = self.pending.pop(token, None)
                if m is not None:  # processed: commit its offset with the next auto-commit
                    self.note(f"in[0]@{m.offset} copied; marked for the next commit")
                    self.offsets.mark("in", 0, m.offset + 1, None)
        elif isinstance(event, RecordsFailed):
            self.fail(f"an output failed: {event.error!r}")
        else:
            super().on_event(event)


class ExactlyOnceCopier(_Copier):
    """The fix: outputs and input offsets in one transaction."""

    def __init__(self, sim: Simulation, fail: Callable[[str], None]) -> None:
        self.busy = True
        super().__init__(sim, fail, transactional_id="copier-tx", enable_auto_commit=False,
                         isolation_level="read_committed")

    def start(self) -> None:
        # init_transactions first: it fences a previous process and aborts its transaction,
        # so the committed offset read next is stable.
        def ready() -> None:
            self.busy = False
            super(ExactlyOnceCopier, self).start()
        self.watch("init_transactions", self.producer.init_transactions(self.now), ready)

    def work(self) -> None:
        if self.busy or not self.queue:
            return
        self.busy = True
        batch = list(self.queue)
        self.queue.clear()
        self.watch("begin", self.producer.begin_transaction(self.now),
                   lambda: self.fill(batch))

    def fill(self, batch: list[ConsumerMessage]) -> None:
        for m in batch:
            if self.produce(m) is None:
                return
        offsets = {("in", 0): batch[-1].offset + 1}
        self.watch("add_offsets_to_txn",
                   self.producer.add_offsets_to_txn(offsets, GROUP, self.now),
                   lambda: self.watch("commit", self.producer.commit_transaction(self.now),
                                      self.committed))

    def committed(self) -> None:
        self.note("transaction committed (outputs and input offset)")
        self.busy = False
        self.work()


class CopierMachine(SimulatedKafkaMachine):
    """Inputs to ``in``; the property: each appears exactly once in ``out``'s committed
    records. ``copier`` is the application class under test."""

    topics = {"in": 1, "out": 1}
    input_topic = "in"
    copier: type[_Copier] = AtLeastOnceCopier

    def application(self, sim: Simulation) -> Actor:
        return self.copier(sim, self.restart_app)

    def outputs(self) -> list[bytes | None]:
        return [m.value for m in self.committed("out")]

    @invariant()
    def no_input_is_copied_twice(self) -> None:
        outs = self.outputs()
        twice = sorted({v for v in outs if outs.count(v) > 1 and v is not None})
        assert not twice, f"written twice to out: {twice}"

    def at_end(self) -> None:
        want = sorted(transform(m.value) for m in self.committed("in"))
        got = sorted(v or b"" for v in self.outputs())
        assert got == want, f"out should hold each input exactly once: {want}, it has {got}"


class BuggyCopierMachine(CopierMachine):
    copier = AtLeastOnceCopier


class FixedCopierMachine(CopierMachine):
    copier = ExactlyOnceCopier


if __name__ == "__main__":
    from hypothesis import Phase, settings
    from hypothesis.stateful import run_state_machine_as_test

    quick = settings(max_examples=60, stateful_step_count=10, deadline=None,
                     derandomize=True, database=None, report_multiple_bugs=False,
                     phases=[Phase.generate, Phase.shrink])
    run_state_machine_as_test(FixedCopierMachine, settings=quick)
    print("exactly-once copier: no counterexample")
    run_state_machine_as_test(BuggyCopierMachine, settings=quick)
