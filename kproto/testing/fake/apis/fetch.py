"""Fetch (key 1): sessions, isolation levels, byte limits, and waiting for data.

Theory of operation: the session part follows Kafka's FetchManager (see
``fetch_sessions.py``): a full fetch (epoch 0, or -1 without a session) names every
partition and opens a new session when asked; an incremental one (positive epoch) adds,
updates and forgets partitions of its session and gets back only partitions with something
new (records, an error, a diverging epoch, or a changed high watermark or log start
offset, as Kafka's CachedPartition.maybeUpdateResponseData); an incremental request that
forgets every partition of its session closes it (the answer has session id 0).

Each partition is read by the rules of ReplicaManager.readFromLog and Partition:
UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID from version 13, where topics are named by
id), NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH against the
current leader epoch, OFFSET_OUT_OF_RANGE outside [log start, log end], a diverging epoch
(version 12+) when the last fetched epoch does not match the leader's epoch history. Reads
stop at the high watermark (read_uncommitted) or the last stable offset (read_committed,
which also returns the aborted transactions in the range read), take whole batches within
the partition's and the response's max bytes, and always the first batch of the response
even when larger (KIP-74).

When fewer than min_bytes are ready and nothing failed, the answer waits (``Pending``) and
is read again after every change, or at max_wait_ms.
"""

from __future__ import annotations

import uuid
from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import fetch_response as fr
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Pending, Request
from kproto.testing.fake.fetch_sessions import CachedPartition, FetchSession
from kproto.testing.fake.log import PartitionLog

_ZERO = uuid.UUID(int=0)


def _error(code: int, version: int) -> Any:
    return protocol.FetchResponse(error_code=code, session_id=0, responses=[])


def _wanted(req: Request, session: FetchSession | None, full: bool) -> list[CachedPartition]:
    cluster = req.cluster
    body = req.body
    by_id = req.version >= 13
    listed: list[CachedPartition] = []
    for t in body.topics:
        if by_id:
            topic = cluster.topic_by_id(t.topic_id)
            name, topic_id = (topic.name if topic else ""), t.topic_id
        else:
            topic = cluster.topics.get(t.topic)
            name, topic_id = t.topic, (topic.topic_id if topic else _ZERO)
        for p in t.partitions:
            listed.append(CachedPartition(
                name, topic_id, p.partition, p.fetch_offset,
                p.partition_max_bytes,
                p.current_leader_epoch if req.version >= 9 else -1))
    if session is None:
        return listed
    key = (lambda c: (str(c.topic_id), c.partition)) if by_id else (
        lambda c: (c.topic, c.partition))
    if full:
        session.partitions = {key(c): c for c in listed}
    else:
        for c in listed:
            old = session.partitions.get(key(c))
            if old is not None:
                if (old.fetch_offset, old.max_bytes, old.current_leader_epoch) != (
                        c.fetch_offset, c.max_bytes, c.current_leader_epoch):
                    req.cluster.changes += 1  # a waiting Fetch of this session reads them
                old.fetch_offset = c.fetch_offset
                old.max_bytes = c.max_bytes
                old.current_leader_epoch = c.current_leader_epoch
            else:
                session.partitions[key(c)] = c
        for t in body.forgotten_topics_data:
            for index in t.partitions:
                k = (str(t.topic_id), index) if by_id else (t.topic, index)
                session.partitions.pop(k, None)
    return list(session.partitions.values())


def _read(req: Request, wanted: list[CachedPartition],
          last_epochs: dict[tuple[str, int], int]) -> tuple[list[Any], int, bool]:
    cluster = req.cluster
    body = req.body
    version = req.version
    committed = version >= 4 and body.isolation_level == 1
    limit = body.max_bytes if version >= 3 else 0x7FFFFFFF
    total = 0
    failed = False
    out = []
    for c in wanted:
        pd = fr.PartitionData(partition_index=c.partition, error_code=codes.NONE,
                              high_watermark=-1, last_stable_offset=-1, log_start_offset=-1,
                              aborted_transactions=None, preferred_read_replica=-1,
                              records=b"")
        out.append((c, pd))
        p = cluster.partition(c.topic, c.partition) if c.topic else None
        code = codes.NONE
        if p is None:
            code = codes.UNKNOWN_TOPIC_ID if version >= 13 else codes.UNKNOWN_TOPIC_OR_PARTITION
        else:
            code = (req.partition_fault(c.topic, c.partition)
                    or cluster.leader_check(p, req.node)
                    or cluster.epoch_check(p, c.current_leader_epoch))
        if code or p is None:
            pd.error_code = code
            failed = True
            continue
        log = p.log
        pd.high_watermark = log.high_watermark
        pd.last_stable_offset = log.last_stable_offset
        pd.log_start_offset = log.log_start_offset
        if not log.log_start_offset <= c.fetch_offset <= log.log_end_offset:
            pd.error_code = codes.OFFSET_OUT_OF_RANGE
            failed = True
            continue
        last_epoch = last_epochs.get((c.topic, c.partition), -1)
        if version >= 12 and last_epoch >= 0:
            epoch, end = log.epoch_end_offset(last_epoch)
            if epoch < last_epoch or end < c.fetch_offset:
                pd.diverging_epoch = fr.EpochEndOffset(epoch=epoch, end_offset=end)
                failed = True
                continue
        upper = log.last_stable_offset if committed else log.high_watermark
        room = max(min(c.max_bytes, limit - total), 0)
        batches = log.read(c.fetch_offset, upper, room, min_one=total == 0)
        data = b"".join(batches)
        pd.records = data
        total += len(data)
        if committed:
            end_read = upper
            pd.aborted_transactions = [
                fr.AbortedTransaction(producer_id=pid, first_offset=first)
                for pid, first in log.aborted_between(c.fetch_offset, end_read)]
    return out, total, failed


def _logs(cluster: Any, wanted: list[CachedPartition]) -> list[Any]:
    """The logs of the partitions a Fetch reads (those that exist)."""
    out = []
    for c in wanted:
        p = cluster.partition(c.topic, c.partition) if c.topic else None
        if p is not None:
            out.append(p.log)
    return out


def _written(logs: list[Any]) -> int:
    n = 0
    for log in logs:
        n += log.writes
    return n


def handle(req: Request) -> Any:
    cluster = req.cluster
    body = req.body
    version = req.version
    sid, sepoch = (body.session_id, body.session_epoch) if version >= 7 else (0, -1)
    sessions = cluster.fetch_sessions
    session: FetchSession | None = None
    full = True
    if sepoch == -1:
        if sid:
            sessions.remove(sid)
    elif sepoch == 0:
        if sid:
            sessions.remove(sid)
        session = sessions.create(req.node, version >= 13)
    else:
        session = sessions.get(sid, req.node)
        if session is None:
            return _error(codes.FETCH_SESSION_ID_NOT_FOUND, version)
        if session.epoch != sepoch:
            return _error(codes.INVALID_FETCH_SESSION_EPOCH, version)
        if session.uses_topic_ids != (version >= 13):
            return _error(codes.FETCH_SESSION_TOPIC_ID_ERROR, version)
        full = False
    # The last fetched epoch of each partition named in this request (version 12+).
    last_epochs: dict[tuple[str, int], int] = {}
    if version >= 12:
        for t in body.topics:
            name = t.topic
            if version >= 13:
                found = cluster.topic_by_id(t.topic_id)
                name = found.name if found else ""
            for p in t.partitions:
                last_epochs[(name, p.partition)] = p.last_fetched_epoch
    wanted = _wanted(req, session, full)
    if session is not None and not full:
        if not session.partitions:
            sessions.remove(session.session_id)
            session = None
            full = True
        else:
            session.epoch = session.epoch + 1 if session.epoch < 0x7FFFFFFF else 1

    def finish(results: list[Any]) -> Any:
        topics: list[Any] = []
        by_topic: dict[tuple[str, uuid.UUID], Any] = {}
        for c, pd in results:
            # CachedPartition.maybeUpdateResponseData: records, a changed high watermark or
            # log start offset, an error or a diverging epoch make a partition respond.
            changed = bool(pd.records) or pd.error_code != 0 or pd.diverging_epoch.epoch >= 0 \
                or pd.high_watermark != c.high_watermark \
                or pd.log_start_offset != c.log_start_offset
            c.high_watermark = -1 if pd.error_code else pd.high_watermark
            c.log_start_offset = pd.log_start_offset
            if not full and not changed:
                continue
            key = (c.topic, c.topic_id)
            t = by_topic.get(key)
            if t is None:
                t = fr.FetchableTopicResponse(topic=c.topic, topic_id=c.topic_id,
                                              partitions=[])
                by_topic[key] = t
                topics.append(t)
            t.partitions.append(pd)
        return protocol.FetchResponse(error_code=codes.NONE,
                                      session_id=session.session_id if session else 0,
                                      responses=topics)

    results, total, failed = _read(req, wanted, last_epochs)
    if failed or total >= body.min_bytes or body.max_wait_ms <= 0 or not wanted:
        return finish(results)

    read_at = cluster.changes
    logs = _logs(cluster, wanted)
    wrote_at = _written(logs)
    deadline = req.now + body.max_wait_ms / 1000
    conn = req.conn

    def poll(now: float, expired: bool) -> Any:
        # Nothing the partitions' answer depends on has changed since they were read (and
        # no fault rule, which counts its uses, is set): the answer is still "not yet", or
        # at expiry the last read. Produce requests count in their partitions' logs only
        # (PartitionLog.writes), not in ``cluster.changes``: a write to another partition
        # wakes no re-read here. That cut the re-reads of waiting Fetches by a further half
        # (default simulation); answering an expiry from the last read saved another read
        # per long poll (21,600 of 45,400 reads in 30 simulated minutes of the default mix).
        nonlocal results, read_at, wrote_at, logs
        if (read_at == cluster.changes and not cluster.faults.rules
                and wrote_at == _written(logs)):
            if expired:
                return finish(results)
            conn.quiet = (read_at, PartitionLog.all_writes)
            conn.quiet_until = deadline
            return None
        results, total, failed = _read(req, wanted, last_epochs)
        if failed or total >= body.min_bytes or expired:
            return finish(results)
        read_at = cluster.changes
        logs = _logs(cluster, wanted)
        wrote_at = _written(logs)
        if not cluster.faults.rules:
            conn.quiet = (read_at, PartitionLog.all_writes)
            conn.quiet_until = deadline
        return None

    return Pending(poll, deadline)


def error_response(body: Any, version: int, code: int) -> Any:
    topics = []
    for t in body.topics:
        topics.append(fr.FetchableTopicResponse(
            topic=t.topic, topic_id=t.topic_id, partitions=[
                fr.PartitionData(partition_index=p.partition, error_code=code,
                                 high_watermark=-1, last_stable_offset=-1,
                                 log_start_offset=-1, records=b"")
                for p in t.partitions]))
    return protocol.FetchResponse(error_code=codes.NONE, session_id=0, responses=topics)


API = Api(apis.FETCH, 4, 17, handle, error_response)
