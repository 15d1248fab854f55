"""OffsetFetch (key 9): a group's committed offsets.

Theory of operation: up to version 7 one group (``group_id``, ``topics``; null topics: all
committed partitions), from version 8 a batch of groups. A partition with no committed
offset answers offset -1. With ``require_stable`` (version 7+), a partition with a
transactional offset still pending is UNSTABLE_OFFSET_COMMIT. Coordinator check per group.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import offset_fetch_response as of
from kproto.testing.fake import codes
from kproto.testing.fake.apis import _coord
from kproto.testing.fake.apis._base import Api, Request


def _offsets(req: Request, group_id: str,
             topics: list[tuple[str, list[int]]] | None) -> tuple[int, list[tuple[str, list[
                 tuple[int, int, int, str | None, int]]]]]:
    code = codes.INVALID_GROUP_ID if not group_id else _coord.check(req, _coord.GROUP,
                                                                    group_id)
    if code:
        return code, []
    group = req.cluster.groups.groups.get(group_id)
    committed = group.offsets if group is not None else {}
    pending = set()
    if group is not None and req.version >= 7 and req.body.require_stable:
        for offsets in group.pending_txn_offsets.values():
            pending |= set(offsets)
    if topics is None:
        names: dict[str, list[int]] = {}
        for (t, p) in sorted(committed):
            names.setdefault(t, []).append(p)
        topics = list(names.items())
    out = []
    for name, partitions in topics:
        rows: list[tuple[int, int, int, str | None, int]] = []
        for index in partitions:
            c = committed.get((name, index))
            err = codes.UNSTABLE_OFFSET_COMMIT if (name, index) in pending else codes.NONE
            if c is None or err:
                rows.append((index, -1, -1, "", err))
            else:
                rows.append((index, c.offset, c.leader_epoch, c.metadata, codes.NONE))
        out.append((name, rows))
    return codes.NONE, out


def handle(req: Request) -> Any:
    body = req.body
    if req.version >= 8:
        groups = []
        for g in body.groups:
            asked = None if g.topics is None else [(t.name, list(t.partition_indexes))
                                                   for t in g.topics]
            code, rows = _offsets(req, g.group_id, asked)
            groups.append(of.OffsetFetchResponseGroup(group_id=g.group_id, error_code=code,
                                                      topics=[
                of.OffsetFetchResponseTopics(name=n, partitions=[
                    of.OffsetFetchResponsePartitions(
                        partition_index=i, committed_offset=o, committed_leader_epoch=e,
                        metadata=m, error_code=err) for i, o, e, m, err in parts])
                for n, parts in rows]))
        return protocol.OffsetFetchResponse(groups=groups)
    asked = None if body.topics is None else [(t.name, list(t.partition_indexes))
                                              for t in body.topics]
    code, rows = _offsets(req, body.group_id, asked)
    if code:
        return error_response(body, req.version, code)
    return protocol.OffsetFetchResponse(error_code=codes.NONE, topics=[
        of.OffsetFetchResponseTopic(name=n, partitions=[
            of.OffsetFetchResponsePartition(partition_index=i, committed_offset=o,
                                            committed_leader_epoch=e, metadata=m,
                                            error_code=err) for i, o, e, m, err in parts])
        for n, parts in rows])


def error_response(body: Any, version: int, code: int) -> Any:
    if version >= 8:
        return protocol.OffsetFetchResponse(groups=[
            of.OffsetFetchResponseGroup(group_id=g.group_id, error_code=code, topics=[])
            for g in body.groups])
    return protocol.OffsetFetchResponse(error_code=code, topics=[
        of.OffsetFetchResponseTopic(name=t.name, partitions=[
            of.OffsetFetchResponsePartition(partition_index=i, committed_offset=-1,
                                            metadata="", error_code=code)
            for i in t.partition_indexes]) for t in body.topics or []])


API = Api(apis.OFFSET_FETCH, 1, 9, handle, error_response)
