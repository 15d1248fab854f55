"""DescribeClientQuotas (key 48): the client quotas matching a filter.

Theory of operation: Kafka's ClientQuotasImage.describe: each component matches one entity
type EXACT (match names the entity), DEFAULT (the default entity; match must be null) or
SPECIFIED (any named entity); a type filtered twice, an unknown match type or a DEFAULT
with a name is INVALID_REQUEST. ``strict`` also demands that the entity has no other
types. Quotas come from the cluster's ``client_quotas`` (see AlterClientQuotas).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import describe_client_quotas_response as dq
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request

EXACT, DEFAULT, SPECIFIED = 0, 1, 2


def _filter_error(components: list[Any]) -> str | None:
    seen: set[str] = set()
    for c in components:
        if c.entity_type in seen:
            return f"Entity type {c.entity_type} cannot appear more than once in the filter."
        seen.add(c.entity_type)
        if c.match_type not in (EXACT, DEFAULT, SPECIFIED):
            return f"Unknown match type {c.match_type}"
        if c.match_type == EXACT and c.match is None:
            return "Exact match requires a name"
        if c.match_type != EXACT and c.match is not None:
            return "Default and specified matches take no name"
    return None


def _matches(entity: dict[str, str | None], components: list[Any], strict: bool) -> bool:
    for c in components:
        if c.entity_type not in entity:
            return False
        name = entity[c.entity_type]
        if c.match_type == EXACT and name != c.match:
            return False
        if c.match_type == DEFAULT and name is not None:
            return False
        if c.match_type == SPECIFIED and name is None:
            return False
    return not strict or set(entity) == {c.entity_type for c in components}


def handle(req: Request) -> Any:
    components = list(req.body.components)
    message = _filter_error(components)
    if message:
        return protocol.DescribeClientQuotasResponse(error_code=codes.INVALID_REQUEST,
                                                     error_message=message, entries=None)
    entries = []
    for key, values in sorted(req.cluster.client_quotas.items(), key=repr):
        entity = dict(key)
        if not _matches(entity, components, req.body.strict):
            continue
        entries.append(dq.EntryData(
            entity=[dq.EntityData(entity_type=t, entity_name=n) for t, n in key],
            values=[dq.ValueData(key=k, value=v) for k, v in sorted(values.items())]))
    return protocol.DescribeClientQuotasResponse(error_code=codes.NONE, entries=entries)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.DescribeClientQuotasResponse(error_code=code, entries=None)


API = Api(apis.DESCRIBE_CLIENT_QUOTAS, 0, 1, handle, error_response)
