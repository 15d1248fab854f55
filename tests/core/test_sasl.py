"""SASL mechanisms against published vectors (RFC 7677) and their failure modes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random

import pytest

from kproto.engine.sasl import OAuthBearer, Plain, Scram, make_mechanism
from kproto.errors import AuthenticationError


def test_scram_sha256_matches_rfc7677_example() -> None:
    mech = Scram("SCRAM-SHA-256", "user", "pencil", "rOprNGfwEbeRWgbNEkqO")
    assert mech.first() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    server_first = (b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    final = mech.step(server_first)
    assert final == (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                     b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    assert mech.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") is None
    assert mech.done


def test_scram_rejects_a_forged_server_signature() -> None:
    mech = Scram("SCRAM-SHA-256", "user", "pencil", "rOprNGfwEbeRWgbNEkqO")
    mech.first()
    mech.step(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
              b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    with pytest.raises(AuthenticationError, match="signature"):
        mech.step(b"v=" + base64.b64encode(b"x" * 32))


@pytest.mark.parametrize("server_first, message", [
    (b"r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce"),
    (b"r=abcXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100", "iterations"),
    (b"r=abcXYZ,i=4096", "lacks"),
    (b"e=invalid-proof", "invalid-proof"),
])
def test_scram_rejects_bad_server_first_messages(server_first: bytes, message: str) -> None:
    mech = Scram("SCRAM-SHA-512", "u", "p", "abc")
    mech.first()
    with pytest.raises(AuthenticationError, match=message):
        mech.step(server_first)


def test_scram_sha512_proof_is_rfc5802_arithmetic() -> None:
    # Recompute the proof independently from the RFC 5802 definitions.
    mech = Scram("SCRAM-SHA-512", "alice", "alice-secret", "clientnonce")
    mech.first()
    salt = b"0123456789abcdef"
    server_first = f"r=clientnonceSERVER,s={base64.b64encode(salt).decode()},i=4096"
    final = mech.step(server_first.encode())
    assert final is not None
    salted = hashlib.pbkdf2_hmac("sha512", b"alice-secret", salt, 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha512).digest()
    stored = hashlib.sha512(client_key).digest()
    auth = f"n=alice,r=clientnonce,{server_first},c=biws,r=clientnonceSERVER".encode()
    sig = hmac.new(stored, auth, hashlib.sha512).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig, strict=True))
    assert final.endswith(b",p=" + base64.b64encode(proof))


def test_scram_escapes_username_and_nonce_comes_from_the_injected_rng() -> None:
    a = make_mechanism("SCRAM-SHA-256", "a=b,c", "pw", random.Random(7))
    b = make_mechanism("SCRAM-SHA-256", "a=b,c", "pw", random.Random(7))
    c = make_mechanism("SCRAM-SHA-256", "a=b,c", "pw", random.Random(8))
    assert a.first() == b.first() != c.first()
    assert a.first().startswith(b"n,,n=a=3Db=2Cc,r=")


def test_plain_and_oauthbearer_messages() -> None:
    assert Plain("alice", "secret").first() == b"\0alice\0secret"
    mech = OAuthBearer(lambda: "tok", {"traceId": "1"})
    assert mech.first() == b"n,,\x01auth=Bearer tok\x01traceId=1\x01\x01"
    assert mech.step(b"") is None and mech.done
    with pytest.raises(AuthenticationError, match="invalid_token"):
        OAuthBearer(lambda: "tok", {}).step(b'{"status":"invalid_token"}')
