"""Wire primitives shared by the generated codecs.

Theory of operation: stateless functions. Readers take ``(buf, pos)`` where ``buf`` is ``bytes``
and return ``(value, new_pos)``; every length read from the wire is checked against the bytes
that remain *before* anything is allocated. Writers append to a ``bytearray``. The generated
functions wrap each struct in one ``try`` block and turn whatever a reader raises into a
``DecodeError`` (or a writer into an ``EncodeError``) naming the field and the byte offset;
array helpers add the element index on the way out.

Forms, as Kafka defines them: classic strings have an int16 length, classic bytes and arrays an
int32 length, -1 meaning null; the compact forms used by flexible versions have an unsigned
varint of length + 1, 0 meaning null. Tagged field sections are a varint count followed by
(varint tag, varint size, data) entries.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from kproto.errors import DecodeError, EncodeError
from kproto.protocol._base import DEFAULT

T = TypeVar("T")
Reader = Callable[[bytes, int], tuple[T, int]]
Writer = Callable[[bytearray, T], None]

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_NULL16 = b"\xff\xff"
_NULL32 = b"\xff\xff\xff\xff"
MAX_STRING_BYTES = 0x7FFF
ZERO_UUID = UUID(int=0)
_ZERO_UUID_BYTES = bytes(16)
_VARINT_MAX = 0xFFFFFFFF
_ITEMGETTER_TAG: Callable[[tuple[int, Any]], int] = lambda entry: entry[0]  # noqa: E731


def _short(what: str, needed: int, remaining: int) -> DecodeError:
    return DecodeError(f"{what} needs {needed} bytes but only {remaining} remain")


# ---------------------------------------------------------------------------- varints


def r_uvarint(b: bytes, p: int) -> tuple[int, int]:
    """An unsigned varint of at most 5 bytes holding a 32-bit value."""
    x = b[p]
    if x < 0x80:
        return x, p + 1
    value = x & 0x7F
    shift = 7
    while True:
        p += 1
        if p >= len(b):
            raise DecodeError("varint runs past the end of the data")
        x = b[p]
        value |= (x & 0x7F) << shift
        if x < 0x80:
            if value > _VARINT_MAX:
                raise DecodeError("varint does not fit in 32 bits")
            return value, p + 1
        shift += 7
        if shift > 28:
            raise DecodeError("varint is longer than 5 bytes")


def w_uvarint(w: bytearray, n: int) -> None:
    if n < 0x80:
        if n < 0:
            raise EncodeError(f"negative value {n} for an unsigned varint")
        w.append(n)
        return
    while n >= 0x80:
        w.append((n & 0x7F) | 0x80)
        n >>= 7
    w.append(n)


def uvarint_bytes(n: int) -> bytes:
    w = bytearray()
    w_uvarint(w, n)
    return bytes(w)


# ---------------------------------------------------------------------------- uuid


def to_uuid(raw: bytes) -> UUID:
    return ZERO_UUID if raw == _ZERO_UUID_BYTES else UUID(bytes=raw)


def r_uuid(b: bytes, p: int) -> tuple[UUID, int]:
    end = p + 16
    if end > len(b):
        raise _short("uuid", 16, len(b) - p)
    return to_uuid(b[p:end]), end


def w_uuid(w: bytearray, u: UUID) -> None:
    w += u.bytes


# ---------------------------------------------------------------------------- strings
# The readers are written out in full (no shared helpers) because they run once per field.


def r_str(b: bytes, p: int) -> tuple[str, int]:
    n = (b[p] << 8) | b[p + 1]
    p += 2
    if n & 0x8000:
        raise DecodeError("null in a non-nullable string")
    end = p + n
    if end > len(b):
        raise _short("string", n, len(b) - p)
    return b[p:end].decode(), end


def r_nstr(b: bytes, p: int) -> tuple[str | None, int]:
    n = (b[p] << 8) | b[p + 1]
    p += 2
    if n & 0x8000:
        return None, p
    end = p + n
    if end > len(b):
        raise _short("string", n, len(b) - p)
    return b[p:end].decode(), end


def r_cstr(b: bytes, p: int) -> tuple[str, int]:
    n = b[p]
    if n < 0x80:
        p += 1
    else:
        n, p = r_uvarint(b, p)
    if n == 0:
        raise DecodeError("null in a non-nullable string")
    if n > MAX_STRING_BYTES + 1:
        raise DecodeError(f"string length {n - 1} is longer than {MAX_STRING_BYTES}")
    end = p + n - 1
    if end > len(b):
        raise _short("string", n - 1, len(b) - p)
    return b[p:end].decode(), end


def r_cnstr(b: bytes, p: int) -> tuple[str | None, int]:
    n = b[p]
    if n < 0x80:
        p += 1
    else:
        n, p = r_uvarint(b, p)
    if n == 0:
        return None, p
    if n > MAX_STRING_BYTES + 1:
        raise DecodeError(f"string length {n - 1} is longer than {MAX_STRING_BYTES}")
    end = p + n - 1
    if end > len(b):
        raise _short("string", n - 1, len(b) - p)
    return b[p:end].decode(), end


def _encode_str(s: str | None) -> bytes:
    if s is None:
        raise EncodeError("None is not allowed: the string is not nullable in this version")
    data = s.encode()
    if len(data) > MAX_STRING_BYTES:
        raise EncodeError(f"string of {len(data)} bytes is longer than {MAX_STRING_BYTES}")
    return data


def w_str(w: bytearray, s: str | None) -> None:
    data = _encode_str(s)
    w += _I16.pack(len(data))
    w += data


def w_nstr(w: bytearray, s: str | None) -> None:
    if s is None:
        w += _NULL16
    else:
        data = _encode_str(s)
        w += _I16.pack(len(data))
        w += data


def w_cstr(w: bytearray, s: str | None) -> None:
    data = _encode_str(s)
    n = len(data) + 1
    if n < 0x80:
        w.append(n)
    else:
        w_uvarint(w, n)
    w += data


def w_cnstr(w: bytearray, s: str | None) -> None:
    if s is None:
        w.append(0)
    else:
        w_cstr(w, s)


# ---------------------------------------------------------------------------- bytes


def r_bytes(b: bytes, p: int) -> tuple[bytes, int]:
    n = _I32.unpack_from(b, p)[0]
    p += 4
    if n < 0:
        raise DecodeError("null in a non-nullable bytes field")
    end = p + n
    if end > len(b):
        raise _short("bytes value", n, len(b) - p)
    return b[p:end], end


def r_nbytes(b: bytes, p: int) -> tuple[bytes | None, int]:
    n = _I32.unpack_from(b, p)[0]
    p += 4
    if n < 0:
        return None, p
    end = p + n
    if end > len(b):
        raise _short("bytes value", n, len(b) - p)
    return b[p:end], end


def r_cbytes(b: bytes, p: int) -> tuple[bytes, int]:
    n, p = r_uvarint(b, p)
    if n == 0:
        raise DecodeError("null in a non-nullable bytes field")
    end = p + n - 1
    if end > len(b):
        raise _short("bytes value", n - 1, len(b) - p)
    return b[p:end], end


def r_cnbytes(b: bytes, p: int) -> tuple[bytes | None, int]:
    n, p = r_uvarint(b, p)
    if n == 0:
        return None, p
    end = p + n - 1
    if end > len(b):
        raise _short("bytes value", n - 1, len(b) - p)
    return b[p:end], end


def _null_error() -> EncodeError:
    return EncodeError("None is not allowed: the field is not nullable in this version")


def w_bytes(w: bytearray, v: bytes | None) -> None:
    if v is None:
        raise _null_error()
    w += _I32.pack(len(v))
    w += v


def w_nbytes(w: bytearray, v: bytes | None) -> None:
    if v is None:
        w += _NULL32
    else:
        w += _I32.pack(len(v))
        w += v


def w_cbytes(w: bytearray, v: bytes | None) -> None:
    if v is None:
        raise _null_error()
    w_uvarint(w, len(v) + 1)
    w += v


def w_cnbytes(w: bytearray, v: bytes | None) -> None:
    if v is None:
        w.append(0)
    else:
        w_uvarint(w, len(v) + 1)
        w += v


# ---------------------------------------------------------------------------- arrays
# Element counts are checked against the bytes that remain (``min_size`` bytes at least per
# element) before anything is allocated.


def _too_many(n: int, min_size: int, b: bytes, p: int) -> DecodeError:
    return DecodeError(
        f"array of {n} elements needs at least {n * min_size} bytes but only {len(b) - p} remain"
    )


def _read_elements(b: bytes, p: int, n: int, read: Reader[T]) -> tuple[list[T], int]:
    out: list[T] = []
    append = out.append
    i = 0
    try:
        for i in range(n):  # noqa: B007 (i names the failing element)
            x, p = read(b, p)
            append(x)
    except Exception as e:
        raise element_failure(e, i, b, p) from None
    return out, p


def element_failure(e: Exception, index: int, b: bytes, p: int) -> DecodeError:
    err = decode_failure(e, "", b, p)
    err.prepend_path(f"[{index}]")
    return err


def r_array(b: bytes, p: int, min_size: int, read: Reader[T]) -> tuple[list[T], int]:
    n = _I32.unpack_from(b, p)[0]
    p += 4
    if n < 0:
        raise DecodeError("null in a non-nullable array")
    if n * min_size > len(b) - p:
        raise _too_many(n, min_size, b, p)
    return _read_elements(b, p, n, read)


def r_narray(b: bytes, p: int, min_size: int, read: Reader[T]) -> tuple[list[T] | None, int]:
    n = _I32.unpack_from(b, p)[0]
    p += 4
    if n < 0:
        return None, p
    if n * min_size > len(b) - p:
        raise _too_many(n, min_size, b, p)
    return _read_elements(b, p, n, read)


def r_carray(b: bytes, p: int, min_size: int, read: Reader[T]) -> tuple[list[T], int]:
    n = b[p]
    if n < 0x80:
        p += 1
    else:
        n, p = r_uvarint(b, p)
    if n == 0:
        raise DecodeError("null in a non-nullable array")
    n -= 1
    if n * min_size > len(b) - p:
        raise _too_many(n, min_size, b, p)
    return _read_elements(b, p, n, read)


def r_cnarray(b: bytes, p: int, min_size: int, read: Reader[T]) -> tuple[list[T] | None, int]:
    n = b[p]
    if n < 0x80:
        p += 1
    else:
        n, p = r_uvarint(b, p)
    if n == 0:
        return None, p
    n -= 1
    if n * min_size > len(b) - p:
        raise _too_many(n, min_size, b, p)
    return _read_elements(b, p, n, read)


# Arrays of fixed-width numbers are read and written with one struct call; the Struct for
# each (code, count) is kept for counts up to _CACHED_COUNT.
_CACHED_COUNT = 256
_FIXED_STRUCTS: dict[str, dict[int, struct.Struct]] = {code: {} for code in "?bhHiIqd"}


def _fixed(code: str, n: int) -> struct.Struct:
    if n > _CACHED_COUNT:
        return struct.Struct(f">{n}{code}")
    cache = _FIXED_STRUCTS[code]
    s = cache.get(n)
    if s is None:
        s = cache[n] = struct.Struct(f">{n}{code}")
    return s


def r_farray(b: bytes, p: int, code: str, size: int) -> tuple[list[Any], int]:
    """An array of fixed-width numbers (struct format ``code``, ``size`` bytes each)."""
    n = _I32.unpack_from(b, p)[0]
    p += 4
    if n <= 0:
        if n == 0:
            return [], p
        raise DecodeError("null in a non-nullable array")
    end = p + n * size
    if end > len(b):
        raise _too_many(n, size, b, p)
    s = _FIXED_STRUCTS[code].get(n) or _fixed(code, n)
    return list(s.unpack_from(b, p)), end


def r_nfarray(b: bytes, p: int, code: str, size: int) -> tuple[list[Any] | None, int]:
    n = _I32.unpack_from(b, p)[0]
    p += 4
    if n <= 0:
        return ([], p) if n == 0 else (None, p)
    end = p + n * size
    if end > len(b):
        raise _too_many(n, size, b, p)
    s = _FIXED_STRUCTS[code].get(n) or _fixed(code, n)
    return list(s.unpack_from(b, p)), end


def r_cfarray(b: bytes, p: int, code: str, size: int) -> tuple[list[Any], int]:
    n = b[p]
    if n < 0x80:
        p += 1
    else:
        n, p = r_uvarint(b, p)
    if n <= 1:
        if n == 1:
            return [], p
        raise DecodeError("null in a non-nullable array")
    n -= 1
    end = p + n * size
    if end > len(b):
        raise _too_many(n, size, b, p)
    s = _FIXED_STRUCTS[code].get(n) or _fixed(code, n)
    return list(s.unpack_from(b, p)), end


def r_cnfarray(b: bytes, p: int, code: str, size: int) -> tuple[list[Any] | None, int]:
    n = b[p]
    if n < 0x80:
        p += 1
    else:
        n, p = r_uvarint(b, p)
    if n <= 1:
        return ([], p) if n == 1 else (None, p)
    n -= 1
    end = p + n * size
    if end > len(b):
        raise _too_many(n, size, b, p)
    s = _FIXED_STRUCTS[code].get(n) or _fixed(code, n)
    return list(s.unpack_from(b, p)), end


def _write_elements(w: bytearray, v: Sequence[T], write: Writer[T]) -> None:
    i = 0
    try:
        for i, x in enumerate(v):  # noqa: B007 (i names the failing element)
            write(w, x)
    except Exception as e:
        err = encode_failure(e, "", None)
        err.prepend_path(f"[{i}]")
        raise err from None


def w_array(w: bytearray, v: Sequence[T] | None, write: Writer[T]) -> None:
    if v is None:
        raise _null_error()
    w += _I32.pack(len(v))
    _write_elements(w, v, write)


def w_narray(w: bytearray, v: Sequence[T] | None, write: Writer[T]) -> None:
    if v is None:
        w += _NULL32
    else:
        w += _I32.pack(len(v))
        _write_elements(w, v, write)


def w_carray(w: bytearray, v: Sequence[T] | None, write: Writer[T]) -> None:
    if v is None:
        raise _null_error()
    n = len(v) + 1
    if n < 0x80:
        w.append(n)
    else:
        w_uvarint(w, n)
    _write_elements(w, v, write)


def w_cnarray(w: bytearray, v: Sequence[T] | None, write: Writer[T]) -> None:
    if v is None:
        w.append(0)
    else:
        w_carray(w, v, write)


def _fixed_payload(v: Sequence[Any], code: str) -> bytes:
    try:
        return _fixed(code, len(v)).pack(*v)
    except struct.error:
        for i, x in enumerate(v):
            try:
                struct.pack(">" + code, x)
            except struct.error as e:
                raise EncodeError(f"[{i}]: {e} (value {x!r})") from None
        raise


def w_farray(w: bytearray, v: Sequence[Any] | None, code: str) -> None:
    if v is None:
        raise _null_error()
    w += _I32.pack(len(v))
    if v:
        w += _fixed_payload(v, code)


def w_nfarray(w: bytearray, v: Sequence[Any] | None, code: str) -> None:
    if v is None:
        w += _NULL32
    else:
        w_farray(w, v, code)


def w_cfarray(w: bytearray, v: Sequence[Any] | None, code: str) -> None:
    if v is None:
        raise _null_error()
    n = len(v) + 1
    if n < 0x80:
        w.append(n)
    else:
        w_uvarint(w, n)
    if v:
        w += _fixed_payload(v, code)


def w_cnfarray(w: bytearray, v: Sequence[Any] | None, code: str) -> None:
    if v is None:
        w.append(0)
    else:
        w_cfarray(w, v, code)


# ---------------------------------------------------------------------------- nullable structs


def r_opt_struct(b: bytes, p: int, read: Reader[T]) -> tuple[T | None, int]:
    """A nullable struct outside tagged fields: an int8 marker, negative meaning null."""
    if b[p] >= 0x80:
        return None, p + 1
    return read(b, p + 1)


def w_opt_struct(w: bytearray, v: T | None, write: Writer[T]) -> None:
    if v is None:
        w.append(0xFF)
    else:
        w.append(1)
        write(w, v)


def r_tagged_opt_struct(b: bytes, p: int, read: Reader[T]) -> tuple[T | None, int]:
    """A nullable struct inside a tagged field: a varint marker, zero meaning null."""
    marker, p = r_uvarint(b, p)
    if marker == 0:
        return None, p
    return read(b, p)


def w_tagged_opt_struct(w: bytearray, v: T | None, write: Writer[T]) -> None:
    if v is None:
        w.append(0)
    else:
        w.append(1)
        write(w, v)


# ---------------------------------------------------------------------------- tagged fields


def r_tags(b: bytes, p: int) -> tuple[list[tuple[int, bytes]], int]:
    """A tagged field section as raw ``(tag, data)`` pairs in wire order."""
    n = b[p]
    if n == 0:
        return [], p + 1
    n, p = r_uvarint(b, p)
    if 2 * n > len(b) - p:
        raise DecodeError(f"{n} tagged fields cannot fit in the {len(b) - p} bytes that remain")
    out: list[tuple[int, bytes]] = []
    for _ in range(n):
        tag, p = r_uvarint(b, p)
        size, p = r_uvarint(b, p)
        end = p + size
        if end > len(b):
            raise _short(f"tagged field {tag}", size, len(b) - p)
        out.append((tag, b[p:end]))
        p = end
    return out, p


def tagged_end(data: bytes, q: int) -> None:
    """A known tagged field must use exactly the bytes its size announced."""
    if q != len(data):
        raise DecodeError(f"tagged field declares {len(data)} bytes but its value used {q}")


def bad_tag(tag: int) -> DecodeError:
    return DecodeError(f"tag {tag} is not valid in this version")


def _check_unknown(unknown: list[tuple[int, bytes]]) -> None:
    for entry in unknown:
        if not (
            isinstance(entry, tuple)
            and len(entry) == 2
            and isinstance(entry[0], int)
            and entry[0] >= 0
            and isinstance(entry[1], (bytes, bytearray, memoryview))
        ):
            raise EncodeError(f"unknown tagged field {entry!r} is not a (tag, bytes) pair")


def w_unknown_tags(w: bytearray, unknown: list[tuple[int, bytes]]) -> None:
    """A tagged field section holding only the fields kproto did not recognise."""
    if not unknown:
        w.append(0)
        return
    w_tags(w, [], unknown)


def w_tags(
    w: bytearray,
    known: list[tuple[int, bytes | bytearray]],
    unknown: list[tuple[int, bytes]],
) -> None:
    """A tagged field section: known and unknown fields merged in tag order."""
    if unknown:
        _check_unknown(unknown)
        entries: list[tuple[int, bytes | bytearray]] = sorted(
            [*known, *unknown], key=_ITEMGETTER_TAG
        )
    else:
        entries = known
    w_uvarint(w, len(entries))
    for tag, data in entries:
        w_uvarint(w, tag)
        w_uvarint(w, len(data))
        w += data


def no_tags(unknown: list[tuple[int, bytes]]) -> None:
    """Non-flexible versions have no tagged field section."""
    if unknown:
        raise EncodeError("tagged fields are set but this version has no tagged fields")


def absent(name: str, value: object) -> EncodeError:
    return EncodeError(
        f"{name} is {value!r} but the field does not exist in this version and it is not ignorable"
    )


# ---------------------------------------------------------------------------- failures


def _fixed_culprit(label: str, b: bytes, p: int) -> tuple[str, int, int]:
    """For a merged group label ``"a:h b:i"``: the field that ran past the end."""
    offset = p
    name = label
    size = 0
    for item in label.split():
        name, _, code = item.partition(":")
        size = struct.calcsize(">" + code)
        if offset + size > len(b):
            break
        offset += size
    return name, offset, size


def decode_failure(e: Exception, field: str, b: bytes, p: int) -> DecodeError:
    """Turn what a reader raised into a DecodeError naming ``field`` and the offset ``p``."""
    if isinstance(e, DecodeError):
        if field:
            e.prepend_path(field)
        if e.offset is None:
            e.offset = p
        return e
    if isinstance(e, (struct.error, IndexError)):
        name, offset = field, p
        if " " in field or ":" in field:
            name, offset, size = _fixed_culprit(field, b, p)
            err = _short(name, size, max(0, len(b) - offset))
        else:
            err = DecodeError(f"unexpected end of data ({max(0, len(b) - p)} bytes remain)")
        err.offset = offset
        if name:
            err.prepend_path(name)
        return err
    if isinstance(e, UnicodeDecodeError):
        reason = f"invalid UTF-8 in a string ({e.reason})"
    elif isinstance(e, (ValueError, OverflowError, MemoryError, TypeError)):
        reason = f"invalid value: {e}"
    else:
        reason = f"{type(e).__name__}: {e}"
    err = DecodeError(reason, offset=p)
    if field:
        err.prepend_path(field)
    err.__cause__ = e
    return err


def encode_failure(e: Exception, field: str, o: object) -> EncodeError:
    """Turn what a writer raised into an EncodeError naming ``field``."""
    if isinstance(e, EncodeError):
        if field:
            e.prepend_path(field)
        return e
    name = field
    reason = f"{type(e).__name__}: {e}"
    if o is not None and (" " in field or ":" in field):
        for item in field.split():
            attr, _, code = item.partition(":")
            value = getattr(o, attr, None)
            try:
                struct.pack(">" + code, value.bytes if isinstance(value, UUID) else value)
            except (struct.error, AttributeError, TypeError) as inner:
                name = attr
                reason = f"cannot encode {value!r} as {_CODE_NAMES.get(code, code)}: {inner}"
                break
    elif o is not None and field and getattr(o, field, 0) is None:
        reason = "None is not allowed: the field is not nullable in this version"
    elif isinstance(e, UnicodeEncodeError):
        reason = f"string is not encodable as UTF-8 ({e.reason})"
    err = EncodeError(reason)
    if name:
        err.prepend_path(name)
    err.__cause__ = e
    return err


_CODE_NAMES = {
    "?": "bool",
    "b": "int8",
    "h": "int16",
    "H": "uint16",
    "i": "int32",
    "I": "uint32",
    "q": "int64",
    "d": "float64",
    "16s": "uuid",
}


def w_struct(w: bytearray, v: T | None, write: Writer[T]) -> None:
    """A struct field that is not nullable in this version."""
    if v is None:
        raise _null_error()
    write(w, v)


def struct_is_default(value: object, cls: Callable[[], object]) -> bool:
    """Whether a struct field holds its default (DEFAULT: not created yet, or equal to one)."""
    return value is DEFAULT or bool(value == cls())
