# Types of the compiled module built from _speedups.pyx (absent when it was not built).
from kproto.records.model import Record

def decode_records(
    buf: bytes,
    pos: int,
    end: int,
    count: int,
    base_offset: int,
    base_ts: int,
    append_time: int | None,
) -> list[Record] | None: ...
def encode_record(
    timestamp_delta: int,
    offset_delta: int,
    key: bytes | None,
    value: bytes | None,
    headers: object,
) -> bytes | None: ...
def slot_offsets(cls: type, names: tuple[str, ...]) -> tuple[int, ...] | None: ...
def build_messages(
    cls: type,
    offsets: tuple[int, ...],
    topic: str,
    partition: int,
    records: list[Record],
    kind: int,
) -> list[object] | None: ...
