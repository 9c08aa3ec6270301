"""The gRPC carrier of the transport seam: serves a node and makes its calls.

Servicers only decode, call the node's :class:`~gossip.transport.base.Handler`
and encode. Channels and the translation of gRPC status codes into
:mod:`gossip.errors` live in :mod:`gossip.transport.channel`, the Status call in
:mod:`gossip.transport.control` (both without numpy, for gossip-ctl).
"""

from __future__ import annotations

import errno
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc

from gossip.averaging.pairwise import Snapshot
from gossip.errors import (
    DeadlineExceeded,
    ExchangeRefused,
    GossipError,
    UsageError,
)
from gossip.membership.types import Digest
from gossip.robust import STRIKE_REASONS
from gossip.status import Status
from gossip.transport._pb import gossip_pb2 as pb
from gossip.transport._pb import gossip_pb2_grpc as pb_grpc
from gossip.transport.base import Completion, Handler, Traffic
from gossip.transport.buffers import ReceiveBuffers
from gossip.transport.callrate import (
    EXCHANGE_REFUSAL_BURST,
    EXCHANGE_REFUSAL_RATE,
    CallRate,
)
from gossip.transport.channel import CHANNEL_OPTIONS, Channels, translate
from gossip.transport.control import call_status
from gossip.transport.fetch import (
    Fetched,
    FetchRequest,
    fetch_frames,
    read_fetch,
    request_from_pb,
    request_to_pb,
)
from gossip.transport.security import (
    Deadlines,
    Limiter,
    SafeDecoding,
    Security,
    TokenInterceptor,
    limit_streams,
    server_credentials,
)
from gossip.transport.session import initiate, respond
from gossip.transport.status_pb import status_to_pb
from gossip.transport.tarpit import Tarpit
from gossip.transport.wire import (
    GRPC_FRAME_OVERHEAD,
    Frame,
    decode_frame,
    digest_from_pb,
    encode_digest,
    encode_frame,
    snapshot_frames,
    verdict_of,
    wire_size,
)

CHARGED_REFUSALS = STRIKE_REASONS | {"invalid_id", "quarantined"}
"""Refusals charged to the connection (gossip/transport/callrate.py): never ``busy``."""

_SERVER_OPTIONS = [
    *CHANNEL_OPTIONS,
    ("grpc.max_metadata_size", 16 << 10),  # a token and a few headers, not megabytes
    # gRPC sets SO_REUSEPORT by default: a second node on a taken port would then start
    # too, and the kernel would split the connections between the two at random
    ("grpc.so_reuseport", 0),
]

MAX_QUEUED_RPCS = 64
"""Calls a server holds at once (running or queued); more get RESOURCE_EXHAUSTED."""


class _MalformedOneLine(logging.Filter):
    """grpc logs a traceback for every undecodable request: make it one WARNING line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = " ".join(str(record.exc_info[1]).split())
            record.msg, record.args = f"malformed message from a peer: {error}", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


logging.getLogger("grpc._common").addFilter(_MalformedOneLine())
log = logging.getLogger("gossip.transport")


def bind_failure(listen: str) -> str:
    """Why gRPC could not bind ``listen``: the OS's answer to a plain bind of that address."""
    host, _, port = listen.rpartition(":")
    try:
        infos = socket.getaddrinfo(host.strip("[]") or None, int(port), type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        return f"not an address of this host ({exc})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "address already in use (another process listens there)"
            return exc.strerror or str(exc)
    return "address not available"


_EXCHANGE_SERVICE = "gossip.v1.Exchange"
_MEMBERSHIP_SERVICE = "gossip.v1.Membership"
_EXCHANGE_METHOD = f"/{_EXCHANGE_SERVICE}/Exchange"


class _FrameCodec:
    """Exchange (de)serializers that count each frame's wire bytes as it is encoded or parsed.

    The encoding is the protobuf ``Frame`` of gossip.proto, as in the generated
    stubs; chunk frames are written and read in their wire form
    (:class:`~gossip.transport.wire.Chunk`), without a protobuf copy. Counting
    here (``len(data)``) spares a ``ByteSize()`` per frame.
    """

    def __init__(self, traffic: Traffic) -> None:
        self._traffic = traffic

    def serialize(self, frame: Frame) -> bytes:
        data = encode_frame(frame)
        self._traffic.add(sent=len(data) + GRPC_FRAME_OVERHEAD)
        return data

    def deserialize(self, data: bytes) -> Frame:
        self._traffic.add(received=len(data) + GRPC_FRAME_OVERHEAD)
        return decode_frame(data)


VERDICT_GRACE = 1.0
"""After applying, the initiator's call lives this many more exchange timeouts."""


class _ReplyDeadline:
    """Cancels an exchange whose reply is late, but never once the initiator applies it."""

    def __init__(self, address: str) -> None:
        self._address = address
        self._lock = threading.Lock()
        self._applying = False
        self.expired = False

    def expire(self, call: Any) -> None:
        with self._lock:
            if self._applying:
                return
            self.expired = True
        call.cancel()

    def then(self, complete: Completion) -> Completion:
        """``complete``, unless the deadline passed first (then nothing is applied)."""

        def apply(reply: Snapshot) -> None:
            with self._lock:
                if self.expired:
                    raise self.error()
                self._applying = True
            complete(reply)

        return apply

    def error(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"{self._address}: no answer before the deadline")


class _ExchangeServicer:
    def __init__(self, transport: GrpcTransport, handler: Handler) -> None:
        self._transport = transport
        self._handler = handler

    def Exchange(self, request_iterator: Iterator[Frame], context: Any) -> Iterator[Frame]:
        transport = self._transport
        replies = respond(
            request_iterator, self._handler, transport.max_payload_bytes, transport.buffers
        )
        try:
            first = next(replies, None)
            if first is None:
                return
            verdict = verdict_of(first)  # a refusal is the only frame of its reply
            if verdict is not None and verdict.reason in CHARGED_REFUSALS:
                self._transport.exchange_refusals.charge(str(context.peer()))
            yield first
            yield from replies
        except grpc.RpcError:
            return  # the initiator went away; respond() has dropped the increment

    def method_handlers(
        self, wrap: Callable[[Any], Any] | None = None
    ) -> grpc.GenericRpcHandler[Frame, Frame]:
        """The Exchange service, registered by hand to use :class:`_FrameCodec`."""
        codec = _FrameCodec(self._transport.traffic)
        handler = grpc.stream_stream_rpc_method_handler(
            self.Exchange,
            request_deserializer=codec.deserialize,
            response_serializer=codec.serialize,
        )
        if wrap is not None:  # the transport's stream limits
            handler = wrap(handler)
        return grpc.method_handlers_generic_handler(_EXCHANGE_SERVICE, {"Exchange": handler})


class _MembershipServicer:
    def __init__(self, transport: GrpcTransport, handler: Handler) -> None:
        self._transport = transport
        self._handler = handler

    def PushPull(self, request: pb.Digest, context: Any) -> bytes:
        peer = str(context.peer())
        if not self._transport.push_pulls.allow(peer):  # before any work
            self._transport.tarpit.hold(peer)
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED, "push-pulls over this connection's rate"
            )
        self._transport.traffic.add(received=wire_size(request))
        reply = encode_digest(self._handler.on_push_pull(digest_from_pb(request)))
        self._transport.traffic.add(sent=len(reply) + GRPC_FRAME_OVERHEAD)
        return reply

    def method_handlers(self) -> grpc.GenericRpcHandler[pb.Digest, bytes]:
        """The Membership service, registered by hand: replies are ``encode_digest``'s bytes."""
        handler = grpc.unary_unary_rpc_method_handler(
            self.PushPull, request_deserializer=pb.Digest.FromString
        )
        return grpc.method_handlers_generic_handler(_MEMBERSHIP_SERVICE, {"PushPull": handler})


class _ControlServicer:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    def Status(self, request: pb.StatusRequest, context: Any) -> pb.StatusReply:
        return status_to_pb(self._handler.on_status())


class _CatchupServicer:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    def Fetch(self, request: pb.FetchRequest, context: Any) -> Iterator[pb.FetchFrame]:
        try:
            fetched = self._handler.on_fetch(request_from_pb(request))
        except ExchangeRefused as refused:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(refused))
        yield from fetch_frames(fetched)


REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _serve_reflection(server: grpc.Server, names: tuple[str, ...]) -> None:
    """Server reflection as ``grpc.reflection.v1`` and ``grpc.reflection.v1alpha``.

    grpcio-reflection serves v1alpha only; v1 has the same messages field for
    field (only the package differs), so the same servicer answers v1 with
    v1alpha's (de)serializers. The descriptor is registered under the
    repository path, ``gossip/v1/gossip.proto`` (scripts/gen_proto.sh).
    """
    from grpc_reflection.v1alpha import reflection, reflection_pb2

    services = (*names, REFLECTION_V1, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(services, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        reflection.ReflectionServicer(services).ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(REFLECTION_V1, {"ServerReflectionInfo": v1}),)
    )


class GrpcTransport:
    """Serves a node and calls other nodes over gRPC; one cached channel per peer.

    ``security`` adds the cluster token (checked on every call but health, sent
    on every call we make) and TLS / mutual TLS; streams are bounded per
    connection and in total by :class:`~gossip.transport.security.Limiter`.
    """

    def __init__(
        self,
        max_payload_bytes: int = 1 << 31,
        max_workers: int = 24,
        security: Security | None = None,
        max_stream_s: float = 60.0,
    ) -> None:
        self.traffic = Traffic()
        self.max_payload_bytes = max_payload_bytes
        self.buffers = ReceiveBuffers()
        """Received payloads are assembled into buffers kept between exchanges."""
        self._max_workers = max_workers
        self.security = security or Security()
        self.max_stream_s = max_stream_s
        # a third of the threads for talking streams, a third for silent ones, the rest unary
        slots = max(max_workers // 3, 1)
        self.limiter = Limiter(per_peer=2, total=slots, silent=slots)
        self._deadlines = Deadlines()
        self.unauthenticated = 0
        self.malformed = 0
        self.push_pulls = CallRate()  # per connection (gossip/transport/callrate.py)
        self.exchange_refusals = CallRate(EXCHANGE_REFUSAL_RATE, EXCHANGE_REFUSAL_BURST)
        self.tarpit = Tarpit()  # refusals over those rates held back (transport/tarpit.py)
        self._malformed_logged = -float("inf")
        self._health: Any = None
        self._server: grpc.Server | None = None
        self._channels = Channels(self.security)

    # ------------------------------------------------------------ serving

    def serve(self, listen: str, handler: Handler) -> str:
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc

        host, _, _ = listen.rpartition(":")
        interceptors: list[grpc.ServerInterceptor[Any, Any]] = []
        if self.security.token:
            interceptors.append(TokenInterceptor(self.security.token, self._count_unauthenticated))
        interceptors.append(SafeDecoding(self._count_malformed))
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="grpc"),
            options=_SERVER_OPTIONS,
            interceptors=interceptors,
            maximum_concurrent_rpcs=MAX_QUEUED_RPCS,
        )
        exchange = _ExchangeServicer(self, handler)
        admit = self._admit_exchange
        server.add_generic_rpc_handlers(
            (exchange.method_handlers(lambda h: self._limited(h, admit)),)
        )
        server.add_generic_rpc_handlers((_MembershipServicer(self, handler).method_handlers(),))
        pb_grpc.add_ControlServicer_to_server(_ControlServicer(handler), server)
        catchup = _CatchupServicer(handler)
        fetch = grpc.unary_stream_rpc_method_handler(
            catchup.Fetch,
            request_deserializer=pb.FetchRequest.FromString,
            response_serializer=pb.FetchFrame.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "gossip.v1.Catchup",
                    {"Fetch": self._limited(fetch)},
                ),
            )
        )
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        names = [s.full_name for s in pb.DESCRIPTOR.services_by_name.values()]
        for name in ("", *names):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        _serve_reflection(server, (*names, health.SERVICE_NAME))
        tls = self.security.tls
        try:
            if tls is not None:
                port = server.add_secure_port(listen, server_credentials(tls))
            else:
                port = server.add_insecure_port(listen)
        except RuntimeError as exc:  # gRPC's text points at GRPC_VERBOSITY; say why instead
            raise UsageError(f"cannot listen on {listen}: {bind_failure(listen)}") from exc
        if port == 0:
            raise UsageError(f"cannot listen on {listen}: {bind_failure(listen)}")
        server.start()
        self._server = server
        return f"{host}:{port}"

    def _limited(
        self,
        handler: grpc.RpcMethodHandler[Any, Any],
        admit: Callable[[str], bool] | None = None,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        return limit_streams(
            handler, self.limiter, self.max_stream_s, deadlines=self._deadlines, admit=admit
        )

    def _admit_exchange(self, peer: str) -> bool:
        """False for a connection refused too often (turned away unread, its refusal held)."""
        if self.exchange_refusals.admits(peer):
            return True
        self.tarpit.hold(peer)
        return False

    @property
    def limited(self) -> int:
        """Calls refused by a limit (status ``protection.limited``), so an operator sees them.

        Streams over a connection's or the node's slots (``Limiter``), and calls
        over a connection's rate: push-pulls, and exchanges of a connection
        turned away after too many refused offers (``CallRate``).
        """
        return self.limiter.rejected + self.push_pulls.refused + self.exchange_refusals.refused

    def _count_unauthenticated(self) -> None:
        self.unauthenticated += 1  # a rough counter (GIL-atomic enough for status)

    def _count_malformed(self, method: str, error: str) -> None:
        self.malformed += 1
        now = time.monotonic()
        if now - self._malformed_logged >= 10.0:  # one line per 10 s, not one per message
            self._malformed_logged = now
            log.warning("malformed request to %s (%d so far): %s", method, self.malformed, error)

    def stop(self, grace: float) -> None:
        if self._health is not None:
            self._health.enter_graceful_shutdown()
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None
        self._channels.close()

    # ------------------------------------------------------------ calling

    def _channel(self, address: str) -> grpc.Channel:
        return self._channels.get(address)

    def _failed(self, exc: grpc.RpcError, address: str) -> GossipError:
        """The call failed: let its channel go (gossip.transport.channel), say why in our terms."""
        self._channels.forget(address)
        return translate(exc, address)

    def exchange(self, address: str, offer: Snapshot, complete: Completion, timeout: float) -> None:
        """One exchange as the initiator: the reply within ``timeout``, then the verdict's way.

        The reply must arrive within ``timeout`` (a timer cancels the call until
        ``complete`` starts); once we apply, the verdict has VERDICT_GRACE more
        ``timeout`` to reach the responder. A call deadline that also cut the
        verdict after we applied left the responder without it: one side moved, and
        the mean with it (4 x 10M at load 36: drift 0.19 after 6 such failures).
        """
        verdicts: queue.Queue[Frame | None] = queue.Queue()
        deadline = _ReplyDeadline(address)

        def requests() -> Iterator[Frame]:
            yield from snapshot_frames(offer)
            try:
                verdict = verdicts.get(timeout=timeout * (1 + VERDICT_GRACE))
            except queue.Empty:
                return
            if verdict is not None:
                yield verdict

        codec = _FrameCodec(self.traffic)
        method = self._channel(address).stream_stream(
            _EXCHANGE_METHOD,
            request_serializer=codec.serialize,
            response_deserializer=codec.deserialize,
        )
        call = method(requests(), timeout=timeout * (1 + VERDICT_GRACE))
        timer = threading.Timer(timeout, deadline.expire, args=(call,))
        timer.daemon = True
        timer.start()
        try:
            apply = deadline.then(complete)
            initiate(offer, iter(call), apply, verdicts.put, self.max_payload_bytes, self.buffers)
            for _ in call:  # wait until the responder has read our verdict
                pass
        except grpc.RpcError as exc:
            if deadline.expired:
                raise deadline.error() from exc
            if isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise ExchangeRefused("busy", f"{address}: {exc.details()}") from exc
            raise self._failed(exc, address) from exc
        except GossipError:
            call.cancel()  # type: ignore[no-untyped-call]  # untyped in grpc-stubs
            raise
        finally:
            timer.cancel()
            verdicts.put(None)

    def push_pull(self, address: str, digest: Digest, timeout: float) -> Digest:
        request = encode_digest(digest)
        method = self._channel(address).unary_unary(
            f"/{_MEMBERSHIP_SERVICE}/PushPull",
            request_serializer=None,  # encode_digest's bytes as they are
            response_deserializer=pb.Digest.FromString,
        )
        try:
            reply = method(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise self._failed(exc, address) from exc
        self.traffic.add(sent=len(request) + GRPC_FRAME_OVERHEAD, received=wire_size(reply))
        return digest_from_pb(reply)

    def fetch(self, address: str, request: FetchRequest, timeout: float) -> Fetched:
        method = self._channel(address).unary_stream(
            "/gossip.v1.Catchup/Fetch",
            request_serializer=pb.FetchRequest.SerializeToString,
            response_deserializer=pb.FetchFrame.FromString,
        )
        # the donor is alive by the membership's account; our channel to it may still be
        # in the back-off of a connection tried before it listened: wait that out
        call = method(request_to_pb(request), timeout=timeout, wait_for_ready=True)
        try:
            return read_fetch(iter(call), self.max_payload_bytes)
        except grpc.RpcError as exc:
            if isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                reason, _, detail = (exc.details() or "").partition(": ")  # the donor's refusal
                raise ExchangeRefused(reason, f"{address}: {detail}") from exc
            raise self._failed(exc, address) from exc
        finally:
            call.cancel()  # type: ignore[no-untyped-call]  # untyped in grpc-stubs

    def status(self, address: str, timeout: float) -> Status:
        try:
            return call_status(self._channel(address), address, timeout)
        except GossipError:
            self._channels.forget(address)
            raise
