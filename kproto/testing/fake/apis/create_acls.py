"""CreateAcls (key 30): the fake cluster has no authorizer, so every creation fails.

Theory of operation: a Kafka broker without ``authorizer.class.name`` answers each creation
with SECURITY_DISABLED ("No Authorizer is configured."); so does the fake.
Versions from 1: Kafka 4.0 removed version 0 (KIP-896).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import create_acls_response as ca
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request

NO_AUTHORIZER = "No Authorizer is configured."


def handle(req: Request) -> Any:
    return error_response(req.body, req.version, codes.SECURITY_DISABLED)


def error_response(body: Any, version: int, code: int) -> Any:
    message = NO_AUTHORIZER if code == codes.SECURITY_DISABLED else None
    return protocol.CreateAclsResponse(results=[
        ca.AclCreationResult(error_code=code, error_message=message) for _ in body.creations])


API = Api(apis.CREATE_ACLS, 1, 3, handle, error_response)
