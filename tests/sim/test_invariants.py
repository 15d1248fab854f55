"""Each invariant checker catches a violation planted in a hand-built history, and passes a
clean one: a checker that never fires would make every simulation look green."""

from __future__ import annotations

import pytest

from kproto.testing.sim.invariants import CHECKS, History, Sent, check


def clean() -> History:
    """Two idempotent records acked in order, a committed and an aborted transaction, a
    reader that saw only committed data, one owner per partition, commits moving forward."""
    h = History()
    h.sent[b"p1:1"] = Sent("p1", 1, "t", 0, b"p1:1", 0.0, "idempotent", acked=(0, 0.1))
    h.sent[b"p1:2"] = Sent("p1", 2, "t", 0, b"p1:2", 0.2, "idempotent", acked=(1, 0.3))
    h.sent[b"x1:1:1"] = Sent("x1", 1, "t", 1, b"x1:1:1", 0.0, "transactional", txn=1,
                             acked=(0, 0.1))
    h.sent[b"x1:2:2"] = Sent("x1", 2, "t", 1, b"x1:2:2", 0.5, "transactional", txn=2,
                             acked=(2, 0.6))
    h.txns[("x1", 1)] = "committed"
    h.txns[("x1", 2)] = "aborted"
    h.logs[("t", 0)] = [(0, b"p1:1", False), (1, b"p1:2", False)]
    h.logs[("t", 1)] = [(0, b"x1:1:1", True), (2, b"x1:2:2", True)]
    h.uncommitted[("t", 1)] = {2}
    h.reads.append(("r1", "t", 1, 0, b"x1:1:1", "read_committed"))
    h.claimed("g", 1, "t", 0, "m1")
    h.claimed("g", 1, "t", 1, "m2")
    h.claimed("g", 2, "t", 0, "m2")
    h.committed("g", "t", 0, 1, 1.0)
    h.committed("g", "t", 0, 2, 2.0)
    h.operation("p1", "send", 0.0, 0.1, 31.0, True)
    # Group "eos" transforms u into o: every committed record of u below its offsets once
    # (u[1]@2 is aborted; so is o[1]@1, an output written from it and aborted with it).
    h.transforms["eos"] = ("u", "o")
    h.logs[("u", 0)] = [(0, b"a", False), (1, b"b", False)]
    h.logs[("u", 1)] = [(0, b"c", True), (2, b"d", True)]
    h.uncommitted[("u", 1)] = {2}
    h.logs[("o", 0)] = [(0, b"0:0:a", True), (1, b"0:1:b", True)]
    h.logs[("o", 1)] = [(0, b"1:0:c", True), (1, b"1:2:d", True)]
    h.uncommitted[("o", 1)] = {1}
    h.committed("eos", "u", 0, 2, 1.5)
    h.committed("eos", "u", 1, 3, 1.5)
    return h


def test_a_clean_history_passes_every_check() -> None:
    assert check(clean()) == []


def _only(h: History, name: str) -> None:
    found = check(h)
    assert found, f"{name} did not catch the planted violation"
    assert {v.invariant for v in found} == {name}, found
    assert CHECKS[name](h) == found


def test_a_lost_acked_record_is_caught() -> None:
    h = clean()
    h.logs[("t", 0)] = [(0, b"p1:1", False)]
    _only(h, "acked-not-lost")
    h.unclean.add(("t", 0))  # an unclean leader change may lose it
    assert check(h) == []


def test_a_duplicate_is_caught() -> None:
    h = clean()
    h.logs[("t", 0)].append((2, b"p1:2", False))
    _only(h, "no-duplicates")


def test_a_plain_producer_may_duplicate() -> None:
    h = clean()
    h.sent[b"q1:1"] = Sent("q1", 1, "t", 0, b"q1:1", 0.0, "plain", acked=(2, 0.1))
    h.logs[("t", 0)] += [(2, b"q1:1", False), (3, b"q1:1", False)]
    assert check(h) == []


def test_a_record_that_never_settles_is_caught() -> None:
    h = clean()
    h.sent[b"p1:3"] = Sent("p1", 3, "t", 0, b"p1:3", 0.4, "idempotent")
    _only(h, "settles")
    h.sent[b"p1:3"].abandoned = True  # its process died
    assert check(h) == []


def test_records_stored_out_of_order_are_caught() -> None:
    h = clean()
    h.sent[b"p1:1"].acked = (1, 0.1)
    h.sent[b"p1:2"].acked = (0, 0.3)
    h.logs[("t", 0)] = [(0, b"p1:2", False), (1, b"p1:1", False)]
    _only(h, "order")


def test_two_owners_in_one_generation_are_caught() -> None:
    h = clean()
    h.claimed("g", 2, "t", 0, "m1")
    _only(h, "one-owner")


def test_a_commit_going_backwards_is_caught() -> None:
    h = clean()
    h.committed("g", "t", 0, 1, 3.0)
    _only(h, "commits-forward")


def test_an_aborted_record_read_committed_is_caught() -> None:
    h = clean()
    h.reads.append(("r1", "t", 1, 2, b"x1:2:2", "read_committed"))
    _only(h, "no-aborted-reads")
    h.reads[-1] = ("r1", "t", 1, 2, b"x1:2:2", "read_uncommitted")
    assert check(h) == []
    h.reads[-1] = ("r1", "t", 1, 2, b"x1:2:2", "read_committed")
    h.unclean.add(("t", 1))  # the abort marker may be what the unclean change lost
    assert check(h) == []


def test_an_operation_over_its_bound_is_caught() -> None:
    h = clean()
    h.operation("g1", "commit", 5.0, 12.5, 11.0, True)
    _only(h, "bounded")


def test_an_operation_that_never_settled_is_caught() -> None:
    h = clean()
    h.open_operation("x1", "commit_transaction", 5.0, 40.0, 21.0)
    _only(h, "bounded")


def test_a_transformed_record_missing_from_the_output_is_caught() -> None:
    h = clean()
    h.logs[("o", 0)].pop()
    _only(h, "exactly-once")
    assert "u[0]@1 (below the committed offset 2) is written to o 0 times" in \
        str(check(h)[0])
    h.unclean.add(("o", 0))  # an unclean change of the output may lose it
    assert check(h) == []


def test_a_record_transformed_twice_is_caught() -> None:
    h = clean()
    h.logs[("o", 0)].append((2, b"0:1:b", True))
    _only(h, "exactly-once")
    h.uncommitted[("o", 0)] = {2}  # the second copy's transaction aborted
    assert check(h) == []


def test_an_output_committed_without_its_offsets_is_caught() -> None:
    h = clean()
    h.commits = [c for c in h.commits if c[0] != "eos" or c[2] != 0]
    h.committed("eos", "u", 0, 1, 1.5)
    _only(h, "exactly-once")
    assert "u[0]@1 is written to o but the committed offset is 1" in str(check(h)[0])


def test_an_output_of_an_aborted_input_is_caught() -> None:
    h = clean()
    h.uncommitted[("o", 1)] = set()
    _only(h, "exactly-once")
    assert "no committed input record" in str(check(h)[0])


def test_an_output_with_another_value_is_caught() -> None:
    h = clean()
    h.logs[("o", 0)][0] = (0, b"0:0:z", True)
    _only(h, "exactly-once")


def _reader(h: History, start: int | None, offsets: list[int]) -> None:
    """Reader r2 reads t[0] (p1:1 at 0, p1:2 at 1, p1:3 at 2) from ``start``."""
    if (2, b"p1:3", False) not in h.logs[("t", 0)]:
        h.logs[("t", 0)].append((2, b"p1:3", False))
        h.sent[b"p1:3"] = Sent("p1", 3, "t", 0, b"p1:3", 0.4, "idempotent", acked=(2, 0.5))
    h.read_from.append(("r2", "t", 0, start, len(h.reads)))
    for off in offsets:
        h.reads.append(("r2", "t", 0, off, b"p1:%d" % (off + 1), "read_committed"))


def test_a_reader_that_reads_every_committed_record_passes() -> None:
    h = clean()
    _reader(h, None, [0, 1, 2])
    _reader(h, 1, [1])  # a new stream from offset 1, read up to 1
    assert check(h) == []


@pytest.mark.parametrize(("start", "offsets", "what"), [
    (None, [0, 2], "1 committed ones missed [1], 0 read twice"),
    (None, [1, 2], "1 committed ones missed [0]"),
    (1, [1, 1, 2], "0 committed ones missed [], 1 read twice"),
    (0, [1, 0, 2], "out of order"),
])
def test_a_reader_skipping_repeating_or_reordering_records_is_caught(
        start: int | None, offsets: list[int], what: str) -> None:
    h = clean()
    _reader(h, start, offsets)
    _only(h, "reads-complete")
    assert what in str(check(h)[0])
    h.unclean.add(("t", 0))
    assert [v for v in check(h) if v.invariant == "reads-complete"] == []


def test_a_reader_passes_over_aborted_records() -> None:
    h = clean()
    h.read_from.append(("r1", "t", 1, None, 0))  # its read of t[1]@0, x1:1:1
    assert check(h) == []
    h.reads.append(("r1", "t", 1, 2, b"x1:2:2", "read_committed"))
    assert {v.invariant for v in check(h)} == {"no-aborted-reads", "reads-complete"}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_every_checker_is_tested_here(name: str) -> None:
    tested = {"acked-not-lost", "no-duplicates", "settles", "order", "one-owner",
              "commits-forward", "no-aborted-reads", "bounded", "exactly-once",
              "reads-complete"}
    assert name in tested
