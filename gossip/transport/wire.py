"""Conversions between the pure types and the protobuf messages of protos/gossip/v1.

Every transport goes through these functions, so the in-memory network
exercises the same encoding as gRPC. Frames from a peer are checked here:
a violation raises :class:`~gossip.errors.WireError` with a reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from gossip.averaging.pairwise import Snapshot
from gossip.errors import WireError
from gossip.membership.types import Digest, MemberEntry, State
from gossip.transport._pb import gossip_pb2 as pb

CHUNK_BYTES = 1 << 20
"""Payload bytes per frame: gRPC's default message limit is 4 MiB; 1 MiB streams fastest."""

GRPC_FRAME_OVERHEAD = 5
"""gRPC's length-prefixed message header: 1 flag byte + 4 length bytes."""

_STATE_TO_PB = {
    State.ALIVE: pb.MEMBER_STATE_ALIVE,
    State.SUSPECT: pb.MEMBER_STATE_SUSPECT,
    State.DEAD: pb.MEMBER_STATE_DEAD,
    State.LEFT: pb.MEMBER_STATE_LEFT,
}
_PB_TO_STATE = {v: k for k, v in _STATE_TO_PB.items()}


def wire_size(message: Any) -> int:
    """Bytes a message occupies on the wire, gRPC framing included."""
    return int(message.ByteSize()) + GRPC_FRAME_OVERHEAD


# ---------------------------------------------------------------- snapshots


def encode_frame(frame: pb.Frame) -> bytes:
    """A frame as it travels: the protobuf encoding of ``Frame`` in gossip.proto."""
    return frame.SerializeToString()


def decode_frame(data: bytes) -> pb.Frame:
    """Parse one frame's bytes (malformed bytes raise protobuf's DecodeError)."""
    return pb.Frame.FromString(data)


def header_frame(snapshot: Snapshot, chunk_bytes: int = CHUNK_BYTES) -> pb.Frame:
    """The frame announcing a snapshot (everything but the payload)."""
    return pb.Frame(
        header=pb.SnapshotHeader(
            sender_id=snapshot.sender_id,
            generation=snapshot.generation,
            fingerprint=snapshot.fingerprint,
            num_params=snapshot.num_params,
            codec=snapshot.codec,
            payload_bytes=len(snapshot.payload),
            # one chunk or none: no "every chunk but the last" to size (saves 4 bytes)
            chunk_bytes=chunk_bytes if len(snapshot.payload) > chunk_bytes else 0,
            step=snapshot.step,
            sender_address=snapshot.address,
            codec_seed=snapshot.seed,
            ref_version=snapshot.ref_version,
            ref_base=snapshot.ref_base,
            blocks=snapshot.blocks if snapshot.blocks > 1 else 0,
            block_ids=snapshot.block_ids,
            consensus_step=snapshot.consensus_step,
        )
    )


def snapshot_frames(snapshot: Snapshot, chunk_bytes: int = CHUNK_BYTES) -> Iterator[pb.Frame]:
    """A header frame, then the payload in chunks of at most ``chunk_bytes``."""
    payload = memoryview(snapshot.payload)
    yield header_frame(snapshot, chunk_bytes)
    for start in range(0, len(payload), chunk_bytes):
        yield pb.Frame(chunk=payload[start : start + chunk_bytes].tobytes())


def header_snapshot(header: pb.SnapshotHeader) -> Snapshot:
    """The header's fields as a Snapshot with an empty payload (for early checks)."""
    return Snapshot(
        sender_id=header.sender_id,
        generation=header.generation,
        address=header.sender_address,
        step=header.step,
        fingerprint=header.fingerprint,
        num_params=header.num_params,
        codec=header.codec,
        payload=b"",
        seed=header.codec_seed,
        ref_version=header.ref_version,
        ref_base=header.ref_base,
        blocks=max(header.blocks, 1),
        block_ids=tuple(header.block_ids),
        consensus_step=header.consensus_step,
    )


def _varint_bytes(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def snapshot_wire_bytes(snapshot: Snapshot, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Bytes :func:`snapshot_frames` puts on the wire (protobuf + gRPC framing), computed."""
    total = wire_size(header_frame(snapshot, chunk_bytes))
    size = len(snapshot.payload)
    full, last = divmod(size, chunk_bytes)
    chunk = 1 + _varint_bytes(chunk_bytes) + chunk_bytes + GRPC_FRAME_OVERHEAD  # tag, length
    total += full * chunk
    if last:
        total += 1 + _varint_bytes(last) + last + GRPC_FRAME_OVERHEAD
    return total


def verdict_wire_bytes(applied: bool = True, reason: str = "", detail: str = "") -> int:
    return wire_size(verdict_frame(applied, reason, detail))


class SnapshotAssembler:
    """Rebuilds a snapshot from frames, refusing anything out of order or oversized.

    Chunks are kept as they arrive and joined once at the end: the only copy of
    the payload on this side (a zero-filled buffer of the announced size would
    cost a full extra pass over fresh memory before the first chunk lands).
    """

    def __init__(self, header_frame: pb.Frame, max_payload_bytes: int) -> None:
        if header_frame.WhichOneof("kind") != "header":
            raise WireError("expected a header frame first")
        self.header = header_frame.header
        size = self.header.payload_bytes
        if size > max_payload_bytes:
            raise WireError(f"payload of {size} bytes exceeds the limit of {max_payload_bytes}")
        self._size = size
        self._chunks: list[bytes] = []
        self._filled = 0

    @property
    def complete(self) -> bool:
        return self._filled == self._size

    def add(self, frame: pb.Frame) -> None:
        if frame.WhichOneof("kind") != "chunk":
            raise WireError(f"expected a chunk frame, got {frame.WhichOneof('kind')}")
        chunk = frame.chunk  # upb makes a new bytes object per access: read it once
        end = self._filled + len(chunk)
        if not chunk or end > self._size:
            raise WireError("chunk overruns the announced payload size")
        self._chunks.append(chunk)
        self._filled = end

    def read(self, frames: Iterator[pb.Frame]) -> Snapshot:
        """Consume chunk frames until the payload is complete; return the snapshot."""
        while not self.complete:
            frame = next(frames, None)
            if frame is None:
                raise WireError("stream ended before the payload was complete")
            self.add(frame)
        return self.snapshot()

    def snapshot(self) -> Snapshot:
        if not self.complete:
            raise WireError("stream ended before the payload was complete")
        payload = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = [payload]
        return dataclasses.replace(header_snapshot(self.header), payload=payload)


def read_snapshot(frames: Iterator[pb.Frame], first: pb.Frame, max_payload_bytes: int) -> Snapshot:
    """Consume chunk frames after ``first`` (a header) until the payload is complete."""
    return SnapshotAssembler(first, max_payload_bytes).read(frames)


def verdict_frame(applied: bool, reason: str = "", detail: str = "") -> pb.Frame:
    return pb.Frame(verdict=pb.Verdict(applied=applied, reason=reason, detail=detail))


# ---------------------------------------------------------------- membership


def digest_to_pb(digest: Digest) -> pb.Digest:
    return pb.Digest(
        sender_id=digest.sender_id,
        entries=[
            pb.MemberEntry(
                id=e.id,
                address=e.address,
                generation=e.generation,
                heartbeat=e.heartbeat,
                state=_STATE_TO_PB[e.state],
            )
            for e in digest.entries
        ],
    )


def digest_from_pb(message: pb.Digest) -> Digest:
    """Decode a digest; entries with an unknown state are dropped, not trusted."""
    entries = tuple(
        MemberEntry(e.id, e.address, e.generation, e.heartbeat, _PB_TO_STATE[e.state])
        for e in message.entries
        if e.state in _PB_TO_STATE
    )
    return Digest(message.sender_id, entries)


# ------------------------------------------------------------------- status


def status_to_pb(status: dict[str, Any]) -> pb.StatusReply:
    accuracy = status.get("accuracy")
    return pb.StatusReply(
        id=status["id"],
        address=status["address"],
        generation=status["generation"],
        uptime_s=status["uptime_s"],
        step=status["step"],
        loss=status["loss"],
        has_accuracy=accuracy is not None,
        accuracy=accuracy or 0.0,
        exchanges=pb.ExchangeCounts(**status["exchanges"]),
        bytes=pb.ByteCounts(
            sent=status["bytes"]["sent"],
            received=status["bytes"]["received"],
            by_codec=[
                pb.CodecBytes(codec=codec, sent=c["sent"], received=c["received"])
                for codec, c in status["bytes"].get("by_codec", {}).items()
            ],
        ),
        references=pb.ReferenceInfo(**status.get("references", {})),
        model=pb.ModelInfo(**status["model"]),
        compression=status["compression"],
        members=[
            pb.MemberStatus(
                id=m["id"],
                address=m["address"],
                state=_STATE_TO_PB[State(m["state"])],
                generation=m["generation"],
                last_heard_s=m["last_heard_s"],
            )
            for m in status["members"]
        ],
        metric_name=status["metric"]["name"],
        metric=status["metric"]["value"],
        dataset=status["dataset"],
        samples_seen=status["samples_seen"],
        state=status["state"],
        protection=_protection_to_pb(status.get("protection", {})),
        recovery=pb.Recovery(**status.get("recovery", {})),
    )


def _protection_to_pb(protection: dict[str, Any]) -> pb.Protection:
    return pb.Protection(
        quarantined=[pb.QuarantinedPeer(**q) for q in protection.get("quarantined", [])],
        quarantines=protection.get("quarantines", 0),
        clipped=protection.get("clipped", 0),
        unauthenticated=protection.get("unauthenticated", 0),
        limited=protection.get("limited", 0),
        malformed=protection.get("malformed", 0),
        refusals=[
            pb.RefusalCount(reason=r, count=n) for r, n in protection.get("refusals", {}).items()
        ],
    )


def _protection_from_pb(p: pb.Protection) -> dict[str, Any]:
    return {
        "quarantined": [
            {"id": q.id, "remaining_s": q.remaining_s, "reason": q.reason, "strikes": q.strikes}
            for q in p.quarantined
        ],
        "quarantines": p.quarantines,
        "clipped": p.clipped,
        "unauthenticated": p.unauthenticated,
        "limited": p.limited,
        "malformed": p.malformed,
        "refusals": {r.reason: r.count for r in p.refusals},
    }


def _recovery_from_pb(r: pb.Recovery) -> dict[str, Any]:
    return {
        "resumed": r.resumed,
        "resumed_step": r.resumed_step,
        "checkpoints_saved": r.checkpoints_saved,
        "checkpoints_skipped": r.checkpoints_skipped,
        "last_checkpoint_step": r.last_checkpoint_step,
        "catchup_state": r.catchup_state,
        "catchup_donor": r.catchup_donor,
        "catchup_step": r.catchup_step,
        "catchup_s": r.catchup_s,
        "fetches_served": r.fetches_served,
    }


def status_from_pb(reply: pb.StatusReply) -> dict[str, Any]:
    """The JSON of DESIGN.md §5 (plus a few extra fields)."""
    return {
        "id": reply.id,
        "address": reply.address,
        "generation": reply.generation,
        "uptime_s": reply.uptime_s,
        "state": reply.state,
        "step": reply.step,
        "samples_seen": reply.samples_seen,
        "loss": reply.loss,
        "accuracy": reply.accuracy if reply.has_accuracy else None,
        "metric": {"name": reply.metric_name, "value": reply.metric},
        "dataset": reply.dataset,
        "exchanges": {
            "ok": reply.exchanges.ok,
            "failed": reply.exchanges.failed,
            "refused": reply.exchanges.refused,
        },
        "bytes": {
            "sent": reply.bytes.sent,
            "received": reply.bytes.received,
            "by_codec": {
                c.codec: {"sent": c.sent, "received": c.received} for c in reply.bytes.by_codec
            },
        },
        "references": {
            "count": reply.references.count,
            "bytes": reply.references.bytes,
            "limit": reply.references.limit,
            "evictions": reply.references.evictions,
            "resets": reply.references.resets,
            "consensus_step": reply.references.consensus_step,
        },
        "model": {"params": reply.model.params, "fingerprint": reply.model.fingerprint},
        "compression": reply.compression,
        "members": [
            {
                "id": m.id,
                "address": m.address,
                "state": _PB_TO_STATE.get(m.state, State.DEAD).value,
                "generation": m.generation,
                "last_heard_s": m.last_heard_s,
            }
            for m in reply.members
        ],
        "protection": _protection_from_pb(reply.protection),
        "recovery": _recovery_from_pb(reply.recovery),
    }
