"""DescribeAcls (key 29): the fake cluster has no authorizer: SECURITY_DISABLED.

Theory of operation: as a Kafka broker without an authorizer, the whole request fails with
SECURITY_DISABLED and no resources.
Versions from 1: Kafka 4.0 removed version 0 (KIP-896).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.apis.create_acls import NO_AUTHORIZER


def handle(req: Request) -> Any:
    return error_response(req.body, req.version, codes.SECURITY_DISABLED)


def error_response(body: Any, version: int, code: int) -> Any:
    message = NO_AUTHORIZER if code == codes.SECURITY_DISABLED else None
    return protocol.DescribeAclsResponse(error_code=code, error_message=message, resources=[])


API = Api(apis.DESCRIBE_ACLS, 1, 3, handle, error_response)
