"""DeleteAcls (key 31): the fake cluster has no authorizer: every filter SECURITY_DISABLED.

Theory of operation: as a Kafka broker without an authorizer, each filter's result carries
SECURITY_DISABLED and matches nothing.
Versions from 1: Kafka 4.0 removed version 0 (KIP-896).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import delete_acls_response as da
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.apis.create_acls import NO_AUTHORIZER


def handle(req: Request) -> Any:
    return error_response(req.body, req.version, codes.SECURITY_DISABLED)


def error_response(body: Any, version: int, code: int) -> Any:
    message = NO_AUTHORIZER if code == codes.SECURITY_DISABLED else None
    return protocol.DeleteAclsResponse(filter_results=[
        da.DeleteAclsFilterResult(error_code=code, error_message=message, matching_acls=[])
        for _ in body.filters])


API = Api(apis.DELETE_ACLS, 1, 3, handle, error_response)
