# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, infer_types=False
#
# Theory of operation: compiled twins of the two per-record loops of the record layer,
# `batch_v2._decode_records` (with its `_decode_headers`) and `builder._encode_record`. The
# pure functions are the reference; these only make the common case fast. Each one handles
# the inputs it can prove well formed and returns None for anything else (a truncated or
# malformed record, a varint beyond 63 bits, an argument of an unusual type), and the caller
# then runs the pure function, which returns the same value or raises the reference error
# with its message. So every error a user sees comes from the pure code, and the compiled
# code needs no error paths of its own; tests/records/test_differential.py holds the two to
# identical results. Nothing here allocates more than the input it has bounds-checked.
# Chosen over mypyc and a Rust extension on measurements: docs/performance.md.
"""Compiled record decoding and encoding loops (optional; see kproto.records.ACCELERATED)."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_Append
from cpython.long cimport PyLong_FromLongLong
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_AsEncodedString, PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from kproto.records.model import Record as _Record


cdef extern from "Python.h":
    # A new instance of a tuple subclass with `n` empty slots, filled below with
    # PyTuple_SET_ITEM: builds each Record without the argument tuple that calling
    # tuple.__new__ would allocate and copy first.
    object PyType_GenericAlloc(object cls, Py_ssize_t n)
    void PyTuple_SET_ITEM(object t, Py_ssize_t i, object o)  # steals a reference
    long long PyLong_AsLongLongAndOverflow(object o, int* overflow) except? -1
    void PyObject_GC_UnTrack(object o)


cdef object Record = _Record
cdef tuple NO_HEADERS = ()
cdef int64_t I64_MAX = 0x7FFFFFFFFFFFFFFF
cdef int64_t I64_MIN = -I64_MAX - 1
# Values up to here encode in at most 9 varint bytes and decode without overflow; longer
# encodings (legal, but never written by Kafka) go to the pure code.
cdef uint64_t SAFE_RAW = (<uint64_t>1) << 63


cdef inline bint read_raw(const unsigned char* p, Py_ssize_t* pos, Py_ssize_t limit,
                          uint64_t* out) noexcept nogil:
    """Read an unsigned varint below 2**63 that ends before `limit`; False otherwise."""
    cdef uint64_t result = 0
    cdef int shift = 0
    cdef unsigned char b
    cdef Py_ssize_t i = pos[0]
    while i < limit and shift < 63:
        b = p[i]
        i += 1
        result |= (<uint64_t>(b & 0x7F)) << shift
        if b < 0x80:
            pos[0] = i
            out[0] = result
            return True
        shift += 7
    return False


cdef inline int64_t unzig(uint64_t u) noexcept nogil:
    return <int64_t>(u >> 1) ^ -(<int64_t>(u & 1))


cdef inline bint add_fits(int64_t a, int64_t b) noexcept nogil:
    """Whether a + b stays within int64 (else the pure code computes it with big ints)."""
    if b > 0:
        return a <= I64_MAX - b
    return a >= I64_MIN - b


cdef object decode_headers(const unsigned char* p, Py_ssize_t* pos, Py_ssize_t rec_end):
    """The headers of one record as a tuple of (str, bytes | None), or None if malformed."""
    cdef uint64_t u
    cdef Py_ssize_t i = pos[0], n, k, count
    cdef list out
    cdef object hkey, hval
    if not read_raw(p, &i, rec_end, &u) or u & 1:
        return None
    count = <Py_ssize_t>(u >> 1)
    if count > (rec_end - i) >> 1:
        return None
    out = []
    for k in range(count):
        if not read_raw(p, &i, rec_end, &u) or u & 1:
            return None
        n = <Py_ssize_t>(u >> 1)
        if n > rec_end - i:
            return None
        hkey = PyUnicode_DecodeUTF8(<const char*>p + i, n, "surrogateescape")
        i += n
        if not read_raw(p, &i, rec_end, &u):
            return None
        if u == 1:
            hval = None
        elif u & 1:
            return None
        else:
            n = <Py_ssize_t>(u >> 1)
            if n > rec_end - i:
                return None
            hval = PyBytes_FromStringAndSize(<const char*>p + i, n)
            i += n
        PyList_Append(out, (hkey, hval))
    pos[0] = i
    return tuple(out)


def decode_records(object buf, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t count,
                   object base_offset, object base_ts, object append_time):
    """Twin of batch_v2._decode_records: the records, or None to run the pure decoder."""
    if type(buf) is not bytes or not 0 <= pos <= end <= PyBytes_GET_SIZE(buf) or count < 0:
        return None
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(buf)
    # Each call resets its overflow flag, hence one flag per value.
    cdef int overflow = 0, overflow2 = 0
    cdef int64_t bo = PyLong_AsLongLongAndOverflow(base_offset, &overflow)
    cdef int64_t bts = PyLong_AsLongLongAndOverflow(base_ts, &overflow2)
    if overflow or overflow2:
        return None
    cdef list records = []
    cdef Py_ssize_t i, rec_end, n
    cdef uint64_t u, td, od
    cdef int64_t delta
    cdef object key, value, headers, rec, offset, timestamp
    for i in range(count):
        if not read_raw(p, &pos, end, &u) or u & 1:
            return None
        if <uint64_t>(end - pos) < (u >> 1):
            return None
        rec_end = pos + <Py_ssize_t>(u >> 1)
        pos += 1  # record attributes: unused
        if not (read_raw(p, &pos, rec_end, &td) and read_raw(p, &pos, rec_end, &od)):
            return None
        delta = unzig(od)
        if not add_fits(bo, delta):
            return None
        offset = PyLong_FromLongLong(bo + delta)
        if append_time is None:
            delta = unzig(td)
            if not add_fits(bts, delta):
                return None
            timestamp = PyLong_FromLongLong(bts + delta)
        else:
            timestamp = append_time
        if not read_raw(p, &pos, rec_end, &u):
            return None
        if u == 1:
            key = None
        elif u & 1 or <uint64_t>(rec_end - pos) < (u >> 1):
            return None
        else:
            n = <Py_ssize_t>(u >> 1)
            key = PyBytes_FromStringAndSize(<const char*>p + pos, n)
            pos += n
        if not read_raw(p, &pos, rec_end, &u):
            return None
        if u == 1:
            value = None
        elif u & 1 or <uint64_t>(rec_end - pos) < (u >> 1):
            return None
        else:
            n = <Py_ssize_t>(u >> 1)
            value = PyBytes_FromStringAndSize(<const char*>p + pos, n)
            pos += n
        if pos < rec_end and p[pos] == 0:
            headers = NO_HEADERS
            pos += 1
        else:
            headers = decode_headers(p, &pos, rec_end)
            if headers is None:
                return None
        if pos != rec_end:
            return None
        rec = PyType_GenericAlloc(Record, 5)
        Py_INCREF(offset)
        PyTuple_SET_ITEM(rec, 0, offset)
        Py_INCREF(timestamp)
        PyTuple_SET_ITEM(rec, 1, timestamp)
        Py_INCREF(key)
        PyTuple_SET_ITEM(rec, 2, key)
        Py_INCREF(value)
        PyTuple_SET_ITEM(rec, 3, value)
        Py_INCREF(headers)
        PyTuple_SET_ITEM(rec, 4, headers)
        # A Record holds only ints, bytes, None and tuples of str and bytes: it can be in
        # no reference cycle, so the garbage collector need not track it (CPython does the
        # same for plain tuples of such values, but not for tuple subclasses). Untracked,
        # a fetch's records no longer trigger and lengthen collections: measured +15% on
        # decoding 10,000 records of 100 B (docs/performance.md).
        PyObject_GC_UnTrack(rec)
        PyList_Append(records, rec)
    if pos != end:
        return None
    return records


# ----------------------------------------------------------------------------- encoding


cdef inline int raw_size(uint64_t u) noexcept nogil:
    cdef int n = 1
    while u > 0x7F:
        u >>= 7
        n += 1
    return n


cdef inline uint64_t zig(int64_t v) noexcept nogil:
    return (<uint64_t>v << 1) ^ <uint64_t>(v >> 63)


cdef inline Py_ssize_t put_raw(unsigned char* out, Py_ssize_t i, uint64_t u) noexcept nogil:
    while u > 0x7F:
        out[i] = <unsigned char>((u & 0x7F) | 0x80)
        u >>= 7
        i += 1
    out[i] = <unsigned char>u
    return i + 1


cdef inline Py_ssize_t put_bytes(unsigned char* out, Py_ssize_t i, object b) noexcept:
    """Write a length-prefixed bytes object (or -1 for None) at out[i]."""
    cdef Py_ssize_t n
    if b is None:
        out[i] = 1
        return i + 1
    n = PyBytes_GET_SIZE(b)
    i = put_raw(out, i, zig(n))
    memcpy(out + i, PyBytes_AS_STRING(b), n)
    return i + n


cdef inline Py_ssize_t field_size(object b) noexcept:
    cdef Py_ssize_t n
    if b is None:
        return 1
    n = PyBytes_GET_SIZE(b)
    return raw_size(zig(n)) + n


def encode_record(object timestamp_delta, object offset_delta, object key, object value,
                  object headers):
    """Twin of builder._encode_record: the encoded record, or None to run the pure encoder.

    Handles exact ints within int64, keys and values that are bytes or None, and headers
    given as a tuple or list of (str, bytes | None) pairs; anything else goes to the pure
    code, which accepts more types and raises the reference errors.
    """
    # Each call resets its overflow flag, hence one flag per value.
    cdef int overflow = 0, overflow2 = 0
    if type(timestamp_delta) is not int or type(offset_delta) is not int:
        return None
    cdef int64_t td = PyLong_AsLongLongAndOverflow(timestamp_delta, &overflow)
    cdef int64_t od = PyLong_AsLongLongAndOverflow(offset_delta, &overflow2)
    if overflow or overflow2:
        return None
    if (key is not None and type(key) is not bytes) or (
        value is not None and type(value) is not bytes
    ):
        return None
    cdef list hparts = None
    cdef Py_ssize_t hsize = 1, nh = 0, k
    cdef object item, hkey, hval
    if headers:
        if type(headers) is list:
            headers = tuple(headers)
        elif type(headers) is not tuple:
            return None
        nh = PyTuple_GET_SIZE(headers)
        hparts = []
        hsize = raw_size(zig(nh))
        for k in range(nh):
            item = <object>PyTuple_GET_ITEM(headers, k)
            if type(item) is not tuple or PyTuple_GET_SIZE(item) != 2:
                return None
            hkey = <object>PyTuple_GET_ITEM(item, 0)
            hval = <object>PyTuple_GET_ITEM(item, 1)
            if type(hkey) is not str or (hval is not None and type(hval) is not bytes):
                return None
            try:
                hkey = PyUnicode_AsEncodedString(hkey, "utf-8", "surrogateescape")
            except UnicodeEncodeError:
                return None
            hparts.append(hkey)
            hparts.append(hval)
            hsize += field_size(hkey) + field_size(hval)
    # attributes byte, timestamp delta, offset delta, key, value, headers
    cdef Py_ssize_t body = (
        1 + raw_size(zig(td)) + raw_size(zig(od)) + field_size(key) + field_size(value) + hsize
    )
    cdef Py_ssize_t total = raw_size(zig(body)) + body
    cdef object out = PyBytes_FromStringAndSize(NULL, total)
    cdef unsigned char* o = <unsigned char*>PyBytes_AS_STRING(out)
    cdef Py_ssize_t i = put_raw(o, 0, zig(body))
    o[i] = 0
    i = put_raw(o, i + 1, zig(td))
    i = put_raw(o, i, zig(od))
    i = put_bytes(o, i, key)
    i = put_bytes(o, i, value)
    if hparts is None:
        o[i] = 0
        i += 1
    else:
        i = put_raw(o, i, zig(nh))
        for k in range(2 * nh):
            i = put_bytes(o, i, hparts[k])
    assert i == total
    return out


# -- message objects ---------------------------------------------------------------------------
# The consumer turns each Record into a slotted frozen dataclass (ConsumerMessage). In Python
# that is an allocation and one slot-descriptor call per field: 46% of a batches() read of
# 100 B records (cProfile, 201,000 records: 0.288 s of 0.62 s). Here the slots are written
# directly at the offsets their member descriptors name, after `slot_offsets` checked that
# every field is a plain object slot of a class using object.__new__, so the result is the
# object the pure builder makes (the differential test compares them field by field), and
# the object is left out of the cycle collector's tracking (see below).

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member


cdef int _T_OBJECT_EX = 16  # structmember.h: an object slot, AttributeError while unset
cdef int _READONLY = 1


def slot_offsets(object cls, tuple names):
    """The byte offsets of `cls`'s object slots called `names`, or None when any of them is
    not a plain writable object slot or `cls` has its own __new__."""
    import types
    cdef PyMemberDescrObject* d
    if cls.__new__ is not object.__new__ or not isinstance(cls, type):
        return None
    out = []
    for name in names:
        descr = cls.__dict__.get(name)
        if type(descr) is not types.MemberDescriptorType or descr.__objclass__ is not cls:
            return None
        d = <PyMemberDescrObject*><void*>descr
        if d.d_member.type != _T_OBJECT_EX or d.d_member.flags & _READONLY:
            return None
        out.append(d.d_member.offset)
    return tuple(out)


cdef inline void _store(object obj, Py_ssize_t offset, object value) noexcept:
    # The slot is empty (NULL) in an object fresh from object.__new__: take a reference
    # and write it; the object's dealloc releases it like any slot value.
    Py_INCREF(value)
    (<PyObject**>((<char*><void*>obj) + offset))[0] = <PyObject*><void*>value


def build_messages(object cls, tuple offsets, object topic, object partition,
                   list records, object kind):
    """One `cls` per Record, its eight slots (topic, partition, offset, key, value, headers,
    timestamp, kind) at `offsets`; None (the pure builder decides) for anything but exact
    Records."""
    cdef Py_ssize_t n = len(records)
    cdef Py_ssize_t i
    cdef object rec, m
    if len(offsets) != 8:
        return None
    for i in range(n):
        rec = records[i]
        if type(rec) is not Record or PyTuple_GET_SIZE(rec) != 5:
            return None
    cdef Py_ssize_t o_topic = offsets[0], o_part = offsets[1], o_off = offsets[2]
    cdef Py_ssize_t o_key = offsets[3], o_val = offsets[4], o_head = offsets[5]
    cdef Py_ssize_t o_ts = offsets[6], o_kind = offsets[7]
    cdef list out = []
    new = cls.__new__
    for i in range(n):
        rec = records[i]
        m = new(cls)
        _store(m, o_topic, topic)
        _store(m, o_part, partition)
        _store(m, o_off, <object>PyTuple_GET_ITEM(rec, 0))
        _store(m, o_key, <object>PyTuple_GET_ITEM(rec, 2))
        _store(m, o_val, <object>PyTuple_GET_ITEM(rec, 3))
        _store(m, o_head, <object>PyTuple_GET_ITEM(rec, 4))
        _store(m, o_ts, <object>PyTuple_GET_ITEM(rec, 1))
        _store(m, o_kind, kind)
        # Its slots hold only str, int, bytes, None and tuples of those, so it can be in
        # no reference cycle: the cycle collector need not track it (as the Records above).
        # Tracked, 200,000 of them alive made the collector's passes 40% of a consumer's
        # CPU (asyncio, 100 B records: 0.7-1.0 CPU s per million, 0.33-0.53 with gc off).
        PyObject_GC_UnTrack(m)
        PyList_Append(out, m)
    return out
