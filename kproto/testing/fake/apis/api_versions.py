"""ApiVersions (key 18): the versions this fake cluster serves.

Theory of operation: answers with every API the cluster has a module for, at the versions
that module implements. A version above those is answered (by the connection, see
``server.py``) at version 0 with UNSUPPORTED_VERSION and ApiVersions' own range, as Kafka
does so that any client can read it; from version 3 a client software name or version that
does not match Kafka's pattern is INVALID_REQUEST.
"""

from __future__ import annotations

import re
from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request

_SOFTWARE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$")


def handle(req: Request) -> Any:
    if req.version >= 3 and not (_SOFTWARE.match(req.body.client_software_name)
                                 and _SOFTWARE.match(req.body.client_software_version)):
        return error_response(req.body, req.version, codes.INVALID_REQUEST)
    return req.cluster.api_versions_response()


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.ApiVersionsResponse(error_code=code, api_keys=[])


API = Api(apis.API_VERSIONS, 0, 4, handle, error_response)
