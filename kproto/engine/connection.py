"""One broker connection: framing, correlation ids, version negotiation, SASL.

Theory of operation: a :class:`BrokerConnection` is created when the engine asks its
transport to open a socket. It owns the bytes in both directions and the requests on the
wire. Inputs: ``made()`` (the socket is open), ``receive()`` (bytes arrived), ``lost()``
(the socket closed or failed), ``submit()`` (a request to send) and its timers. Outputs:
bytes from ``data_to_send()``, response callbacks on each :class:`Request`, and two reports
to its owner: ready (ApiVersions done and SASL passed) and closed (with the reason).

On open it sends ApiVersions (newest version, falling back to what the broker says it
accepts), then, with SASL, SaslHandshake and SaslAuthenticate rounds. Only then are queued
requests written, at most ``max_in_flight`` at a time. Responses must come back in request
order; a correlation id that does not match the oldest request in flight, a frame larger
than the cap, or bytes that do not decode close the connection, failing everything on it.
Signs that the listener speaks another security protocol (a TLS record where the ApiVersions
response belongs; a SASL listener dropping the connection at the first request after
ApiVersions, twice in a row, since a dying broker can do it once) close it with an
AuthenticationError that names ``security_protocol``.
A request's deadline fires through the engine's timers; a timeout closes the connection,
because the late response could no longer be matched.
"""

from __future__ import annotations

import logging
import random
import struct
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from kproto import protocol
from kproto.config import Config
from kproto.engine.sasl import Mechanism, make_mechanism
from kproto.engine.timers import TimerHandle, Timers
from kproto.errors import (
    AuthenticationError,
    BrokerConnectionError,
    ClientTimeoutError,
    DecodeError,
    KprotoError,
    NoCommonVersionError,
    UnsupportedVersionError,
    error_for_code,
)
from kproto.protocol.apis import API_VERSIONS, SASL_AUTHENTICATE, SASL_HANDSHAKE

__all__ = ["BrokerConnection", "BrokerMetrics", "DroppedAfterApiVersions", "Request"]

log = logging.getLogger("kproto.connection")

UNSUPPORTED_VERSION = UnsupportedVersionError.code
_INT32 = struct.Struct(">i")
CLOSED_BY_BROKER = "connection closed by the broker"

OnDone = Callable[[Any, "BaseException | None"], None]


class DroppedAfterApiVersions(BrokerConnectionError):
    """The broker answered ApiVersions, then closed the connection at the next request: a
    SASL listener does so to a client that does not authenticate, and so may a dying broker."""


class Request:
    """A request the engine wants answered: built per negotiated version, completed once."""

    __slots__ = ("api_key", "build", "correlation_id", "deadline", "done", "expect_response",
                 "max_version", "min_version", "on_done", "sent_at", "timer", "version")

    def __init__(self, api_key: int, build: Callable[[int], Any], on_done: OnDone,
                 deadline: float, *, expect_response: bool = True,
                 min_version: int | None = None, max_version: int | None = None) -> None:
        self.api_key = api_key
        self.build = build
        self.on_done = on_done
        self.deadline = deadline
        self.expect_response = expect_response
        self.min_version = min_version
        self.max_version = max_version
        self.version = -1
        self.correlation_id = -1
        self.sent_at = 0.0
        self.timer: TimerHandle | None = None
        self.done = False

    def complete(self, response: Any, error: BaseException | None) -> None:
        if self.done:
            return
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.on_done(response, error)

    def __repr__(self) -> str:
        name = protocol.API_SPECS[self.api_key].name if self.api_key in protocol.API_SPECS else "?"
        return f"<Request {name} v{self.version} corr={self.correlation_id}>"


class BrokerMetrics:
    """Cheap per-broker counters, updated once per request, never per record."""

    __slots__ = ("bytes_received", "bytes_sent", "connects", "errors", "latency_max",
                 "latency_total", "requests", "responses")

    def __init__(self) -> None:
        self.requests = 0
        self.responses = 0
        self.errors = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.latency_total = 0.0
        self.latency_max = 0.0
        self.connects = 0

    def snapshot(self) -> dict[str, float]:
        avg = self.latency_total / self.responses if self.responses else 0.0
        return {
            "requests": self.requests, "responses": self.responses, "errors": self.errors,
            "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received,
            "latency_avg": avg, "latency_max": self.latency_max, "connects": self.connects,
        }


class BrokerConnection:
    """The state of one connection to one broker."""

    CONNECTING = "connecting"
    NEGOTIATING = "negotiating"
    AUTHENTICATING = "authenticating"
    READY = "ready"
    CLOSED = "closed"

    def __init__(self, conn_id: int, node_id: int, host: str, port: int, config: Config,
                 rng: random.Random, timers: Timers, metrics: BrokerMetrics, now: float,
                 on_ready: Callable[[BrokerConnection], None],
                 on_closed: Callable[[BrokerConnection, KprotoError], None],
                 writable: set[int] | None = None) -> None:
        self.conn_id = conn_id
        self.node_id = node_id
        self.host = host
        self.port = port
        self.config = config
        self.state = self.CONNECTING
        self.api_versions: dict[int, tuple[int, int]] = {}
        self.last_activity = now
        self.error: KprotoError | None = None
        self._rng = rng
        self._timers = timers
        self._metrics = metrics
        self._on_ready = on_ready
        self._on_closed = on_closed
        self._rbuf = bytearray()
        self._wbuf = bytearray()
        self._writable = writable if writable is not None else set()
        """The engine's set of connection ids with bytes waiting: this one's id is added when
        its write buffer fills, so the engine polls only those (see
        ``ClientCore.pending_writes``)."""
        self._in_flight: deque[Request] = deque()
        self._queue: deque[Request] = deque()
        self._next_corr = 0
        self._answered = 0  # responses to requests sent once ready
        self.dropped_after_api_versions_before = False
        """Set by the engine when this broker's previous connection ended as
        :class:`DroppedAfterApiVersions`: a second such drop is a protocol mismatch."""
        self._sasl: Mechanism | None = None
        self._reauth_due = False
        self._reauth_timer: TimerHandle | None = None
        self._connect_timer: TimerHandle | None = timers.call_at(
            now + config.connect_timeout, self._connect_timed_out)
        metrics.connects += 1

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def pending(self) -> int:
        return len(self._in_flight) + len(self._queue)

    def __repr__(self) -> str:
        return (f"<BrokerConnection #{self.conn_id} node={self.node_id} {self.address} "
                f"{self.state} in_flight={len(self._in_flight)} queued={len(self._queue)}>")

    # -- inputs ------------------------------------------------------------------------

    def made(self, now: float) -> None:
        if self.state != self.CONNECTING:
            return
        self.state = self.NEGOTIATING
        self.last_activity = now
        self._send_api_versions(now, protocol.API_SPECS[API_VERSIONS].max_version)

    def lost(self, error: str | None, now: float, *, tls_failed: bool = False) -> None:
        if self.state == self.CLOSED:
            return
        if tls_failed:
            # As in the Java client, a failed TLS handshake is an authentication failure:
            # a certificate that does not verify will not verify on the next attempt either.
            self._close(AuthenticationError(
                f"{self.address}: TLS handshake failed: {error or 'unknown reason'}"), now)
            return
        reason = error or CLOSED_BY_BROKER
        if self.state == self.READY and not self._answered and self._in_flight \
                and reason == CLOSED_BY_BROKER and not self.config.uses_sasl:
            # A SASL listener answers ApiVersions, then drops a client that does not
            # authenticate at its first other request. A broker that dies at that moment
            # looks the same once, so only a second such drop in a row is taken as a
            # mismatch; the first is an ordinary (retried) connection error with a hint.
            what = "the broker closed the connection at the first request after ApiVersions"
            expected = "SASL_PLAINTEXT or SASL_SSL"
            if self.dropped_after_api_versions_before:
                self._close(self._mismatch(what, expected), now)
            else:
                self._close(DroppedAfterApiVersions(
                    f"{self.address} (connected): {what}; if this repeats, the listener "
                    f"likely expects {expected} (check security_protocol)"), now)
            return
        where = "connecting" if self.state == self.CONNECTING else "connected"
        self._close(BrokerConnectionError(f"{self.address} ({where}): {reason}"), now)

    def receive(self, data: bytes | bytearray, now: float) -> None:
        if self.state == self.CLOSED or not data:
            return
        self.last_activity = now
        self._metrics.bytes_received += len(data)
        buf = self._rbuf
        # With nothing buffered (the usual case: a chunk holds whole frames) the frames are
        # cut from ``data`` itself and only a partial tail is kept: no append of every chunk
        # to the buffer and no delete from its front (own time 0.134 s -> 0.102 s over the
        # 26,400 chunks of the simulator's 30-minute mixed run, cProfile).
        view: bytes | bytearray
        if buf:
            buf += data
            view = buf
        else:
            view = data
        pos = 0
        end = len(view)
        cap = self.config.max_frame_size
        if self.state == self.NEGOTIATING and end >= 2 and view[0] in (0x15, 0x16) \
                and view[1] == 0x03 and not self.config.uses_tls:
            # A TLS record (alert or handshake) where the ApiVersions response should be.
            self._close(self._mismatch("the broker answered with TLS", "SSL or SASL_SSL"), now)
            return
        while end - pos >= 4:
            (size,) = _INT32.unpack_from(view, pos)
            if size < 0 or size > cap:
                self._close(DecodeError(
                    f"{self.address}: response frame of {size} bytes exceeds the "
                    f"max_frame_size of {cap} bytes"), now)
                return
            if end - pos - 4 < size:
                break
            frame = bytes(view[pos + 4:pos + 4 + size])
            pos += 4 + size
            self._handle_frame(frame, now)
            if self.state == self.CLOSED:
                return
        if view is buf:
            if pos:
                del buf[:pos]
        elif pos < end:
            buf += view[pos:]

    def submit(self, req: Request, now: float) -> None:
        """Queue ``req``; it is written once the connection is ready and has room."""
        if self.state == self.CLOSED:
            req.complete(None, self.error or BrokerConnectionError(f"{self.address}: closed"))
            return
        if req.timer is None and not req.done:
            req.timer = self._timers.call_at(req.deadline, partial(self._timed_out, req))
        self._queue.append(req)
        self._pump(now)

    def close(self, reason: KprotoError, now: float) -> None:
        """Close on the engine's initiative (idle, shutdown)."""
        self._close(reason, now)

    # -- outputs -----------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        if not self._wbuf:
            return b""
        out = bytes(self._wbuf)
        self._wbuf.clear()
        return out

    def choose_version(self, api_key: int, min_version: int | None = None,
                       max_version: int | None = None) -> int:
        spec = protocol.API_SPECS[api_key]
        lo = spec.min_version if min_version is None else max(spec.min_version, min_version)
        hi = spec.max_version if max_version is None else min(spec.max_version, max_version)
        theirs = self.api_versions.get(api_key)
        if theirs is None:
            raise NoCommonVersionError(
                f"{spec.name}: broker {self.node_id} at {self.address} does not support it "
                f"(kproto supports versions {lo}-{hi})")
        top = min(hi, theirs[1])
        if max(lo, theirs[0]) > top:
            raise NoCommonVersionError(
                f"{spec.name}: no common version: kproto supports {lo}-{hi}, broker "
                f"{self.node_id} at {self.address} supports {theirs[0]}-{theirs[1]}")
        return top

    # -- sending -----------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        if self.state != self.READY:
            return
        cap = self.config.max_in_flight_per_connection
        while self._queue and len(self._in_flight) < cap and not self._reauth_due:
            req = self._queue.popleft()
            if req.done:
                continue
            try:
                version = self.choose_version(req.api_key, req.min_version, req.max_version)
                msg = req.build(version)
            except KprotoError as exc:
                req.complete(None, exc)
                continue
            self._write(req, version, msg, now)
        if self._reauth_due and not self._in_flight:
            self._start_sasl(now)

    def _write(self, req: Request, version: int, msg: Any, now: float) -> None:
        corr = self._next_corr
        self._next_corr = (corr + 1) & 0x7FFFFFFF
        try:
            frame = protocol.encode_request(msg, version, corr, self.config.client_id)
        except KprotoError as exc:
            req.complete(None, exc)
            return
        req.version = version
        req.correlation_id = corr
        req.sent_at = now
        if not self._wbuf:
            self._writable.add(self.conn_id)
        self._wbuf += frame
        self._metrics.requests += 1
        self._metrics.bytes_sent += len(frame)
        if req.expect_response:
            self._in_flight.append(req)
        else:
            req.complete(None, None)

    def _send_internal(self, api_key: int, version: int, msg: Any,
                       on_done: OnDone, now: float) -> None:
        req = Request(api_key, lambda v: msg, on_done, now + self.config.request_timeout)
        req.timer = self._timers.call_at(req.deadline, partial(self._timed_out, req))
        self._write(req, version, msg, now)

    # -- receiving ---------------------------------------------------------------------

    def _handle_frame(self, frame: bytes, now: float) -> None:
        if not self._in_flight:
            self._close(DecodeError(f"{self.address}: response with no request in flight"), now)
            return
        req = self._in_flight[0]
        try:
            corr = protocol.peek_correlation_id(frame)
        except DecodeError as exc:
            self._close(exc, now)
            return
        if corr != req.correlation_id:
            self._close(DecodeError(
                f"{self.address}: correlation id {corr} does not match the oldest request "
                f"in flight ({req.correlation_id}, {req!r})"), now)
            return
        try:
            _, response = protocol.decode_response(frame, req.api_key, req.version)
        except DecodeError as exc:
            if req.api_key == API_VERSIONS and req.version > 0:
                # A broker that rejects our ApiVersions version answers in v0.
                try:
                    _, response = protocol.decode_response(frame, API_VERSIONS, 0)
                except DecodeError:
                    self._close(exc, now)
                    return
            else:
                # Still in flight, so the close fails it (first, in order) with the error.
                self._close(exc, now)
                return
        self._in_flight.popleft()
        if self.state == self.READY:
            self._answered += 1
        self._metrics.responses += 1
        latency = now - req.sent_at
        self._metrics.latency_total += latency
        if latency > self._metrics.latency_max:
            self._metrics.latency_max = latency
        req.complete(response, None)
        if self.state != self.CLOSED:
            self._pump(now)

    # -- ApiVersions -------------------------------------------------------------------

    def _send_api_versions(self, now: float, version: int) -> None:
        msg = protocol.ApiVersionsRequest(
            client_software_name=self.config.client_software_name,
            client_software_version=self.config.client_software_version,
        )
        self._send_internal(API_VERSIONS, version, msg,
                            lambda resp, err: self._api_versions_done(resp, err, version, now),
                            now)

    def _api_versions_done(self, resp: Any, err: BaseException | None, version: int,
                           now: float) -> None:
        if err is not None or self.state == self.CLOSED:
            return
        if resp.error_code == UNSUPPORTED_VERSION:
            theirs = {k.api_key: k.max_version for k in resp.api_keys}
            fallback = min(theirs.get(API_VERSIONS, 0), version - 1)
            if fallback < 0 or version == 0:
                self._close(NoCommonVersionError(
                    f"{self.address}: broker rejects every ApiVersions version"), now)
                return
            log.debug("%s: ApiVersions v%d unsupported, retrying v%d",
                      self.address, version, fallback)
            self._send_api_versions(now, fallback)
            return
        if resp.error_code:
            self._close(error_for_code(resp.error_code)(
                f"{self.address}: ApiVersions failed"), now)
            return
        self.api_versions = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
        if self.config.uses_sasl:
            self.state = self.AUTHENTICATING
            self._start_sasl(now)
        else:
            self._become_ready(now)

    # -- SASL --------------------------------------------------------------------------

    def _start_sasl(self, now: float) -> None:
        cfg = self.config
        self._reauth_due = False
        try:
            self._sasl = make_mechanism(cfg.sasl_mechanism, cfg.sasl_username,
                                        cfg.sasl_password, self._rng,
                                        cfg.sasl_oauth_token_provider,
                                        cfg.sasl_oauth_extensions)
            version = self.choose_version(SASL_HANDSHAKE, max_version=1)
        except KprotoError as exc:
            self._close(exc, now)
            return
        self.state = self.AUTHENTICATING
        msg = protocol.SaslHandshakeRequest(mechanism=cfg.sasl_mechanism)
        self._send_internal(SASL_HANDSHAKE, version, msg, self._handshake_done, now)

    def _handshake_done(self, resp: Any, err: BaseException | None) -> None:
        if err is not None or self.state == self.CLOSED:
            return
        now = self.last_activity
        if resp.error_code:
            enabled = ", ".join(resp.mechanisms) or "none"
            hint = "" if resp.mechanisms else (
                "; the listener may not use SASL (check security_protocol)")
            self._close(AuthenticationError(
                f"{self.address}: SASL mechanism {self.config.sasl_mechanism} is not enabled "
                f"on the broker (enabled: {enabled}){hint}"), now)
            return
        assert self._sasl is not None
        try:
            first = self._sasl.first()
        except AuthenticationError as exc:
            self._close(self._auth_error(exc), now)
            return
        self._send_authenticate(first, now)

    def _send_authenticate(self, token: bytes, now: float) -> None:
        try:
            version = self.choose_version(SASL_AUTHENTICATE)
        except KprotoError as exc:
            self._close(exc, now)
            return
        msg = protocol.SaslAuthenticateRequest(auth_bytes=token)
        self._send_internal(SASL_AUTHENTICATE, version, msg, self._authenticate_done, now)

    def _authenticate_done(self, resp: Any, err: BaseException | None) -> None:
        if err is not None or self.state == self.CLOSED:
            return
        now = self.last_activity
        if resp.error_code:
            text = resp.error_message or error_for_code(resp.error_code).name
            self._close(self._auth_error(AuthenticationError(text)), now)
            return
        assert self._sasl is not None
        try:
            reply = self._sasl.step(bytes(resp.auth_bytes))
        except AuthenticationError as exc:
            self._close(self._auth_error(exc), now)
            return
        if reply is not None:
            self._send_authenticate(reply, now)
            return
        lifetime = getattr(resp, "session_lifetime_ms", 0) / 1000.0
        if lifetime > 0:
            # KIP-368: re-authenticate before the broker's session expires, at a random
            # point in the last 15% so a fleet of clients does not re-authenticate at once.
            when = now + lifetime * self._rng.uniform(0.85, 0.95)
            self._reauth_timer = self._timers.call_at(when, self._reauth_fired)
        self._become_ready(now)

    def _mismatch(self, what: str, expected: str) -> AuthenticationError:
        return AuthenticationError(
            f"{self.address}: {what}: security_protocol is "
            f"{self.config.security_protocol!r}, but the listener likely expects {expected} "
            f"(check security_protocol)")

    def _auth_error(self, exc: AuthenticationError) -> AuthenticationError:
        return AuthenticationError(
            f"{self.address}: SASL {self.config.sasl_mechanism} authentication failed "
            f"for user {self.config.sasl_username!r}: {exc}")

    def _reauth_fired(self, now: float) -> None:
        if self.state != self.READY:
            return
        log.debug("%s: re-authenticating before the SASL session expires", self.address)
        self._reauth_due = True
        self._pump(now)

    # -- state changes -----------------------------------------------------------------

    def _become_ready(self, now: float) -> None:
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        self.state = self.READY
        # Also after a re-authentication: work for "any broker" may have waited for it.
        self._on_ready(self)
        self._pump(now)

    def _connect_timed_out(self, now: float) -> None:
        self._connect_timer = None
        if self.state in (self.CONNECTING, self.NEGOTIATING, self.AUTHENTICATING):
            self._close(BrokerConnectionError(
                f"{self.address}: connection not ready within connect_timeout "
                f"({self.config.connect_timeout:g}s, stuck {self.state})"), now)

    def _timed_out(self, req: Request, now: float) -> None:  # timer callback
        if req.done:
            return
        req.timer = None
        if req in self._queue:
            self._queue.remove(req)
            req.complete(None, ClientTimeoutError(
                f"{self.address}: request not sent within its deadline (connection {self.state})"))
            return
        spec = protocol.API_SPECS.get(req.api_key)
        name = spec.name if spec else str(req.api_key)
        self._close(ClientTimeoutError(
            f"{self.address}: no response to {name} v{req.version} within the request "
            f"timeout"), now)

    def _close(self, error: KprotoError, now: float) -> None:
        if self.state == self.CLOSED:
            return
        self.state = self.CLOSED
        self.error = error
        self._metrics.errors += 1
        for timer in (self._connect_timer, self._reauth_timer):
            if timer is not None:
                timer.cancel()
        self._connect_timer = self._reauth_timer = None
        self._rbuf.clear()
        self._wbuf.clear()
        doomed = list(self._in_flight) + list(self._queue)
        self._in_flight.clear()
        self._queue.clear()
        log.info("connection %s closed: %s", self.address, error)
        self._on_closed(self, error)
        for req in doomed:
            req.complete(None, error)
