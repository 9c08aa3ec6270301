"""The exchange protocol on a stream of frames, independent of the carrier.

``respond`` is the responder's side as a generator (frames in, frames out);
``initiate`` is the initiator's. gRPC runs them on a bidirectional stream; the
in-memory network runs them in one thread. The order of frames is in
``protos/gossip/v1/gossip.proto``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from gossip.averaging.pairwise import Snapshot
from gossip.errors import ExchangeRefused, WireError
from gossip.refusals import reason_key, short_detail
from gossip.transport.base import Completion, Handler, Traffic
from gossip.transport.buffers import ReceiveBuffers
from gossip.transport.wire import (
    Frame,
    SnapshotAssembler,
    header_of,
    header_snapshot,
    read_snapshot,
    snapshot_frames,
    verdict_frame,
    verdict_of,
    wire_size,
)


def counted(frames: Iterator[Frame], traffic: Traffic, *, sent: bool) -> Iterator[Frame]:
    """Pass frames through, adding their wire size to ``traffic``."""
    for frame in frames:
        size = wire_size(frame)
        traffic.add(sent=size) if sent else traffic.add(received=size)
        yield frame


def respond(
    frames: Iterator[Frame],
    handler: Handler,
    max_payload_bytes: int,
    buffers: ReceiveBuffers | None = None,
) -> Iterator[Frame]:
    """Serve one exchange: read the offer, reply with our snapshot, apply on the verdict.

    ``buffers``: where the offer's payload is assembled (gossip/transport/buffers.py).
    """
    first = next(frames, None)
    if first is None:
        return
    try:
        # another model's offer is refused for what it is before its size is judged
        handler.check_header(header_snapshot(header_of(first)))
        assembler = SnapshotAssembler(first, max_payload_bytes, buffers=buffers)
        offer = assembler.read(frames)
        session = handler.on_exchange(offer)
    except ExchangeRefused as refused:
        yield verdict_frame(False, refused.reason, refused.detail)
        return
    except WireError as exc:
        handler.on_refused("malformed", str(exc))
        yield verdict_frame(False, "malformed", str(exc))
        return
    applied, reason, detail = False, "lost", "the initiator sent no verdict"
    try:
        yield from snapshot_frames(session.reply, answering=offer)
        verdict = verdict_of(next(frames, None))
        if verdict is not None:
            applied = verdict.applied
            reason, detail = reason_key(verdict.reason), short_detail(verdict.detail)
    finally:
        session.commit(applied, "" if applied else reason, "" if applied else detail)


def initiate(
    offer: Snapshot,
    responses: Iterator[Frame],
    complete: Completion,
    send_verdict: Callable[[Frame], None],
    max_payload_bytes: int,
    buffers: ReceiveBuffers | None = None,
) -> None:
    """Read the responder's reply to ``offer``, check and apply it, and send our verdict.

    Raises ExchangeRefused when either side refuses; WireError for a malformed reply.
    """
    first = next(responses, None)
    if first is None:
        raise WireError("the peer closed the exchange without answering")
    verdict = verdict_of(first)
    if verdict is not None:
        raise ExchangeRefused(reason_key(verdict.reason), f"peer: {short_detail(verdict.detail)}")
    try:
        reply = read_snapshot(responses, first, max_payload_bytes, offer, buffers)
    except WireError as exc:
        send_verdict(verdict_frame(False, "malformed", str(exc)))
        raise
    try:
        complete(reply)
    except ExchangeRefused as refused:
        send_verdict(verdict_frame(False, refused.reason, refused.detail))
        raise
    send_verdict(verdict_frame(True))
