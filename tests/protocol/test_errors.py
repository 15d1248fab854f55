"""kproto.errors: one class per Kafka error code, plus kproto's own errors."""

from __future__ import annotations

import pickle

import pytest

import kproto.errors as errors
from codegen import ERROR_TABLE
from codegen.emit_errors import load_error_codes
from kproto.errors import (
    CorruptMessageError,
    CorruptRecordError,
    DecodeError,
    InvalidTopicError,
    KafkaError,
    KprotoError,
    NoCommonVersionError,
    NotLeaderOrFollowerError,
    UnknownKafkaError,
    UnknownServerError,
    error_for_code,
    raise_for_code,
)

TABLE = load_error_codes(ERROR_TABLE)


def test_every_code_of_the_table_has_its_class() -> None:
    for row in TABLE:
        if row.code == 0:
            continue
        cls = error_for_code(row.code)
        assert issubclass(cls, KafkaError)
        assert (cls.code, cls.name, cls.retriable, cls.java_exception) == (
            row.code,
            row.name,
            row.retriable,
            row.java_exception,
        )
        assert cls.__name__ in errors.__all__
        assert getattr(errors, cls.__name__) is cls
    assert len(TABLE) > 120


def test_names_follow_the_table() -> None:
    assert error_for_code(6) is NotLeaderOrFollowerError
    assert error_for_code(2) is CorruptMessageError
    assert error_for_code(17) is InvalidTopicError  # INVALID_TOPIC_EXCEPTION
    assert error_for_code(-1) is UnknownServerError  # UNKNOWN_SERVER_ERROR
    assert error_for_code(56).__name__ == "KafkaStorageError"
    assert NotLeaderOrFollowerError.retriable is True
    assert NotLeaderOrFollowerError.java_exception == "NotLeaderOrFollowerException"
    assert errors.OffsetMetadataTooLargeError.java_exception is None


def test_unknown_codes_keep_their_code() -> None:
    cls = error_for_code(9999)
    assert issubclass(cls, UnknownKafkaError)
    assert cls.code == 9999
    assert error_for_code(9999) is cls
    assert error_for_code(-77).code == -77
    with pytest.raises(ValueError):
        error_for_code(0)


def test_raise_for_code() -> None:
    raise_for_code(0)
    raise_for_code(0, "ignored")
    with pytest.raises(NotLeaderOrFollowerError) as info:
        raise_for_code(6, "leader moved")
    assert info.value.message == "leader moved"
    assert str(info.value) == "NOT_LEADER_OR_FOLLOWER (error code 6): leader moved"
    with pytest.raises(KafkaError) as generic:
        raise_for_code(12345)
    assert generic.value.code == 12345
    assert str(generic.value) == "UNKNOWN_ERROR_CODE_12345 (error code 12345)"


def test_hierarchy_and_exports() -> None:
    for name in (
        "DecodeError",
        "CorruptRecordError",
        "EncodeError",
        "ConfigurationError",
        "ClientTimeoutError",
        "ClosedError",
        "NoCommonVersionError",
        "BrokerConnectionError",
        "AuthenticationError",
        "KafkaError",
        "KprotoError",
        "error_for_code",
        "raise_for_code",
    ):
        assert name in errors.__all__
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, KprotoError)
    assert issubclass(CorruptRecordError, DecodeError)
    assert not hasattr(errors, "NoneError")


def test_decode_error_message_and_path() -> None:
    err = DecodeError("bad length", offset=12)
    err.prepend_path("[3]")
    err.prepend_path("topics")
    err.message_name, err.version = "MetadataResponse", 9
    assert err.field_path == "topics[3]"
    assert str(err) == "MetadataResponse v9, field topics[3], byte 12: bad length"
    assert str(CorruptRecordError("crc mismatch")) == "crc mismatch"


def test_no_common_version_names_both_ranges() -> None:
    err = NoCommonVersionError(
        api_key=3, api_name="Metadata", client_versions=(0, 12), broker_versions=(13, 15)
    )
    assert "Metadata (key 3)" in str(err)
    assert "0-12" in str(err) and "13-15" in str(err)
    assert "does not support" in str(
        NoCommonVersionError(api_name="Fetch", client_versions=(0, 17))
    )
    assert str(NoCommonVersionError("custom")) == "custom"


def test_kafka_errors_pickle() -> None:
    err = pickle.loads(pickle.dumps(NotLeaderOrFollowerError("x")))
    assert isinstance(err, NotLeaderOrFollowerError)
    assert err.message == "x"
