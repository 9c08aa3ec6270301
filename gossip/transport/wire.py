"""Conversions between the pure types and the protobuf messages of protos/gossip/v1.

Every transport goes through these functions, so the in-memory network
exercises the same encoding as gRPC. Frames from a peer are checked here:
a violation raises :class:`~gossip.errors.WireError` with a reason.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from typing import Any, cast

import numpy as np

from gossip.averaging.pairwise import Snapshot
from gossip.errors import WireError
from gossip.membership.types import Digest, MemberEntry, State
from gossip.transport._pb import gossip_pb2 as pb
from gossip.transport.buffers import ReceiveBuffers
from gossip.transport.control import STATE_NAMES

CHUNK_BYTES = 1 << 20
"""Payload bytes per frame: gRPC's default message limit is 4 MiB; 1 MiB streams fastest."""

GRPC_FRAME_OVERHEAD = 5
"""gRPC's length-prefixed message header: 1 flag byte + 4 length bytes."""

PB_TO_STATE = {value: State(name) for value, name in STATE_NAMES.items()}
STATE_TO_PB = {state: value for value, state in PB_TO_STATE.items()}


def wire_size(message: Any) -> int:
    """Bytes a message occupies on the wire, gRPC framing included."""
    if isinstance(message, Chunk):
        return len(message.encoded) + GRPC_FRAME_OVERHEAD
    return int(message.ByteSize()) + GRPC_FRAME_OVERHEAD


# ---------------------------------------------------------------- snapshots

_CHUNK_TAG = 0x12
"""``Frame.chunk``'s protobuf tag: field 2, length-delimited."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class Chunk:
    """A chunk ``Frame`` in its wire form: the tag and length protobuf would write, then the bytes.

    Through protobuf a 1 MiB chunk is copied into the message, out of it when
    serialised, into the parsed message and out again when read (four passes);
    this is the same ``Frame`` on the wire, written by one join and read by
    slicing (:func:`decode_frame` parses anything else with protobuf).
    """

    __slots__ = ("chunk", "encoded")

    def __init__(self, encoded: bytes, start: int) -> None:
        self.encoded = encoded
        self.chunk = memoryview(encoded)[start:]
        """The chunk's bytes, a view into ``encoded`` (as ``Frame.chunk`` reads)."""

    @classmethod
    def of(cls, data: bytes | memoryview) -> Chunk:
        prefix = bytes((_CHUNK_TAG,)) + _varint(len(data))
        return cls(b"".join((prefix, data)), len(prefix))

    @classmethod
    def parse(cls, encoded: bytes) -> Chunk | None:
        """The frame when ``encoded`` is exactly one chunk field; None for anything else."""
        if len(encoded) < 2 or encoded[0] != _CHUNK_TAG:
            return None
        length, shift, index = 0, 0, 1
        for index in range(1, min(len(encoded), 11)):  # a varint has at most 10 bytes
            byte = encoded[index]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        else:
            return None
        start = index + 1
        return cls(encoded, start) if start + length == len(encoded) else None


Frame = pb.Frame | Chunk
"""A frame of the Exchange stream: chunks stay in wire form, the rest is protobuf."""


def frame_kind(frame: Frame) -> str | None:
    """Which field of the ``Frame`` oneof is set: header, chunk, verdict or None."""
    return "chunk" if isinstance(frame, Chunk) else frame.WhichOneof("kind")


def verdict_of(frame: Frame | None) -> pb.Verdict | None:
    """The verdict a frame carries; None for any other frame (or none)."""
    if isinstance(frame, pb.Frame) and frame.WhichOneof("kind") == "verdict":
        return frame.verdict
    return None


def encode_frame(frame: Frame) -> bytes:
    """A frame as it travels: the protobuf encoding of ``Frame`` in gossip.proto."""
    return frame.encoded if isinstance(frame, Chunk) else frame.SerializeToString()


def decode_frame(data: bytes) -> Frame:
    """Parse one frame's bytes (malformed bytes raise protobuf's DecodeError)."""
    return Chunk.parse(data) or pb.Frame.FromString(data)


SHARED_WITH_OFFER = (
    "fingerprint", "num_params", "codec", "ref_version", "ref_base", "blocks", "block_ids",
    "consensus_step",
)  # fmt: skip
"""Header fields a reply must share with the offer it answers: a reply leaves them out."""

ESTABLISHED = ("fingerprint", "num_params", "address")
"""Header fields a continuing snapshot leaves out: the pair's start checked them."""


_EMPTY: dict[str, Any] = {  # a field left out reads as protobuf's default
    "fingerprint": "", "num_params": 0, "address": "", "codec": "", "ref_version": 0,
    "ref_base": 0, "blocks": 1, "block_ids": (), "consensus_step": 0.0,
}  # fmt: skip


def header_frame(
    snapshot: Snapshot, chunk_bytes: int = CHUNK_BYTES, answering: Snapshot | None = None
) -> pb.Frame:
    """The frame announcing a snapshot, with a payload of at most one chunk inside it.

    It leaves out what the receiver already has (gossip.proto): ``answering``
    is the offer a reply answers.
    """
    fields = {f.name: getattr(snapshot, f.name) for f in dataclasses.fields(Snapshot)}
    if snapshot.ref_version:
        fields.update({name: _EMPTY[name] for name in ESTABLISHED})
    if answering is not None:
        for name in SHARED_WITH_OFFER:
            if fields[name] == getattr(answering, name):
                fields[name] = _EMPTY[name]
    size = len(snapshot.payload)
    inline = size <= chunk_bytes
    return pb.Frame(
        header=pb.SnapshotHeader(
            sender_id=fields["sender_id"],
            generation=fields["generation"],
            fingerprint=fields["fingerprint"],
            num_params=fields["num_params"],
            codec=fields["codec"],
            payload_bytes=0 if inline else size,
            chunk_bytes=0 if inline else chunk_bytes,
            step=fields["step"],
            sender_address=fields["address"],
            codec_seed=fields["seed"],
            ref_version=fields["ref_version"],
            ref_base=fields["ref_base"],
            blocks=fields["blocks"] if fields["blocks"] > 1 else 0,
            block_ids=fields["block_ids"],
            consensus_step=fields["consensus_step"],
            payload=bytes(snapshot.payload) if inline else b"",
            free_speed=fields["free_speed"],
            normalizer=bytes(snapshot.normalizer),
            normalizer_offset=snapshot.normalizer_offset,
            ref_chain=snapshot.ref_chain,
        )
    )


def snapshot_frames(
    snapshot: Snapshot, chunk_bytes: int = CHUNK_BYTES, answering: Snapshot | None = None
) -> Iterator[Frame]:
    """A header frame, then, beyond one chunk, the payload in chunks of ``chunk_bytes``."""
    yield header_frame(snapshot, chunk_bytes, answering)
    payload = memoryview(snapshot.payload)
    if len(payload) > chunk_bytes:
        for start in range(0, len(payload), chunk_bytes):
            yield Chunk.of(payload[start : start + chunk_bytes])


def header_snapshot(header: pb.SnapshotHeader, answering: Snapshot | None = None) -> Snapshot:
    """The header's fields as a Snapshot with an empty payload; a reply's gaps from its offer."""
    snapshot = Snapshot(
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
        free_speed=header.free_speed,
        normalizer=header.normalizer,
        normalizer_offset=header.normalizer_offset,
        ref_chain=header.ref_chain,
    )
    if answering is None:
        return snapshot
    left_out = [name for name in SHARED_WITH_OFFER if getattr(snapshot, name) == _EMPTY[name]]
    return dataclasses.replace(snapshot, **{name: getattr(answering, name) for name in left_out})


def _varint_bytes(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def _field_bytes(length: int, tag: int = 1) -> int:
    """A length-delimited protobuf field of ``length`` bytes: tag, length, bytes."""
    return tag + _varint_bytes(length) + length


def snapshot_wire_bytes(
    snapshot: Snapshot, chunk_bytes: int = CHUNK_BYTES, answering: Snapshot | None = None
) -> int:
    """Bytes :func:`snapshot_frames` puts on the wire (protobuf + gRPC framing), computed."""
    size = len(snapshot.payload)
    bare = dataclasses.replace(snapshot, payload=b"")
    header = header_frame(bare, chunk_bytes, answering).header.ByteSize()
    if size <= chunk_bytes:  # inline: a bigger header, no chunk frame
        inline = _field_bytes(size, tag=2) if size else 0  # field 16: a 2-byte tag
        return _field_bytes(header + inline) + GRPC_FRAME_OVERHEAD
    header += 1 + _varint_bytes(size) + 1 + _varint_bytes(chunk_bytes)  # payload_bytes, chunk_bytes
    full, last = divmod(size, chunk_bytes)
    total = _field_bytes(header) + GRPC_FRAME_OVERHEAD
    total += full * (_field_bytes(chunk_bytes) + GRPC_FRAME_OVERHEAD)
    if last:
        total += _field_bytes(last) + GRPC_FRAME_OVERHEAD
    return total


def verdict_wire_bytes(applied: bool = True, reason: str = "", detail: str = "") -> int:
    return wire_size(verdict_frame(applied, reason, detail))


def header_of(frame: Frame) -> pb.SnapshotHeader:
    """The header a stream must start with; WireError for anything else."""
    if isinstance(frame, Chunk) or frame.WhichOneof("kind") != "header":
        raise WireError("expected a header frame first")
    return frame.header


class SnapshotAssembler:
    """Rebuilds a snapshot from frames, refusing anything out of order or oversized.

    Each chunk is copied, as it arrives, into one buffer of the announced size:
    the only copy of the payload on this side, made while the next chunks are
    still on the way, by numpy (which lets go of the GIL while it copies). The
    buffer is numpy memory, not a ``bytes`` join at the end: on a 2-core VM,
    joining 40 MB into fresh 4 KiB pages took 83 ms after the last chunk, this
    takes ~1 ms then (docs/architecture.md). ``buffers`` lends a buffer whose
    pages an earlier exchange mapped (gossip/transport/buffers.py); without it,
    a new one. ``answering`` is the offer a reply answers (the fields the reply
    left out).
    """

    def __init__(
        self,
        header_frame: Frame,
        max_payload_bytes: int,
        answering: Snapshot | None = None,
        buffers: ReceiveBuffers | None = None,
    ) -> None:
        self.header = header_of(header_frame)
        self._answering = answering
        inline = self.header.payload  # upb makes a new bytes object per access: read it once
        if inline and self.header.payload_bytes:
            raise WireError("a header with a payload inside announces no chunks")
        size = len(inline) or self.header.payload_bytes
        if size > max_payload_bytes:
            raise WireError(f"payload of {size} bytes exceeds the limit of {max_payload_bytes}")
        self._size = size
        self._inline = inline
        if inline or buffers is None:
            self._buffer = np.empty(0 if inline else size, np.uint8)
        else:
            self._buffer = buffers.take(size)
        self._filled = len(inline)

    @property
    def complete(self) -> bool:
        return self._filled == self._size

    def add(self, frame: Frame) -> None:
        kind = frame_kind(frame)
        if kind != "chunk":
            raise WireError(f"expected a chunk frame, got {kind}")
        self.add_chunk(frame.chunk)  # read it once (see above)

    def add_chunk(self, chunk: bytes | memoryview) -> None:
        end = self._filled + len(chunk)
        if not chunk or end > self._size:
            raise WireError("chunk overruns the announced payload size")
        self._buffer[self._filled : end] = np.frombuffer(chunk, np.uint8)
        self._filled = end

    def read(self, frames: Iterator[Frame]) -> Snapshot:
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
        payload = self._inline or _received_payload(self._buffer)
        return dataclasses.replace(header_snapshot(self.header, self._answering), payload=payload)


def _received_payload(buffer: np.ndarray) -> bytes:
    """The assembled payload, read-only, as ``Snapshot.payload``.

    ``Snapshot.payload`` is typed ``bytes`` (gossip.averaging, the codecs); a
    read-only memoryview reads the same through everything that consumes it
    (``len``, slicing, ``==``, ``np.frombuffer``, ``hashlib``) without a copy
    into a new ``bytes``. The cast goes once that type says "bytes-like".
    """
    return cast(bytes, memoryview(buffer).toreadonly())  # type: ignore[arg-type]


def read_snapshot(
    frames: Iterator[Frame],
    first: Frame,
    max_payload_bytes: int,
    answering: Snapshot | None = None,
    buffers: ReceiveBuffers | None = None,
) -> Snapshot:
    """Consume chunk frames after ``first`` (a header) until the payload is complete."""
    return SnapshotAssembler(first, max_payload_bytes, answering, buffers).read(frames)


def verdict_frame(applied: bool, reason: str = "", detail: str = "") -> pb.Frame:
    return pb.Frame(verdict=pb.Verdict(applied=applied, reason=reason, detail=detail))


# ---------------------------------------------------------------- membership


_SENDER_TAG, _ENTRY_TAG = 0x0A, 0x12
"""``Digest.sender_id`` and ``Digest.entries``: fields 1 and 2, length-delimited."""
_RELAY_ID_TAG, _RELAY_ADDRESS_TAG = 0x22, 0x2A
"""``Digest.relay_id`` and ``relay_address``: fields 4 and 5, length-delimited."""
_FULL_TRUE, _RELAY_OK_TRUE = b"\x18\x01", b"\x30\x01"
"""``Digest.full`` and ``relay_ok`` (fields 3 and 6, varint) when true."""


ENTRY_CACHE = 4096
"""Encoded entries kept: above the most a digest holds (2,048 members and 256
tombstones, gossip/membership/config.py), so every entry unchanged since the
last digest is still there. About 500 B each (key and bytes), 2 MB full; it
fills with time, not with a peer's input (each round makes the node's own
entry new). 16,384 (8 MB, filled in ~55 minutes) had the same hit rate."""


@functools.lru_cache(maxsize=ENTRY_CACHE)
def _entry_field(entry: MemberEntry) -> bytes:
    """One entry as field 2 of a Digest: tag, length and protobuf's bytes of the MemberEntry."""
    data = pb.MemberEntry(
        id=entry.id,
        address=entry.address,
        generation=entry.generation,
        heartbeat=entry.heartbeat,
        state=STATE_TO_PB[entry.state],
        beat=entry.beat,
    ).SerializeToString()
    return bytes((_ENTRY_TAG,)) + _varint(len(data)) + data


def encode_digest(digest: Digest) -> bytes:
    """A ``Digest``'s protobuf bytes, each entry's field cached.

    A digest holds every member (hundreds, when hearsay fills the view) and is
    sent in every push-pull and its reply; between two, only the entries whose
    heartbeat moved are new. Building a protobuf message per entry each time
    cost 4.7 ms for 320 entries on the 2-core VM at load 20; with the cache,
    1.0 ms.
    """
    sender = digest.sender_id.encode()
    head = bytes((_SENDER_TAG,)) + _varint(len(sender)) + sender if sender else b""
    tail = b""
    if digest.full:
        tail += _FULL_TRUE
    if digest.relay_id:
        relay_id, relay_address = digest.relay_id.encode(), digest.relay_address.encode()
        tail += bytes((_RELAY_ID_TAG,)) + _varint(len(relay_id)) + relay_id
        tail += bytes((_RELAY_ADDRESS_TAG,)) + _varint(len(relay_address)) + relay_address
    if digest.relay_ok:
        tail += _RELAY_OK_TRUE
    return head + b"".join(map(_entry_field, digest.entries)) + tail


def decode_digest(data: bytes) -> Digest:
    """The inverse of :func:`encode_digest` (any protobuf encoder's bytes)."""
    return digest_from_pb(pb.Digest.FromString(data))


def digest_from_pb(message: pb.Digest) -> Digest:
    """Decode a digest; entries with an unknown state are dropped, not trusted."""
    entries = tuple(
        MemberEntry(e.id, e.address, e.generation, e.heartbeat, PB_TO_STATE[e.state], e.beat)
        for e in message.entries
        if e.state in PB_TO_STATE
    )
    return Digest(
        message.sender_id,
        entries,
        message.full,
        message.relay_id,
        message.relay_address,
        message.relay_ok,
    )
