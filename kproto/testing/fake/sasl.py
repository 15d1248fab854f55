"""Server side of SASL PLAIN and SCRAM-SHA-256/512 (RFC 4616, RFC 5802, RFC 7677).

Theory of operation: a ``SaslServer`` is made per connection after a SaslHandshake names a
mechanism the cluster enables; each SaslAuthenticate hands its bytes to ``step``, which
returns the challenge to send back, or raises ``_SaslFailure`` with Kafka's message (the
connection then answers SASL_AUTHENTICATION_FAILED and closes). ``done`` turns True with
``principal`` set once the client proved its password. SCRAM credentials are derived from
the cluster's plain passwords with a salt from the cluster's ``random.Random`` and 4096
iterations, as Kafka's default ``kafka-configs --add-config SCRAM-SHA-256=[password=...]``.
No clock, no IO.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from collections.abc import Mapping

__all__ = ["MECHANISMS", "SaslServer"]

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
ITERATIONS = 4096


class _SaslFailure(Exception):
    pass


def _attrs(message: str) -> dict[str, str]:
    out = {}
    for part in message.split(","):
        if len(part) >= 2 and part[1] == "=":
            out[part[0]] = part[2:]
    return out


class SaslServer:
    def __init__(self, mechanism: str, users: Mapping[str, str], rng: random.Random) -> None:
        self.mechanism = mechanism
        self.users = users
        self.rng = rng
        self.done = False
        self.principal: str | None = None
        self._state = "first"
        self._hash = hashlib.sha512 if mechanism == "SCRAM-SHA-512" else hashlib.sha256
        self._server_key = b""
        self._stored_key = b""
        self._auth_first = ""
        self._nonce = ""
        self._user = ""

    def step(self, data: bytes) -> bytes:
        if self.mechanism == "PLAIN":
            return self._plain(data)
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise _SaslFailure("Authentication failed: invalid SCRAM message") from None
        if self._state == "first":
            return self._scram_first(text)
        if self._state == "final":
            return self._scram_final(text)
        raise _SaslFailure("Authentication failed: unexpected SASL message")

    def _plain(self, data: bytes) -> bytes:
        parts = data.split(b"\0")
        if len(parts) != 3:
            raise _SaslFailure("Invalid SASL/PLAIN response: expected 3 tokens")
        authz, user, password = (p.decode("utf-8", "replace") for p in parts)
        if not user:
            raise _SaslFailure("Authentication failed: username not specified")
        if authz and authz != user:
            raise _SaslFailure(
                "Authentication failed: Client requested an authorization id that is "
                "different from username")
        expected = self.users.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise _SaslFailure("Authentication failed: Invalid username or password")
        self.done = True
        self.principal = user
        return b""

    def _scram_first(self, text: str) -> bytes:
        if not text.startswith(("n,", "y,")):
            raise _SaslFailure("Authentication failed: channel binding is not supported")
        bare = text.split(",", 2)[2] if text.count(",") >= 2 else ""
        attrs = _attrs(bare)
        user = attrs.get("n", "").replace("=2C", ",").replace("=3D", "=")
        client_nonce = attrs.get("r", "")
        password = self.users.get(user)
        if password is None or not client_nonce:
            raise _SaslFailure("Authentication failed: Invalid user credentials")
        salt = self.rng.getrandbits(128).to_bytes(16, "big")
        salted = hashlib.pbkdf2_hmac(self._hash().name, password.encode(), salt, ITERATIONS)
        client_key = hmac.new(salted, b"Client Key", self._hash).digest()
        self._stored_key = self._hash(client_key).digest()
        self._server_key = hmac.new(salted, b"Server Key", self._hash).digest()
        self._nonce = client_nonce + format(self.rng.getrandbits(96), "024x")
        server_first = (f"r={self._nonce},s={base64.b64encode(salt).decode()},"
                        f"i={ITERATIONS}")
        self._auth_first = bare + "," + server_first
        self._user = user
        self._state = "final"
        return server_first.encode()

    def _scram_final(self, text: str) -> bytes:
        attrs = _attrs(text)
        without_proof = text.rsplit(",p=", 1)[0]
        if attrs.get("r") != self._nonce:
            raise _SaslFailure("Authentication failed: Invalid nonce")
        try:
            proof = base64.b64decode(attrs.get("p", ""), validate=True)
        except ValueError:
            raise _SaslFailure("Authentication failed: Invalid client proof") from None
        auth_message = f"{self._auth_first},{without_proof}".encode()
        signature = hmac.new(self._stored_key, auth_message, self._hash).digest()
        if len(proof) != len(signature):
            raise _SaslFailure("Authentication failed: Invalid client final message")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(self._hash(client_key).digest(), self._stored_key):
            raise _SaslFailure("Authentication failed: Invalid client final message")
        server_sig = hmac.new(self._server_key, auth_message, self._hash).digest()
        self.done = True
        self.principal = self._user
        self._state = "done"
        return b"v=" + base64.b64encode(server_sig)
