"""Wire encoding: chunking, frame checks, and protobuf round trips (gossip.transport.wire)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from google.protobuf.message import DecodeError

from gossip.averaging.pairwise import RAW_CODEC, Snapshot
from gossip.errors import WireError
from gossip.membership.types import Digest, MemberEntry, State
from gossip.status import Status
from gossip.transport._pb import gossip_pb2 as pb
from gossip.transport.control import status_from_bytes
from gossip.transport.lightpb import decode
from gossip.transport.status_pb import status_to_pb
from gossip.transport.wire import (
    CHUNK_BYTES,
    STATE_TO_PB,
    Chunk,
    Frame,
    SnapshotAssembler,
    decode_digest,
    decode_frame,
    digest_from_pb,
    encode_digest,
    encode_frame,
    frame_kind,
    read_snapshot,
    snapshot_frames,
    snapshot_wire_bytes,
    verdict_frame,
    wire_size,
)

MIB = 1 << 20
assert CHUNK_BYTES == MIB


def make_snapshot(size: int) -> Snapshot:
    payload = bytes((i * 7 + 3) % 251 for i in range(min(size, 4096))) * (size // 4096 + 1)
    return Snapshot("a", 3, "127.0.0.1:1", 42, "fp", size // 4, RAW_CODEC, payload[:size])


def through_wire(frames: list[Frame]) -> list[Frame]:
    return [decode_frame(encode_frame(f)) for f in frames]


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@pytest.mark.parametrize("size", [0, 1, MIB, MIB + 1, 3 * MIB + 12345])
def test_payload_is_chunked_and_reassembled_byte_exact(size: int) -> None:
    snapshot = make_snapshot(size)
    frames = list(snapshot_frames(snapshot))

    assert isinstance(frames[0], pb.Frame) and frame_kind(frames[0]) == "header"
    header = frames[0].header
    if size <= CHUNK_BYTES:  # one chunk at most: inside the header, nothing follows
        assert len(frames) == 1
        assert (header.payload, header.payload_bytes, header.chunk_bytes) == (
            snapshot.payload,
            0,
            0,
        )
    else:
        assert (header.payload, header.payload_bytes, header.chunk_bytes) == (
            b"",
            size,
            CHUNK_BYTES,
        )
        chunks = frames[1:]
        assert all(frame_kind(f) == "chunk" for f in chunks)
        assert len(chunks) == -(-size // CHUNK_BYTES)
        assert all(0 < len(f.chunk) <= CHUNK_BYTES for f in chunks)

    wire = through_wire(frames)
    rebuilt = read_snapshot(iter(wire[1:]), wire[0], max_payload_bytes=size)
    assert rebuilt == snapshot
    assert memoryview(rebuilt.payload).readonly  # nobody writes into a received payload
    assert sum(wire_size(f) for f in frames) == snapshot_wire_bytes(snapshot)


def test_chunk_frame_encoding_is_protobuf_field_2() -> None:
    data = bytes(range(256)) * 600
    encoded = encode_frame(pb.Frame(chunk=data))
    assert encoded == b"\x12" + varint(len(data)) + data
    assert wire_size(pb.Frame(chunk=data)) == len(encoded) + 5


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16383, 16384, MIB])
def test_chunk_in_wire_form_is_the_protobuf_frame(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    protobuf = pb.Frame(chunk=data).SerializeToString()
    ours = Chunk.of(memoryview(data))
    assert encode_frame(ours) == protobuf  # what a plain protobuf client writes
    assert pb.Frame.FromString(ours.encoded).chunk == data  # and reads
    parsed = decode_frame(protobuf)
    assert isinstance(parsed, Chunk) and bytes(parsed.chunk) == data
    assert wire_size(ours) == wire_size(pb.Frame(chunk=data))


@pytest.mark.parametrize(
    "data",
    [
        pb.Frame(chunk=b"abc").SerializeToString() + verdict_frame(True).SerializeToString(),
        pb.Frame(chunk=b"abc").SerializeToString() * 2,
        verdict_frame(False, "x").SerializeToString() + pb.Frame(chunk=b"z").SerializeToString(),
        b"\x12\x80\x80\x01" + b"q" * 16384,  # a longer varint than needed: still one chunk
    ],
)
def test_frames_that_are_more_than_one_chunk_parse_as_protobuf_does(data: bytes) -> None:
    expected = pb.Frame.FromString(data)
    parsed = decode_frame(data)
    assert frame_kind(parsed) == expected.WhichOneof("kind")
    if isinstance(parsed, Chunk):
        assert bytes(parsed.chunk) == expected.chunk
    else:
        assert parsed == expected


@pytest.mark.parametrize("data", [b"\x12", b"\x12\x05abc", b"\x12\xff", b"\x12" + b"\xff" * 11])
def test_truncated_chunk_frames_are_refused_as_protobuf_refuses_them(data: bytes) -> None:
    with pytest.raises(DecodeError):
        pb.Frame.FromString(data)
    with pytest.raises(DecodeError):
        decode_frame(data)


def test_header_fields_survive_the_wire() -> None:
    snapshot = make_snapshot(8)
    header = through_wire(list(snapshot_frames(snapshot, chunk_bytes=4))[:1])[0]
    assembler = SnapshotAssembler(header, max_payload_bytes=8)
    assert not assembler.complete
    h = assembler.header
    assert (h.sender_id, h.generation, h.sender_address, h.step) == ("a", 3, "127.0.0.1:1", 42)
    assert (h.fingerprint, h.num_params, h.codec) == ("fp", 2, RAW_CODEC)


def test_a_normalizer_block_travels_in_the_header_and_is_counted() -> None:
    plain = make_snapshot(8)
    snapshot = dataclasses.replace(plain, normalizer=b"\x80\x3f" * 3, normalizer_offset=5)
    frames = through_wire(list(snapshot_frames(snapshot)))
    back = read_snapshot(iter(frames[1:]), frames[0], max_payload_bytes=8)
    assert (back.normalizer, back.normalizer_offset) == (b"\x80\x3f" * 3, 5)
    assert back.payload == plain.payload
    assert snapshot_wire_bytes(snapshot) == sum(wire_size(f) for f in frames)
    assert snapshot_wire_bytes(snapshot) - snapshot_wire_bytes(plain) == (2 + 1 + 6) + (2 + 1)
    assert (
        read_snapshot(iter([]), through_wire([next(snapshot_frames(plain))])[0], 8).normalizer
        == b""
    )


def test_first_frame_must_be_a_header() -> None:
    with pytest.raises(WireError, match="header"):
        SnapshotAssembler(pb.Frame(chunk=b"x"), max_payload_bytes=10)
    with pytest.raises(WireError, match="header"):
        read_snapshot(iter([]), verdict_frame(True), max_payload_bytes=10)


def test_chunk_overrunning_the_announced_size_is_refused() -> None:
    frames = list(snapshot_frames(make_snapshot(10), chunk_bytes=4))
    overrun = pb.Frame(chunk=b"y" * 11)
    with pytest.raises(WireError, match="overruns"):
        read_snapshot(iter([overrun]), frames[0], max_payload_bytes=100)
    assembler = SnapshotAssembler(frames[0], max_payload_bytes=100)
    assembler.add(pb.Frame(chunk=b"y" * 9))
    with pytest.raises(WireError, match="overruns"):
        assembler.add(pb.Frame(chunk=b"zz"))
    inline = SnapshotAssembler(next(snapshot_frames(make_snapshot(10))), max_payload_bytes=100)
    assert inline.complete  # the payload came inside the header: no chunk may follow
    with pytest.raises(WireError, match="overruns"):
        inline.add(pb.Frame(chunk=b"y"))


def test_empty_chunk_and_frame_out_of_order_are_refused() -> None:
    frames = list(snapshot_frames(make_snapshot(10), chunk_bytes=4))
    with pytest.raises(WireError):
        read_snapshot(iter([pb.Frame(chunk=b"")]), frames[0], max_payload_bytes=100)
    with pytest.raises(WireError, match="expected a chunk"):
        read_snapshot(iter([verdict_frame(True)]), frames[0], max_payload_bytes=100)


def test_stream_ending_early_is_refused() -> None:
    frames = list(snapshot_frames(make_snapshot(2 * MIB + 1)))
    with pytest.raises(WireError, match="ended before"):
        read_snapshot(iter(frames[1:-1]), frames[0], max_payload_bytes=3 * MIB)
    assembler = SnapshotAssembler(frames[0], max_payload_bytes=3 * MIB)
    assembler.add(frames[1])
    with pytest.raises(WireError, match="ended before"):
        assembler.snapshot()


def test_payload_larger_than_the_limit_is_refused_before_any_chunk() -> None:
    header = next(snapshot_frames(make_snapshot(MIB + 1)))
    with pytest.raises(WireError, match="exceeds the limit"):
        SnapshotAssembler(header, max_payload_bytes=MIB)
    SnapshotAssembler(header, max_payload_bytes=MIB + 1)  # exactly the limit is fine
    inline = next(snapshot_frames(make_snapshot(64)))
    with pytest.raises(WireError, match="exceeds the limit"):
        SnapshotAssembler(inline, max_payload_bytes=63)


def test_a_header_with_a_payload_inside_and_chunks_announced_is_refused() -> None:
    frame = next(snapshot_frames(make_snapshot(8)))
    frame.header.payload_bytes = 16
    with pytest.raises(WireError, match="announces no chunks"):
        SnapshotAssembler(frame, max_payload_bytes=100)


def compressed(sender: str, ref_version: int, payload: bytes = b"\x01" * 30) -> Snapshot:
    return Snapshot(
        sender, 7, f"{sender}:1", 5, "fp", 1000, "topk:0.03:sign", payload, seed=0,
        ref_version=ref_version, ref_base=0 if ref_version else 99, blocks=4, block_ids=(2,),
        consensus_step=0.5,
    )  # fmt: skip


@pytest.mark.parametrize("ref_version", [0, 12345])
def test_a_reply_leaves_out_what_it_shares_with_the_offer(ref_version: int) -> None:
    offer, reply = compressed("i", ref_version), compressed("r", ref_version, b"\x02" * 40)
    frames = through_wire(list(snapshot_frames(reply, answering=offer)))
    header = frames[0].header
    assert (header.codec, header.fingerprint, header.num_params, header.ref_version) == (
        "",
        "",
        0,
        0,
    )
    assert (header.blocks, list(header.block_ids), header.consensus_step) == (0, [], 0.0)
    assert (header.sender_id, header.generation, header.step) == ("r", 7, 5)
    rebuilt = read_snapshot(iter(frames[1:]), frames[0], 1000, answering=offer)
    expected_address = "" if ref_version else "r:1"  # a continuing snapshot leaves it out
    assert rebuilt == dataclasses.replace(reply, address=expected_address)
    assert sum(wire_size(f) for f in frames) == snapshot_wire_bytes(reply, answering=offer)
    # without the offer, the reply would be a different snapshot: the gaps are real
    assert read_snapshot(iter(frames[1:]), frames[0], 1000).codec == ""


def test_a_reply_that_differs_from_the_offer_says_so() -> None:
    offer = compressed("i", 12345)
    reply = dataclasses.replace(compressed("r", 12345), codec="int8", block_ids=(1,))
    frames = through_wire(list(snapshot_frames(reply, answering=offer)))
    rebuilt = read_snapshot(iter(frames[1:]), frames[0], 1000, answering=offer)
    assert (rebuilt.codec, rebuilt.block_ids) == ("int8", (1,))  # the initiator sees the mismatch


def test_a_continuing_snapshot_leaves_out_what_the_pair_start_checked() -> None:
    starting, continuing = compressed("i", 0), compressed("i", 12345)
    start_header = next(snapshot_frames(starting)).header
    assert (start_header.fingerprint, start_header.num_params) == ("fp", 1000)
    header = through_wire([next(snapshot_frames(continuing))])[0].header
    assert (header.fingerprint, header.num_params, header.sender_address) == ("", 0, "")
    assert header.codec == "topk:0.03:sign" and header.ref_version == 12345
    # what is left of a continuing offer's header: identity, step, codec, version, blocks, gamma
    overhead = snapshot_wire_bytes(continuing) - len(continuing.payload)
    assert overhead <= 50, overhead
    assert snapshot_wire_bytes(continuing) == sum(wire_size(f) for f in snapshot_frames(continuing))


def test_verdict_round_trip() -> None:
    frame = decode_frame(encode_frame(verdict_frame(False, "size_mismatch", "3 != 4")))
    assert frame.WhichOneof("kind") == "verdict"
    assert (frame.verdict.applied, frame.verdict.reason, frame.verdict.detail) == (
        False,
        "size_mismatch",
        "3 != 4",
    )


def test_digest_round_trip() -> None:
    digest = Digest(
        "n1",
        (
            MemberEntry("n1", "10.0.0.1:7000", 5, 99, State.ALIVE),
            MemberEntry("n2", "10.0.0.2:7000", 1, 3, State.SUSPECT),
            MemberEntry("n3", "node3:7000", 2, 0, State.DEAD),
            MemberEntry("n4", "[::1]:7000", 2**40, 2**33, State.LEFT),
        ),
    )
    assert decode_digest(encode_digest(digest)) == digest
    by_protobuf = pb.Digest(
        sender_id=digest.sender_id,
        entries=[
            pb.MemberEntry(
                id=e.id, address=e.address, generation=e.generation, heartbeat=e.heartbeat,
                state=STATE_TO_PB[e.state],
            )
            for e in digest.entries
        ],
    )  # fmt: skip
    assert encode_digest(digest) == by_protobuf.SerializeToString()  # the same bytes
    assert encode_digest(Digest("", ())) == b""


def test_digest_flags_and_indirect_probes_round_trip_as_protobuf_encodes_them() -> None:
    entry = MemberEntry("n2", "10.0.0.2:7000", 1, 3, State.SUSPECT)
    for digest in (
        Digest("n1", (entry,), full=True),
        Digest("n1", (entry,), relay_id="n9", relay_address="[::1]:7000"),
        Digest("n1", (), relay_ok=True),
    ):
        assert decode_digest(encode_digest(digest)) == digest
        by_protobuf = pb.Digest(
            sender_id=digest.sender_id,
            entries=[pb.MemberEntry(id=e.id, address=e.address, generation=e.generation,
                                    heartbeat=e.heartbeat, state=STATE_TO_PB[e.state])
                     for e in digest.entries],
            full=digest.full, relay_id=digest.relay_id,
            relay_address=digest.relay_address, relay_ok=digest.relay_ok,
        )  # fmt: skip
        assert encode_digest(digest) == by_protobuf.SerializeToString()
    # a digest of an earlier version (no flags) reads as a delta push
    old = pb.Digest(sender_id="n1", entries=[]).SerializeToString()
    assert decode_digest(old) == Digest("n1", ())


def test_digest_entry_with_unknown_state_is_dropped() -> None:
    message = pb.Digest.FromString(encode_digest(Digest("n1", (MemberEntry("n2", "a:1", 1, 1),))))
    message.entries.add(id="n3", address="b:1", generation=1, heartbeat=1, state=0)
    assert [e.id for e in digest_from_pb(message).entries] == ["n2"]


def make_status(accuracy: float | None) -> Status:
    return Status.from_json(
        {
            "id": "n1",
            "address": "127.0.0.1:7000",
            "generation": 7,
            "uptime_s": 12.5,
            "state": "training",
            "step": 300,
            "samples_seen": 9600,
            "loss": None if accuracy is None else 0.25,  # None: no training step yet
            "accuracy": accuracy,
            "metric": {"name": "accuracy" if accuracy is not None else "r2", "value": 0.5},
            "dataset": "digits",
            "exchanges": {"ok": 10, "failed": 2, "refused": 1},
            "bytes": {
                "sent": 123456789,
                "received": 987654321,
                "by_codec": {
                    "topk:0.01": {"sent": 1000, "received": 900},
                    "full": {"sent": 5, "received": 6},
                },
            },
            "references": {
                "count": 2,
                "bytes": 4096,
                "max_count": 8,
                "evictions": 1,
                "resets": 3,
                "consensus_step": 0.2,
            },
            "model": {"params": 2410, "fingerprint": "mlp:abc"},
            "compression": "topk:0.01",
            "members": [
                {
                    "id": "n2",
                    "address": "127.0.0.1:7001",
                    "state": "suspect",
                    "generation": 3,
                    "last_heard_s": 1.5,
                }
            ],
            "protection": {
                "quarantined": [
                    {"id": "bad", "remaining_s": 12.5, "reason": "scale", "strikes": 3}
                ],
                "quarantines": 1,
                "clipped": 4,
                "unauthenticated": 5,
                "limited": 6,
                "malformed": 7,
                "refusals": {"scale": 3, "busy": 1},
            },
            "recovery": {
                "resumed": True,
                "resumed_step": 120,
                "checkpoints_saved": 3,
                "checkpoints_skipped": 1,
                "last_checkpoint_step": 300,
                "catchup_state": "done",
                "catchup_donor": "n2",
                "catchup_step": 280,
                "catchup_s": 0.25,
                "fetches_served": 2,
            },
            "schedule": {
                "local_steps": 2,
                "steps_per_exchange": None if accuracy is None else 1.5,
                "completed": 80,
                "waits": 30,
                "waiting_s": 1.25,
                "in_flight": 1,
            },
        }
    )


@pytest.mark.parametrize("accuracy", [0.875, None])
def test_status_round_trip(accuracy: float | None) -> None:
    """Encoded by protobuf, decoded by gossip.transport.lightpb (what gossip-ctl does)."""
    status = make_status(accuracy)
    data = status_to_pb(status).SerializeToString()
    assert status_from_bytes(data) == status.as_json()
    assert Status.from_json(json.loads(json.dumps(status.as_json()))) == status  # reports, --json


def test_light_decoding_follows_protobuf() -> None:
    message = pb.MemberStatus(id="n1", address="a:1", state=2, generation=2**40, last_heard_s=-1.5)
    data = message.SerializeToString()
    unknown = b"\x98\x06\x07" + b"\xa2\x06\x02hi" + b"\xad\x06\x00\x00\x80?"  # 99, 100, 101
    assert decode(unknown + data, "MemberStatus") == {
        "id": "n1", "address": "a:1", "state": 2, "generation": 2**40, "last_heard_s": -1.5,
    }  # fmt: skip
    assert decode(b"", "Schedule")["local_steps"] == 0
    assert decode(b"", "StatusReply")["loss"] is None  # optional: unset is not 0.0
    assert decode(pb.StatusReply(loss=0.0).SerializeToString(), "StatusReply")["loss"] == 0.0
    negative = pb.SnapshotHeader(codec_seed=0).SerializeToString()
    assert decode(negative, "SnapshotHeader")["sender_id"] == ""
    for bad in (data[:-3], b"\x0a\x05ab", b"\xff" * 11, b"\x0b"):
        with pytest.raises(ValueError):
            decode(bad, "MemberStatus")


def test_entry_cache_holds_a_whole_digest_and_is_bounded() -> None:
    """Every entry of the largest digest stays cached between digests; the cache has a cap."""
    from gossip.membership.config import MembershipConfig
    from gossip.transport.wire import ENTRY_CACHE, _entry_field

    config = MembershipConfig()
    assert config.max_members + config.max_tombstones < ENTRY_CACHE
    assert _entry_field.cache_info().maxsize == ENTRY_CACHE


def test_the_reference_chain_travels_in_the_header_and_is_not_taken_from_the_offer() -> None:
    offer = dataclasses.replace(make_snapshot(8), ref_chain=1)
    frames = through_wire(list(snapshot_frames(offer)))
    assert read_snapshot(iter(frames[1:]), frames[0], max_payload_bytes=8).ref_chain == 1
    older = dataclasses.replace(offer, ref_chain=0)  # a reply of a release before the field
    header = through_wire([next(snapshot_frames(older, answering=offer))])[0]
    assert read_snapshot(iter([]), header, 8, answering=offer).ref_chain == 0
