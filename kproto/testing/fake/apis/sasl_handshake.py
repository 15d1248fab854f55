"""SaslHandshake (key 17), version 1: pick the mechanism for SaslAuthenticate.

Theory of operation: a mechanism the cluster enables starts a ``SaslServer`` on the
connection; any other is UNSUPPORTED_SASL_MECHANISM with the enabled list; a second
handshake on a connection is ILLEGAL_SASL_STATE. On a cluster without SASL users the
answer is ILLEGAL_SASL_STATE (the listener is PLAINTEXT). Version 0 (raw SASL tokens after
the handshake) is not served.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.sasl import SaslServer


def handle(req: Request) -> Any:
    cluster = req.cluster
    conn = req.conn
    enabled = list(cluster.sasl_mechanisms) if cluster.sasl_users else []
    if not cluster.sasl_users or conn.sasl is not None or conn.authenticated:
        return protocol.SaslHandshakeResponse(error_code=codes.ILLEGAL_SASL_STATE,
                                              mechanisms=enabled)
    if req.body.mechanism not in enabled:
        return protocol.SaslHandshakeResponse(error_code=codes.UNSUPPORTED_SASL_MECHANISM,
                                              mechanisms=enabled)
    conn.sasl = SaslServer(req.body.mechanism, cluster.sasl_users, cluster.rng)
    return protocol.SaslHandshakeResponse(error_code=codes.NONE, mechanisms=enabled)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.SaslHandshakeResponse(error_code=code, mechanisms=[])


API = Api(apis.SASL_HANDSHAKE, 1, 1, handle, error_response)
