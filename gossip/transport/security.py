"""Who may talk to a node, and how much: cluster token, TLS material, per-peer limits.

gRPC glue for :mod:`gossip.transport.grpc_transport` (with it, the only
modules that import grpc):

* :class:`TokenInterceptor` checks ``authorization: Bearer <token>`` (the
  scheme in any case, RFC 7235; a bare token is refused) on every
  RPC with :func:`hmac.compare_digest` and answers ``UNAUTHENTICATED``
  otherwise; the standard health service is exempt so that orchestrators can
  probe without the secret (it tells only SERVING / NOT_SERVING);
* :class:`ClientToken` adds the token to every call a client makes;
* :func:`load_tls` reads --tls-cert / --tls-key / --tls-ca once, checking that
  the files are readable and the key matches the certificate, with one clear
  :class:`~gossip.errors.UsageError` otherwise;
* :class:`Limiter` bounds concurrent streams per connection and in total, so a
  single peer cannot take every server thread (``RESOURCE_EXHAUSTED``); streams
  that send nothing have slots of their own, the oldest cut for a newer one,
  and each is cut after :data:`HEADER_DEADLINE_S`; every stream is cut after
  ``max_stream_s``.
"""

from __future__ import annotations

import heapq
import hmac
import itertools
import logging
import os
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:  # the stubs make these generic; the runtime classes are not subscriptable
    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
    _UnaryUnary = grpc.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStream = grpc.UnaryStreamClientInterceptor[Any, Any]
    _StreamUnary = grpc.StreamUnaryClientInterceptor[Any, Any]
    _StreamStream = grpc.StreamStreamClientInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.ServerInterceptor
    _UnaryUnary = grpc.UnaryUnaryClientInterceptor
    _UnaryStream = grpc.UnaryStreamClientInterceptor
    _StreamUnary = grpc.StreamUnaryClientInterceptor
    _StreamStream = grpc.StreamStreamClientInterceptor

from gossip.errors import UsageError

log = logging.getLogger("gossip.transport")

TOKEN_ENV = "GOSSIP_TOKEN"
TOKEN_HEADER = "authorization"
EXEMPT_PREFIXES = ("/grpc.health.v1.Health/",)
"""Methods anyone may call: the health probe reveals nothing but SERVING."""


def resolve_token(flag: str | None) -> str | None:
    """The --token value, else $GOSSIP_TOKEN, else None (no token: an open cluster)."""
    token = flag if flag else os.environ.get(TOKEN_ENV, "")
    return token or None


@dataclass(frozen=True)
class TlsMaterial:
    """PEM bytes read from --tls-cert / --tls-key / --tls-ca (None where not given)."""

    cert: bytes | None = None
    key: bytes | None = None
    ca: bytes | None = None


@dataclass(frozen=True)
class Security:
    """What a transport needs to authenticate peers and be authenticated by them."""

    token: str | None = None
    tls: TlsMaterial | None = None

    @property
    def mutual(self) -> bool:
        """Servers require client certificates signed by the CA (mutual TLS)."""
        return self.tls is not None and self.tls.ca is not None and self.tls.cert is not None


def _read(path: str, flag: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read ({exc.strerror})") from exc
    if b"-----BEGIN" not in data:
        raise UsageError(f"{flag} {path}: not a PEM file")
    return data


def load_tls(
    cert: str | None, key: str | None, ca: str | None, *, server: bool
) -> TlsMaterial | None:
    """Read and check the TLS files; None when none is given. UsageError naming the flag."""
    if not (cert or key or ca):
        return None
    if bool(cert) != bool(key):
        raise UsageError("--tls-cert and --tls-key go together: give both or neither")
    if server and not cert:
        raise UsageError(
            "a node serving TLS needs --tls-cert and --tls-key (--tls-ca alone is "
            "for clients such as gossip-ctl)"
        )
    material = TlsMaterial(
        cert=_read(cert, "--tls-cert") if cert else None,
        key=_read(key, "--tls-key") if key else None,
        ca=_read(ca, "--tls-ca") if ca else None,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cert and key:
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as exc:
            raise UsageError(
                f"--tls-cert {cert} and --tls-key {key} do not form a valid pair: {exc}"
            ) from exc
    if ca:
        try:
            context.load_verify_locations(ca)
        except (ssl.SSLError, OSError) as exc:
            raise UsageError(f"--tls-ca {ca}: not a usable CA certificate: {exc}") from exc
    return material


def server_credentials(tls: TlsMaterial) -> grpc.ServerCredentials:
    assert tls.cert is not None and tls.key is not None
    return grpc.ssl_server_credentials(
        [(tls.key, tls.cert)], root_certificates=tls.ca, require_client_auth=tls.ca is not None
    )


def channel_credentials(tls: TlsMaterial) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca, private_key=tls.key, certificate_chain=tls.cert
    )


# ---------------------------------------------------------------- token


def bearer_token(metadata: Any) -> str | None:
    """The token of ``authorization: Bearer TOKEN``; None without the header.

    The one rule, after RFC 7235 / RFC 6750: the scheme ``Bearer`` in any
    case, one or more spaces, the token. Any other form (a bare token,
    another scheme) gives "": refused like a wrong token.
    """
    for key, value in metadata or ():
        if key == TOKEN_HEADER:
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            return token.lstrip(" ") if scheme.lower() == "bearer" else ""
    return None


def _deny(code: grpc.StatusCode, message: str, like: Any) -> Any:
    """A handler of the same shape as ``like`` that aborts every call with ``code``."""

    def abort(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, message)

    if like is None or (not like.request_streaming and not like.response_streaming):
        return grpc.unary_unary_rpc_method_handler(abort)
    if like.request_streaming and like.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort)
    if like.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort)
    return grpc.unary_stream_rpc_method_handler(abort)


class TokenInterceptor(_ServerInterceptor):
    """Reject, with UNAUTHENTICATED, every call without the cluster token."""

    def __init__(self, token: str, on_reject: Callable[[], None] | None = None) -> None:
        self._token = token.encode()
        self._on_reject = on_reject

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        method = str(details.method)
        if method.startswith(EXEMPT_PREFIXES):
            return continuation(details)
        token = bearer_token(details.invocation_metadata)
        if token and hmac.compare_digest(token.encode(), self._token):
            return continuation(details)
        if self._on_reject is not None:
            self._on_reject()
        if token is None:
            what = "no cluster token"
        elif token:
            what = "a wrong cluster token"
        else:
            what = "an authorization header that is not 'Bearer TOKEN'"
        return _deny(
            grpc.StatusCode.UNAUTHENTICATED,
            f"{what} (--token / {TOKEN_ENV})",
            continuation(details),
        )


class ClientToken(
    _UnaryUnary,
    _UnaryStream,
    _StreamUnary,
    _StreamStream,
):
    """Adds ``authorization: Bearer <token>`` to every call of a channel."""

    def __init__(self, token: str) -> None:
        self._pair = (TOKEN_HEADER, f"Bearer {token}")

    def _details(self, details: Any) -> Any:
        metadata = [*(details.metadata or ()), self._pair]
        return _CallDetails(
            details.method, details.timeout, metadata, details.credentials,
            getattr(details, "wait_for_ready", None), getattr(details, "compression", None),
        )  # fmt: skip

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


# ---------------------------------------------------------------- limits


HEADER_DEADLINE_S = 2.0
"""A stream that has sent no message this long after it opened is cut (a silent stranger)."""
GRACE_S = 0.05
"""A stream whose first message arrives within this long never counts as silent."""


class Limiter:
    """Concurrent streams: per connection, talking and silent ones apart.

    Every stream holds a server thread. One that has sent nothing
    :data:`GRACE_S` after it opened is *silent* and takes one of ``silent``
    slots; when those are all taken, the oldest silent stream is cut
    (``cancel``) to make room. One that talks takes one of ``total`` slots, or
    is refused (``RESOURCE_EXHAUSTED``) when they are all taken; a
    connection has at most ``per_peer`` streams of either kind. So streams
    that send nothing hold at most ``silent`` threads, never a talking
    stream's slot, and a neighbour's stream, which sends its header at once,
    never waits for them or cuts them (each cut would let their owner open
    another: a churn that cost more than the streams themselves).
    """

    def __init__(self, per_peer: int = 2, total: int = 8, silent: int = 8) -> None:
        self.per_peer = per_peer
        self.total = total
        self.silent_slots = silent
        self._lock = threading.Lock()
        self._open: dict[int, str] = {}  # stream -> its connection
        self._per_connection: dict[str, int] = {}
        self._silent: OrderedDict[int, Callable[[], None]] = OrderedDict()  # oldest first
        self._talking: set[int] = set()
        self._next = 1  # stream numbers are true values
        self.rejected = 0
        self.evicted = 0

    def open(self, peer: str) -> int | None:
        """A number for a new stream of connection ``peer``, or None (refuse it: per_peer)."""
        with self._lock:
            if self._per_connection.get(peer, 0) >= self.per_peer:
                self.rejected += 1
                return None
            stream = self._next
            self._next += 1
            self._open[stream] = peer
            self._per_connection[peer] = self._per_connection.get(peer, 0) + 1
            return stream

    def silent(self, stream: int, cancel: Callable[[], None]) -> None:
        """The stream sent nothing within GRACE_S: a silent slot, the oldest one cut if need be."""
        evict: Callable[[], None] | None = None
        with self._lock:
            if stream not in self._open or stream in self._talking:
                return  # it ended or talked meanwhile
            if len(self._silent) >= self.silent_slots:
                _, evict = self._silent.popitem(last=False)
                self.evicted += 1
            self._silent[stream] = cancel
        if evict is not None:
            evict()

    def talk(self, stream: int) -> bool:
        """The stream sent its first message: True when it may go on (a talking slot)."""
        with self._lock:
            self._silent.pop(stream, None)
            if len(self._talking) >= self.total:
                self.rejected += 1
                return False
            self._talking.add(stream)
            return True

    def close(self, stream: int) -> None:
        """The stream ended (its thread is free again)."""
        with self._lock:
            self._silent.pop(stream, None)
            self._talking.discard(stream)
            peer = self._open.pop(stream, None)
            if peer is None:
                return
            left = self._per_connection.get(peer, 0) - 1
            if left > 0:
                self._per_connection[peer] = left
            else:
                self._per_connection.pop(peer, None)

    def active(self) -> int:
        """Streams open now, silent and talking."""
        with self._lock:
            return len(self._open)


class Deadlines:
    """Callbacks due at given times, run by one daemon thread (started on first use).

    Every stream has up to three deadlines (silent, header, whole stream); a
    ``threading.Timer`` each would start as many threads per stream, hostile
    ones included.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []  # (when, handle), cancelled ones included
        self._pending: dict[int, Callable[[], object]] = {}
        self._handles = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, delay_s: float, callback: Callable[[], object]) -> int:
        """Run ``callback`` in ``delay_s`` seconds unless cancelled; a handle for :meth:`cancel`."""
        handle = next(self._handles)
        with self._wake:
            self._pending[handle] = callback
            heapq.heappush(self._heap, (time.monotonic() + delay_s, handle))
            if len(self._heap) > 2 * len(self._pending) + 64:  # mostly cancelled: compact
                self._heap = [e for e in self._heap if e[1] in self._pending]
                heapq.heapify(self._heap)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][1] == handle:  # the new earliest: the thread sleeps too long
                self._wake.notify()
        return handle

    def cancel(self, handle: int) -> None:
        """Drop the callback (a no-op when it already ran or was cancelled)."""
        with self._wake:
            self._pending.pop(handle, None)

    def __len__(self) -> int:
        with self._wake:
            return len(self._pending)

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][1] not in self._pending:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                callback = self._pending.pop(heapq.heappop(self._heap)[1])
            try:
                callback()
            except Exception:  # the thread must outlive one bad callback
                log.exception("a stream deadline's callback failed")


def limit_streams(
    handler: grpc.RpcMethodHandler[Any, Any],
    limiter: Limiter,
    max_stream_s: float,
    header_deadline_s: float = HEADER_DEADLINE_S,
    deadlines: Deadlines | None = None,
    admit: Callable[[str], bool] | None = None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """A response-streaming handler wrapped by the limiter and two deadlines.

    The stream is cut when it sent no message within ``header_deadline_s``,
    and when it outlives ``max_stream_s``. ``admit(peer)`` False: the stream is
    refused (RESOURCE_EXHAUSTED) before a slot is taken or a message read.
    """
    deadlines = deadlines or Deadlines()
    behavior = handler.stream_stream or handler.unary_stream
    assert behavior is not None, "only response-streaming methods are limited"
    streaming = handler.stream_stream is not None

    def limited(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        peer = str(context.peer())
        if admit is not None and not admit(peer):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many refused exchanges")
        stream = limiter.open(peer)
        if stream is None:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many concurrent streams")
        assert stream is not None
        timers = [deadlines.add(max_stream_s, context.cancel)]
        try:
            if streaming:
                timers.append(deadlines.add(header_deadline_s, context.cancel))
                timers.append(
                    deadlines.add(GRACE_S, lambda: limiter.silent(stream, context.cancel))
                )
                try:
                    first = next(request, None)
                except grpc.RpcError:
                    return  # cut (silent) or gone
                if first is None:
                    return
                for timer in timers[1:]:
                    deadlines.cancel(timer)
                request = itertools.chain((first,), request)
            if not limiter.talk(stream):
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many concurrent streams")
            yield from behavior(request, context)
        finally:
            for timer in timers:
                deadlines.cancel(timer)
            limiter.close(stream)

    make = (
        grpc.stream_stream_rpc_method_handler if streaming else grpc.unary_stream_rpc_method_handler
    )
    return make(
        limited,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


# ---------------------------------------------------------------- malformed requests


@dataclass(frozen=True)
class _Malformed:
    error: str


class SafeDecoding(_ServerInterceptor):
    """Undecodable requests become INVALID_ARGUMENT from our side, counted, one log line.

    grpc-python keeps (leaks) the call state of every request whose deserializer
    raises (measured: about 10 KiB of RSS per bad message, grpcio 1.85), so a
    stream of garbage would grow the process without bound. Every handler's
    deserializer is wrapped to return a marker instead, and the behaviour
    aborts the call on that marker.
    """

    def __init__(self, on_malformed: Callable[[str, str], None]) -> None:
        self._on_malformed = on_malformed

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method = str(details.method)
        decode = handler.request_deserializer
        on_malformed = self._on_malformed

        def safe(data: bytes) -> Any:
            try:
                return decode(data)
            except Exception as exc:  # any parse failure of peer bytes
                return _Malformed(" ".join(str(exc).split()) or type(exc).__name__)

        def reject(bad: _Malformed, context: grpc.ServicerContext) -> None:
            on_malformed(method, bad.error)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {bad.error}")

        def checked(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            for request in requests:
                if isinstance(request, _Malformed):
                    reject(request, context)
                yield request

        def unary(behaviour: Any) -> Any:
            def run(request: Any, context: grpc.ServicerContext) -> Any:
                if isinstance(request, _Malformed):
                    reject(request, context)
                return behaviour(request, context)

            return run

        def streaming(behaviour: Any) -> Any:
            def run(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                return behaviour(checked(requests, context), context)

            return run

        serializer = handler.response_serializer
        if handler.unary_unary is not None:
            wrapped = unary(handler.unary_unary)
            return grpc.unary_unary_rpc_method_handler(wrapped, safe, serializer)
        if handler.unary_stream is not None:
            wrapped = unary(handler.unary_stream)
            return grpc.unary_stream_rpc_method_handler(wrapped, safe, serializer)
        if handler.stream_unary is not None:
            wrapped = streaming(handler.stream_unary)
            return grpc.stream_unary_rpc_method_handler(wrapped, safe, serializer)
        wrapped = streaming(handler.stream_stream)
        return grpc.stream_stream_rpc_method_handler(wrapped, safe, serializer)
