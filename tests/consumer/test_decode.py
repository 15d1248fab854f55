"""From record bytes to ConsumerMessages: what decode_partition returns."""

from __future__ import annotations

from kproto.consumer.decode import decode_partition
from kproto.message_types import ConsumerMessage
from kproto.records import BatchBuilder, Compression, TimestampType
from tests.consumer.scripted import batch, marker


def decode(data: bytes, position: int = 0, **kw: object) -> object:
    opts: dict[str, object] = {"read_committed": False, "aborted": None,
                               "last_stable_offset": -1, "check_crcs": True,
                               "max_decompressed_bytes": 1 << 20}
    opts.update(kw)
    return decode_partition("t", 3, data, position, **opts)  # type: ignore[arg-type]


def test_messages_equal_what_the_constructor_builds() -> None:
    data = batch(10, [b"a", b"b"], keys=[b"k", None]) + batch(12, [b"c"])
    out = decode(data, 11)
    assert out.messages == [  # type: ignore[attr-defined]
        ConsumerMessage("t", 3, 11, None, b"b", (("h", b"x"),), 1001, 0),
        ConsumerMessage("t", 3, 12, None, b"c", (("h", b"x"),), 1000, 0)]
    assert out.next_offset == 13 and out.last_epoch == 0  # type: ignore[attr-defined]
    assert hash(out.messages[0]) == hash(  # type: ignore[attr-defined]
        ConsumerMessage("t", 3, 11, None, b"b", (("h", b"x"),), 1001, 0))


def test_each_batch_keeps_its_timestamp_type() -> None:
    b = BatchBuilder(base_offset=2, timestamp_type=TimestampType.LOG_APPEND_TIME)
    b.append(5, None, b"appended")
    data = batch(0, [b"v0", b"v1"], magic=0) + b.build() + batch(3, [b"c"])
    out = decode(data)
    assert [(m.offset, m.timestamp_type) for m in out.messages] == [  # type: ignore[attr-defined]
        (0, -1), (1, -1), (2, 1), (3, 0)]


def test_a_partial_first_batch_reports_its_size() -> None:
    whole = batch(0, [b"z" * 500], compression=Compression.NONE)
    out = decode(whole[:100])
    assert out.partial and out.needed_bytes == len(whole)  # type: ignore[attr-defined]
    assert out.messages == [] and out.next_offset == 0  # type: ignore[attr-defined]


def test_control_and_aborted_batches_move_the_position_past_them() -> None:
    data = batch(0, [b"x"], producer_id=4, transactional=True) + marker(1, 4, commit=False)
    out = decode(data, read_committed=True, aborted=[(4, 0)], last_stable_offset=2)
    assert out.messages == [] and out.next_offset == 2  # type: ignore[attr-defined]


def test_nothing_at_or_past_the_last_stable_offset() -> None:
    data = batch(0, [b"a"]) + batch(1, [b"b"], producer_id=5, transactional=True)
    out = decode(data, read_committed=True, aborted=[], last_stable_offset=1)
    assert [m.value for m in out.messages] == [b"a"]  # type: ignore[attr-defined]
    assert out.next_offset == 1  # type: ignore[attr-defined]
