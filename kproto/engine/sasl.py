"""SASL client mechanisms: PLAIN, SCRAM-SHA-256/512 (RFC 5802, RFC 7677) and OAUTHBEARER.

Theory of operation: a mechanism is a small state machine that turns the server's challenge
bytes into the client's next response. The connection sends ``first()`` in the first
SaslAuthenticate request and feeds each reply to ``step()`` until ``done``; any problem
(a bad server nonce, a wrong server signature, an error from the server) raises
:class:`kproto.errors.AuthenticationError`. Nonces come from the engine's injected RNG, so a
test with a seeded RNG sees the same exchange every time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from collections.abc import Callable, Mapping

from kproto.errors import AuthenticationError

__all__ = ["Mechanism", "OAuthBearer", "Plain", "Scram", "make_mechanism"]


class Mechanism:
    """One authentication exchange."""

    name = ""
    done = False

    def first(self) -> bytes:
        raise NotImplementedError

    def step(self, challenge: bytes) -> bytes | None:
        """The response to ``challenge``, or None when the exchange is complete."""
        raise NotImplementedError


class Plain(Mechanism):
    name = "PLAIN"

    def __init__(self, username: str, password: str) -> None:
        self._message = b"\0" + username.encode() + b"\0" + password.encode()

    def first(self) -> bytes:
        return self._message

    def step(self, challenge: bytes) -> bytes | None:
        self.done = True
        return None


class Scram(Mechanism):
    """RFC 5802 client, without channel binding (gs2 header ``n,,``)."""

    MIN_ITERATIONS = 4096
    MAX_ITERATIONS = 16384
    """Kafka stores SCRAM credentials with 4096-16384 iterations; a server asking for more
    would only make the client burn CPU (a billion iterations is minutes of PBKDF2)."""

    def __init__(self, name: str, username: str, password: str, nonce: str) -> None:
        self.name = name
        self._hash = hashlib.sha256 if name == "SCRAM-SHA-256" else hashlib.sha512
        self._password = password.encode()
        self._nonce = nonce
        user = username.replace("=", "=3D").replace(",", "=2C")
        self._client_first_bare = f"n={user},r={nonce}"
        self._server_signature = b""
        self._state = "first"

    def first(self) -> bytes:
        self._state = "final"
        return ("n,," + self._client_first_bare).encode()

    def step(self, challenge: bytes) -> bytes | None:
        try:
            text = challenge.decode()
        except UnicodeDecodeError:
            raise AuthenticationError(f"{self.name}: server message is not UTF-8") from None
        if self._state == "final":
            self._state = "verify"
            return self._client_final(text)
        if self._state == "verify":
            self._verify(text)
            self._state = "done"
            self.done = True
            return None
        raise AuthenticationError(f"{self.name}: unexpected server message after completion")

    def _client_final(self, server_first: str) -> bytes:
        attrs = _scram_attributes(server_first)
        if "e" in attrs:
            raise AuthenticationError(f"{self.name}: server error {attrs['e']}")
        try:
            server_nonce, salt_b64, iterations_text = attrs["r"], attrs["s"], attrs["i"]
        except KeyError as exc:
            raise AuthenticationError(
                f"{self.name}: server-first-message lacks {exc.args[0]!r}") from None
        if not server_nonce.startswith(self._nonce) or len(server_nonce) <= len(self._nonce):
            raise AuthenticationError(f"{self.name}: server nonce does not extend the client's")
        try:
            salt = base64.b64decode(salt_b64, validate=True)
            iterations = int(iterations_text)
        except ValueError:
            raise AuthenticationError(f"{self.name}: bad salt or iteration count") from None
        if iterations < self.MIN_ITERATIONS:
            raise AuthenticationError(
                f"{self.name}: {iterations} iterations is below the minimum {self.MIN_ITERATIONS}")
        if iterations > self.MAX_ITERATIONS:
            raise AuthenticationError(
                f"{self.name}: {iterations} iterations is above the maximum {self.MAX_ITERATIONS}")
        salted = hashlib.pbkdf2_hmac(self._hash().name, self._password, salt, iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = self._hash(client_key).digest()
        without_proof = f"c=biws,r={server_nonce}"
        auth_message = f"{self._client_first_bare},{server_first},{without_proof}".encode()
        signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def _verify(self, server_final: str) -> None:
        attrs = _scram_attributes(server_final)
        if "e" in attrs:
            raise AuthenticationError(f"{self.name}: server error {attrs['e']}")
        try:
            signature = base64.b64decode(attrs["v"], validate=True)
        except (KeyError, ValueError):
            raise AuthenticationError(f"{self.name}: server-final-message has no signature") from None
        if not hmac.compare_digest(signature, self._server_signature):
            raise AuthenticationError(f"{self.name}: server signature does not verify")

    def _hmac(self, key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, self._hash).digest()


class OAuthBearer(Mechanism):
    """RFC 7628 client: one message carrying the bearer token and extensions."""

    name = "OAUTHBEARER"

    def __init__(self, token_provider: Callable[[], str], extensions: Mapping[str, str]) -> None:
        self._provider = token_provider
        self._extensions = dict(extensions)
        self._failed = False

    def first(self) -> bytes:
        token = self._provider()
        if not isinstance(token, str) or not token:
            raise AuthenticationError("OAUTHBEARER token provider returned no token")
        ext = "".join(f"{k}={v}\x01" for k, v in sorted(self._extensions.items()))
        return f"n,,\x01auth=Bearer {token}\x01{ext}\x01".encode()

    def step(self, challenge: bytes) -> bytes | None:
        if challenge:
            # The server sent an error document; RFC 7628 says answer with a lone 0x01 and
            # the server then fails the exchange. We fail here with its text instead.
            raise AuthenticationError(
                f"OAUTHBEARER rejected: {challenge.decode(errors='replace')}")
        self.done = True
        return None


def make_mechanism(name: str, username: str, password: str, rng: random.Random,
                   token_provider: Callable[[], str] | None = None,
                   extensions: Mapping[str, str] | None = None) -> Mechanism:
    if name == "PLAIN":
        return Plain(username, password)
    if name in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        nonce = base64.b64encode(rng.getrandbits(8 * 24).to_bytes(24, "big")).decode()
        nonce = nonce.replace("=", "").replace(",", "")
        return Scram(name, username, password, nonce)
    if name == "OAUTHBEARER":
        if token_provider is None:
            raise AuthenticationError("OAUTHBEARER needs a token provider")
        return OAuthBearer(token_provider, extensions or {})
    raise AuthenticationError(f"unsupported SASL mechanism {name!r}")


def _scram_attributes(message: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if sep and len(key) == 1:
            attrs.setdefault(key, value)
    return attrs
