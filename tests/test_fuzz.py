"""A short bounded pass of every fuzz target (fuzz/), the oracles' teeth, and the findings.

Each target runs its seeds (the committed corpus captured from a real broker, and the
inputs it builds) and a fixed number of seeded, atheris-free mutations of them: a few
seconds each. The long coverage-guided runs are documented in docs/fuzzing.md.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from types import ModuleType

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
if str(FUZZ) not in sys.path:
    sys.path.insert(0, str(FUZZ))

import _harness  # noqa: E402
import fuzz_fake  # noqa: E402
import fuzz_framer  # noqa: E402
import fuzz_protocol  # noqa: E402
import fuzz_records  # noqa: E402
import fuzz_sasl  # noqa: E402

from kproto import protocol  # noqa: E402
from kproto.engine.sasl import Scram  # noqa: E402
from kproto.errors import AuthenticationError, DecodeError  # noqa: E402

# Mutations per target: about two seconds each on one core of the CI machine.
PASSES: list[tuple[ModuleType, int]] = [
    (fuzz_protocol, 8000),
    (fuzz_records, 15000),
    (fuzz_sasl, 1500),
    (fuzz_framer, 2000),
    (fuzz_fake, 3000),
]


@pytest.mark.parametrize("module, count", PASSES, ids=[m.NAME for m, _ in PASSES])
def test_bounded_pass_finds_nothing(module: ModuleType, count: int) -> None:
    ran = _harness.bounded_pass(module.NAME, module.one_input, module.seeds, count)
    assert ran >= count + len(module.seeds())


@pytest.mark.parametrize("module", [m for m, _ in PASSES], ids=[m.NAME for m, _ in PASSES])
def test_the_committed_corpus_is_there(module: ModuleType) -> None:
    assert _harness.corpus(module.NAME), f"fuzz/corpus/{module.NAME}/ is empty"


def test_the_protocol_targets_cover_every_api_and_version_of_the_registry() -> None:
    for key, spec in protocol.API_SPECS.items():
        for version in range(spec.min_version, spec.max_version + 1):
            for kind in range(4):
                assert fuzz_protocol.target(fuzz_protocol.selector(kind, key, version)) == (
                    kind, key, version)
    # an unknown key still reaches a decoder
    assert fuzz_protocol.target(bytes([0, 255, 200]))[1] in protocol.API_SPECS


def test_the_hypothesis_fallback_runs() -> None:
    _harness.run_hypothesis(fuzz_sasl.NAME, fuzz_sasl.one_input, fuzz_sasl.seeds, 10)


# -- the oracles catch what they are for ------------------------------------------------------


def test_protocol_target_reports_a_decoder_raising_other_than_decode_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    spec = protocol.API_SPECS[3]

    def broken(cls: object, data: bytes, version: int) -> object:
        raise IndexError("broken decoder")

    monkeypatch.setattr(spec.response, "decode", classmethod(broken))
    with pytest.raises(IndexError):
        fuzz_protocol.one_input(fuzz_protocol.selector(2, 3, 1) + b"\x00")


def test_fake_target_reports_a_handler_that_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fuzz_fake._connect

    def broken(req: object) -> object:
        raise KeyError("broken handler")

    def connect(sasl: bool) -> object:
        cluster, conn = real(sasl)
        cluster.apis[3] = dataclasses.replace(cluster.apis[3], handle=broken)
        return cluster, conn

    monkeypatch.setattr(fuzz_fake, "_connect", connect)
    with pytest.raises(AssertionError, match="closed on a bug"):
        for seed in fuzz_fake.seeds():
            fuzz_fake.one_input(seed)


def test_sasl_target_reports_a_server_raising_other_than_its_refusal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kproto.testing.fake.sasl import SaslServer

    def broken(self: object, data: bytes) -> bytes:
        raise ValueError("broken PLAIN")

    monkeypatch.setattr(SaslServer, "_plain", broken)
    with pytest.raises(ValueError):
        fuzz_sasl.one_input(b"\x03\x00alice\x00alice-secret")


@pytest.mark.skipif(fuzz_records.batch_v2.decode_records_fast is None,
                    reason="the compiled record loops are not built")
def test_records_target_reports_compiled_and_pure_decoders_that_differ(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = fuzz_records._FAST[0]
    assert real is not None

    def wrong(*args: object) -> object:
        records = real(*args)
        return records[:-1] if records else records

    monkeypatch.setattr(fuzz_records, "_FAST", (wrong, fuzz_records._FAST[1]))
    with pytest.raises(AssertionError, match="differ"):
        for seed in fuzz_records.seeds():
            fuzz_records.one_input(seed)


# -- findings ---------------------------------------------------------------------------------


def test_a_response_that_does_not_decode_fails_its_request() -> None:
    """Found by fuzz_framer: the request was taken off the in-flight queue before its
    response decoded, so the close that followed never completed it (its caller waited
    forever). Input: a Metadata answer whose body is cut short."""
    good = fuzz_framer.seeds()[0]
    api_versions_end = 3 + 4 + int.from_bytes(good[3:7], "big")
    bad = protocol.encode_response(protocol.MetadataResponse(), 12, 1, 3)[:-3]
    bad = (len(bad) - 4).to_bytes(4, "big") + bad[4:]
    session = fuzz_framer.Session(0)
    session.feed(good[3:api_versions_end] + bad, 1.0)
    assert session.conn.state == session.conn.CLOSED
    assert isinstance(session.closed_with, DecodeError)
    assert session.completed == [0, 1, 2]
    fuzz_framer.one_input(good[:api_versions_end] + bad)


def test_scram_refuses_an_iteration_count_above_kafkas_maximum(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by fuzz_sasl: a server-first message with i=1000000000 made the client run a
    billion PBKDF2 rounds (minutes of CPU, the fuzzer's timeout). Refused before any round:
    PBKDF2 is never called with it."""
    import hashlib
    rounds: list[int] = []
    real = hashlib.pbkdf2_hmac

    def counting(name: str, password: bytes, salt: bytes, iterations: int,
                 dklen: int | None = None) -> bytes:
        rounds.append(iterations)
        return real(name, password, salt, iterations, dklen)
    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting)
    client = Scram("SCRAM-SHA-256", "alice", "alice-secret", "nonce")
    client.first()
    with pytest.raises(AuthenticationError, match="above the maximum 16384"):
        client.step(b"r=nonceSERVER,s=c2FsdA==,i=1000000000")
    assert rounds == []
    fuzz_sasl.one_input(b"\x00nonce\xfe\xfer=nonceSERVER,s=c2FsdA==,i=1000000000")
    # Kafka's own range still works
    client = Scram("SCRAM-SHA-256", "alice", "alice-secret", "nonce")
    client.first()
    assert client.step(b"r=nonceSERVER,s=c2FsdA==,i=16384") is not None
    assert rounds == [16384]


# -- the framers' refusals, as the targets' seeds exercise them --------------------------------


def _api_versions_answer() -> bytes:
    good = fuzz_framer.seeds()[0][3:]
    return good[:4 + int.from_bytes(good[:4], "big")]


def test_the_client_refuses_an_oversized_frame_from_its_size_alone() -> None:
    session = fuzz_framer.Session(0)
    session.feed(_api_versions_answer() + (fuzz_framer.MAX_FRAME + 1).to_bytes(4, "big"), 1.0)
    assert isinstance(session.closed_with, DecodeError)
    assert "max_frame_size of 65536 bytes" in str(session.closed_with)
    assert not session.conn._rbuf
    assert session.completed == [0, 1, 2]


def test_the_client_closes_on_a_response_with_a_wrong_correlation_id() -> None:
    session = fuzz_framer.Session(0)
    stray = protocol.encode_response(protocol.MetadataResponse(), 12, 9, 3)
    session.feed(_api_versions_answer() + stray, 1.0)
    assert isinstance(session.closed_with, DecodeError)
    assert "correlation id 9 does not match" in str(session.closed_with)
    assert session.completed == [0, 1, 2]


def test_the_fake_refuses_an_oversized_request_from_its_size_alone() -> None:
    _, conn = fuzz_fake._connect(False)
    conn.receive_data((fuzz_fake.MAX_REQUEST + 1).to_bytes(4, "big") + b"\0" * 100, 0.0)
    assert conn.closed and "outside 0..262144" in conn.close_reason
    assert not conn.data_to_send()
