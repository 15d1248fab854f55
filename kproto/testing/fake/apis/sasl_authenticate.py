"""SaslAuthenticate (key 36): the SASL exchange, one token per request.

Theory of operation: without a prior handshake the answer is ILLEGAL_SASL_STATE; each token
goes to the connection's ``SaslServer``; a failure is SASL_AUTHENTICATION_FAILED with
Kafka's message, and the connection closes after that answer, as Kafka's
SaslServerAuthenticator does. Once the exchange completes the connection serves every API.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.sasl import _SaslFailure


def handle(req: Request) -> Any:
    conn = req.conn
    server = conn.sasl
    if server is None or conn.authenticated:
        conn.close_after_answer()
        return protocol.SaslAuthenticateResponse(error_code=codes.ILLEGAL_SASL_STATE,
                                                 auth_bytes=b"")
    try:
        challenge = server.step(req.body.auth_bytes)
    except _SaslFailure as exc:
        conn.close_after_answer()
        return protocol.SaslAuthenticateResponse(
            error_code=codes.SASL_AUTHENTICATION_FAILED, error_message=str(exc),
            auth_bytes=b"")
    if server.done:
        conn.authenticated = True
        conn.principal = server.principal
    return protocol.SaslAuthenticateResponse(error_code=codes.NONE, auth_bytes=challenge,
                                             session_lifetime_ms=0)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.SaslAuthenticateResponse(error_code=code, auth_bytes=b"")


API = Api(apis.SASL_AUTHENTICATE, 0, 2, handle, error_response)
