"""The catch-up stream on frames, independent of the carrier (see ``service Catchup``).

``serve_fetch`` is the donor's side (a request in, frames out); ``read_fetch``
the requester's, which checks order, sizes and the SHA-256 of the payload.
The header and chunks are the exchange's SnapshotHeader and 1 MiB chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from gossip.averaging.pairwise import Snapshot
from gossip.errors import WireError
from gossip.transport._pb import gossip_pb2 as pb
from gossip.transport.wire import CHUNK_BYTES, SnapshotAssembler, snapshot_frames


@dataclass(frozen=True)
class FetchRequest:
    requester_id: str
    fingerprint: str
    num_params: int
    min_step: int


@dataclass(frozen=True)
class Fetched:
    """A donor's answer: its model (None when it is not ahead of ``min_step``) and step."""

    snapshot: Snapshot | None
    step: int


def request_to_pb(request: FetchRequest) -> pb.FetchRequest:
    return pb.FetchRequest(
        requester_id=request.requester_id,
        fingerprint=request.fingerprint,
        num_params=request.num_params,
        min_step=request.min_step,
    )


def request_from_pb(message: pb.FetchRequest) -> FetchRequest:
    return FetchRequest(
        message.requester_id, message.fingerprint, message.num_params, message.min_step
    )


def fetch_frames(fetched: Fetched, chunk_bytes: int = CHUNK_BYTES) -> Iterator[pb.FetchFrame]:
    """The exchange's header and chunks, then ``done`` (only ``done`` when not ahead)."""
    snapshot = fetched.snapshot
    if snapshot is None:
        yield pb.FetchFrame(done=pb.FetchDone(ahead=False, step=fetched.step))
        return
    for frame in snapshot_frames(snapshot, chunk_bytes):
        if isinstance(frame, pb.Frame):
            yield pb.FetchFrame(header=frame.header)
        else:
            yield pb.FetchFrame(chunk=bytes(frame.chunk))
    digest = hashlib.sha256(snapshot.payload).digest()
    yield pb.FetchFrame(done=pb.FetchDone(ahead=True, sha256=digest, step=fetched.step))


def read_fetch(frames: Iterator[pb.FetchFrame], max_payload_bytes: int) -> Fetched:
    """Assemble a donor's answer; WireError for bad order, sizes or checksum."""
    first = next(frames, None)
    if first is None:
        raise WireError("the donor closed the stream without answering")
    kind = first.WhichOneof("kind")
    if kind == "done":
        if first.done.ahead:
            raise WireError("the donor announced a model but sent none")
        return Fetched(None, first.done.step)
    if kind != "header":
        raise WireError(f"expected a header first, got {kind}")
    assembler = SnapshotAssembler(pb.Frame(header=first.header), max_payload_bytes)
    for frame in frames:
        kind = frame.WhichOneof("kind")
        if kind == "chunk":
            assembler.add_chunk(frame.chunk)
            continue
        if kind != "done":
            raise WireError(f"expected a chunk or done, got {kind}")
        got = assembler.snapshot()
        if frame.done.sha256 != hashlib.sha256(got.payload).digest():
            raise WireError("checksum mismatch: the model changed or was corrupted on the way")
        plain = Snapshot(  # a whole raw model: nothing of a compressed exchange
            got.sender_id, got.generation, got.address, got.step, got.fingerprint,
            got.num_params, got.codec, got.payload,
        )  # fmt: skip
        return Fetched(plain, frame.done.step)
    raise WireError("stream ended before the checksum frame")
