"""Receive buffers kept between exchanges (gossip/transport/buffers.py), and their safety."""

from __future__ import annotations

import gc

import numpy as np

from gossip.averaging.pairwise import RAW_CODEC, Snapshot
from gossip.transport.buffers import ReceiveBuffers
from gossip.transport.wire import SnapshotAssembler, decode_frame, encode_frame, snapshot_frames

MIB = 1 << 20


def address(array: np.ndarray) -> int:
    return int(array.__array_interface__["data"][0])


def test_a_buffer_nothing_refers_to_is_lent_again() -> None:
    buffers = ReceiveBuffers()
    first = buffers.take(3 * MIB)
    where = address(first)
    del first
    again = buffers.take(3 * MIB)
    assert address(again) == where
    assert buffers.kept_bytes == 3 * MIB


def test_a_buffer_still_read_is_never_lent() -> None:
    buffers = ReceiveBuffers(limit=1)
    lease = buffers.take(MIB)
    lease[:] = 7
    payload = memoryview(lease).toreadonly()  # how the assembler hands it on
    values = np.frombuffer(payload, np.float32)[10:20]  # how a codec reads it
    del lease, payload
    other = buffers.take(MIB)  # the kept one is still read: a buffer of its own
    assert not np.shares_memory(other, values)
    other[:] = 9
    assert (values.view(np.uint8) == 7).all()
    del other, values
    gc.collect()
    assert buffers.lent == 0
    lent = buffers.take(MIB)
    assert buffers.lent == 1 and lent.size == MIB


def test_at_most_limit_buffers_are_kept_and_a_small_one_grows() -> None:
    buffers = ReceiveBuffers(limit=2)
    held = [buffers.take(MIB) for _ in range(4)]  # two kept, two of their own
    assert buffers.kept_bytes == 2 * MIB and buffers.lent == 2
    del held
    bigger = buffers.take(5 * MIB)  # a free kept one is replaced by one that fits
    assert bigger.size == 5 * MIB
    assert buffers.kept_bytes == 6 * MIB
    smaller = buffers.take(MIB // 2)  # the smallest free one that fits, cut to size
    assert smaller.size == MIB // 2
    assert buffers.kept_bytes == 6 * MIB


def snapshot(fill: int, size: int = 3 * MIB + 5) -> Snapshot:
    return Snapshot("a", 1, "127.0.0.1:1", 0, "fp", size // 4, RAW_CODEC, bytes([fill]) * size)


def assemble(sent: Snapshot, buffers: ReceiveBuffers) -> Snapshot:
    frames = [decode_frame(encode_frame(f)) for f in snapshot_frames(sent)]
    return SnapshotAssembler(frames[0], 1 << 30, buffers=buffers).read(iter(frames[1:]))


def test_assembled_payloads_reuse_one_buffer_and_a_kept_one_is_never_overwritten() -> None:
    buffers = ReceiveBuffers(limit=1)
    first = assemble(snapshot(1), buffers)
    assert first.payload == snapshot(1).payload
    where = address(np.frombuffer(first.payload, np.uint8))
    second = assemble(snapshot(2), buffers)  # the first is still held: not its buffer
    assert first.payload == snapshot(1).payload and second.payload == snapshot(2).payload
    del first, second
    third = assemble(snapshot(3), buffers)
    assert third.payload == snapshot(3).payload
    assert address(np.frombuffer(third.payload, np.uint8)) == where  # pages mapped once
    assert buffers.kept_bytes == len(snapshot(3).payload)
