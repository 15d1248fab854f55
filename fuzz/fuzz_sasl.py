"""Fuzzing the SASL exchanges: the client's SCRAM and PLAIN, and the fake broker's server side.

The first byte picks a side; the rest is split at ``\\xfe\\xfe`` into messages:

- 0, 1 (SCRAM-SHA-256/512 client, ``kproto.engine.sasl.Scram``): client nonce, server-first,
  server-final. Hostile server messages may only raise ``AuthenticationError``; a completed
  exchange means the server proved it knows the password (the signature verified).
- 2 (PLAIN and OAUTHBEARER clients): the server's reply; PLAIN completes on any reply,
  OAUTHBEARER on an empty one and fails with ``AuthenticationError`` on an error document.
- 3, 4, 5 (the fake cluster's ``SaslServer``: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512): client
  messages. Hostile ones may only raise the fake's refusal (``_SaslFailure``, answered as
  SASL_AUTHENTICATION_FAILED); it may only accept a client that proved alice's password.

The user is the test harness's (alice / alice-secret), so the exchanges captured from the
real broker's SASL listener (fuzz/capture_corpus.py) are valid seeds.

    python fuzz/fuzz_sasl.py --seconds 600                  # atheris
    python fuzz/fuzz_sasl.py --hypothesis --examples 2000   # without atheris
"""

from __future__ import annotations

import random
import sys

from _harness import instrumented, run

with instrumented():
    from kproto.engine.sasl import OAuthBearer, Plain, Scram
    from kproto.errors import AuthenticationError
    from kproto.testing.fake.sasl import SaslServer, _SaslFailure

NAME = "sasl"
USER, PASSWORD = "alice", "alice-secret"
SEP = b"\xfe\xfe"
CLIENT_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SERVER_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _client(mechanism: str, parts: list[bytes]) -> None:
    nonce = parts[0].decode("ascii", "replace").replace(",", "")
    if not nonce:
        return
    client = Scram(mechanism, USER, PASSWORD, nonce)
    client.first()
    try:
        for challenge in parts[1:3]:
            reply = client.step(challenge)
            if reply is None:
                break
    except AuthenticationError:
        return


def _server(mechanism: str, parts: list[bytes]) -> None:
    server = SaslServer(mechanism, {USER: PASSWORD}, random.Random(7))
    try:
        for message in parts[:2]:
            server.step(message)
            if server.done:
                break
    except _SaslFailure:
        return
    if server.done and server.principal != USER:
        raise AssertionError(f"accepted principal {server.principal!r}")
    if server.done and mechanism == "PLAIN" and PASSWORD.encode() not in parts[0]:
        raise AssertionError("PLAIN accepted without the password")


def one_input(data: bytes) -> None:
    if not data:
        return
    side = data[0] % 6
    parts = data[1:].split(SEP)
    if side < 2:
        _client(CLIENT_MECHANISMS[side], parts)
    elif side == 2:
        plain = Plain(USER, PASSWORD)
        plain.first()
        if plain.step(parts[0]) is not None or not plain.done:
            raise AssertionError("PLAIN did not complete on the server's reply")
        bearer = OAuthBearer(lambda: "token", {"k": "v"})
        bearer.first()
        try:
            if bearer.step(parts[0]) is not None or not bearer.done or parts[0]:
                raise AssertionError("OAUTHBEARER completed on an error document")
        except AuthenticationError:
            if not parts[0]:
                raise
    else:
        _server(SERVER_MECHANISMS[side - 3], parts)


def exchange(mechanism: str, nonce: str, seed: int = 7) -> tuple[list[bytes], list[bytes]]:
    """A complete exchange between the client and the fake server: (client msgs, server msgs)."""
    client = Scram(mechanism, USER, PASSWORD, nonce)
    server = SaslServer(mechanism, {USER: PASSWORD}, random.Random(seed))
    sent = [client.first()]
    got: list[bytes] = []
    while True:
        challenge = server.step(sent[-1])
        got.append(challenge)
        reply = client.step(challenge)
        if reply is None:
            return sent, got
        sent.append(reply)


def seeds() -> list[bytes]:
    out = []
    for i, mechanism in enumerate(CLIENT_MECHANISMS):
        nonce = f"fuzznonce{i}"
        sent, got = exchange(mechanism, nonce)
        out.append(bytes([i]) + SEP.join([nonce.encode(), *got]))
        out.append(bytes([4 + i]) + SEP.join(sent))
        out.append(bytes([i]) + SEP.join([nonce.encode(), b"e=invalid-proof"]))
    out.append(bytes([2]) + b"")
    out.append(bytes([3]) + f"\0{USER}\0{PASSWORD}".encode())
    out.append(bytes([3]) + f"{USER}\0{USER}\0wrong".encode())
    return out


if __name__ == "__main__":
    run(NAME, one_input, seeds, __doc__ or "")
    sys.exit(0)
