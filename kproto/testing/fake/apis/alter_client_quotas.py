"""AlterClientQuotas (key 49): set or remove client quotas of user/client-id/ip entities.

Theory of operation: Kafka's ClientQuotaControlManager checks, per entry: entity types
other than user, client-id and ip, a type named twice, or ip combined with another type are
INVALID_REQUEST, and so is a key the entity's kind has no quota for; otherwise the ops
apply (``remove`` deletes the key) unless ``validate_only``. Quotas live in the cluster's
``client_quotas``, keyed by the entity's sorted (type, name) pairs (name None: the default
entity); an entity left without values goes.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import alter_client_quotas_response as aq
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request

Entity = tuple[tuple[str, str | None], ...]

CLIENT_KEYS = frozenset({"producer_byte_rate", "consumer_byte_rate", "request_percentage",
                         "controller_mutation_rate"})
IP_KEYS = frozenset({"connection_creation_rate"})


def entity_error(entity: list[tuple[str, str | None]]) -> str | None:
    """Why Kafka refuses this entity (None: it does not)."""
    types = [t for t, _ in entity]
    if not types:
        return "Invalid empty client quota entity"
    if len(set(types)) != len(types):
        return "Invalid quota entity: an entity type is named twice"
    for t in types:
        if t not in ("user", "client-id", "ip"):
            return f"Unhandled client quota entity type: {t}"
    if "ip" in types and len(types) > 1:
        return "Invalid quota entity combination: ip cannot be combined with other types"
    return None


def _apply(quotas: dict[Entity, dict[str, float]], e: Any, validate_only: bool) -> tuple[int, str | None]:
    pairs = [(c.entity_type, c.entity_name) for c in e.entity]
    message = entity_error(pairs)
    if message:
        return codes.INVALID_REQUEST, message
    keys = IP_KEYS if pairs[0][0] == "ip" else CLIENT_KEYS
    for op in e.ops:
        if op.key not in keys:
            return codes.INVALID_REQUEST, f"Unknown quota key {op.key}"
    if validate_only:
        return codes.NONE, None
    key: Entity = tuple(sorted(pairs, key=lambda p: p[0]))
    values = dict(quotas.get(key, {}))
    for op in e.ops:
        if op.remove:
            values.pop(op.key, None)
        else:
            values[op.key] = op.value
    if values:
        quotas[key] = values
    else:
        quotas.pop(key, None)
    return codes.NONE, None


def handle(req: Request) -> Any:
    out = []
    for e in req.body.entries:
        code, message = _apply(req.cluster.client_quotas, e, req.body.validate_only)
        out.append(aq.EntryData(error_code=code, error_message=message, entity=[
            aq.EntityData(entity_type=c.entity_type, entity_name=c.entity_name)
            for c in e.entity]))
    return protocol.AlterClientQuotasResponse(entries=out)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.AlterClientQuotasResponse(entries=[
        aq.EntryData(error_code=code, entity=[
            aq.EntityData(entity_type=c.entity_type, entity_name=c.entity_name)
            for c in e.entity]) for e in body.entries])


API = Api(apis.ALTER_CLIENT_QUOTAS, 0, 1, handle, error_response)
