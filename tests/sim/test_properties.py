"""Property-based tests (Hypothesis): hostile input to the decoder, the session, the merge.

Invariants (issue 15): a refused exchange leaves the model unchanged, the status
reply stays under 64 KB, every log line is one printable line, membership stays
within its caps and a tombstone's life is not restarted by hearsay.
"""

from __future__ import annotations

import io
import logging
import random
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gossip.averaging.pairwise import RAW_CODEC, Snapshot, encode
from gossip.errors import WireError
from gossip.logsafe import OneLineFormatter
from gossip.membership import Digest, MemberEntry, Membership, MembershipConfig, State
from gossip.membership.core import invalid_reason
from gossip.node import Node
from gossip.transport.memory import InMemoryNetwork
from gossip.transport.session import respond
from gossip.transport.status_pb import status_to_pb
from gossip.transport.wire import (
    Frame,
    SnapshotAssembler,
    decode_frame,
    encode_frame,
    snapshot_frames,
    verdict_frame,
)

from .conftest import make_peers

STATUS_LIMIT = 64 << 10
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x40), max_size=20),  # control characters
    st.builds(lambda c, n: c * n, st.sampled_from("x\n\x1b"), st.integers(1000, 300_000)),
)


@pytest.fixture(scope="module")
def node() -> Node:
    (peer,) = make_peers(1, InMemoryNetwork(seed=0), max_steps=0, id="target", listen="t:1")
    return peer


@pytest.fixture(scope="module")
def log_lines() -> Iterator[io.StringIO]:
    """Every gossip log record, formatted as gossip-node writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("gossip")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# ---------------------------------------------------------------- wire decoder


@SETTINGS
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_decoder_accepts_or_refuses_any_bytes(chunks: list[bytes]) -> None:
    frames: list[Frame] = []
    for data in chunks:
        try:
            frames.append(decode_frame(data))
        except DecodeError:
            return  # refused as malformed (SafeDecoding counts it)
    try:
        snapshot = SnapshotAssembler(frames[0], 1 << 16).read(iter(frames[1:]))
    except WireError:
        return
    assert len(snapshot.payload) <= 1 << 16


# ---------------------------------------------------------------- exchange session


@st.composite
def hostile_exchange(draw: st.DrawFn, node: Node) -> list[Frame]:
    """An offer with hostile header fields and payload, then a verdict (or none)."""
    size = node.replica.num_params
    payload = draw(
        st.one_of(
            st.binary(max_size=64),
            st.just(encode(node.replica.params + np.float32(1.0))),
            st.just(encode(np.full(size, np.nan, np.float32))),
        )
    )
    offer = Snapshot(
        sender_id=draw(st.one_of(st.just("peer-1"), hostile_text)),
        generation=draw(st.integers(0, 1 << 63)),
        address=draw(st.one_of(st.just("peer:1"), hostile_text)),
        step=draw(st.integers(0, 1 << 40)),
        fingerprint=draw(st.sampled_from([node.replica.fingerprint, "", "other"])),
        num_params=draw(st.sampled_from([size, 0, size + 1])),
        codec=draw(st.one_of(st.sampled_from([RAW_CODEC, "topk:0.1", "zstd"]), hostile_text)),
        payload=payload,
        blocks=draw(st.integers(1, 4)),
        block_ids=tuple(draw(st.lists(st.integers(0, 5), max_size=3))),
        consensus_step=draw(st.sampled_from([0.0, 0.5, -1.0, 7.0])),
    )
    frames = list(snapshot_frames(offer))
    if draw(st.booleans()):
        frames.append(verdict_frame(draw(st.booleans()), draw(hostile_text), draw(hostile_text)))
    return frames


@SETTINGS
@given(data=st.data())
def test_session_refusals_leave_the_model_and_bound_status_and_logs(
    node: Node, log_lines: io.StringIO, data: st.DataObject
) -> None:
    frames = data.draw(hostile_exchange(node))
    before, ok = node.replica.params.copy(), node.counts["ok"]
    list(respond((decode_frame(encode_frame(f)) for f in frames), node, 1 << 20))
    if node.counts["ok"] == ok:  # refused, lost or malformed: nothing applied
        np.testing.assert_array_equal(node.replica.params, before)
    else:
        node.replica.params[...] = before  # keep later examples comparable
    assert status_to_pb(node.status()).ByteSize() < STATUS_LIMIT
    for line in log_lines.getvalue().splitlines():
        assert line.isprintable() and len(line) < 2000, line[:200]


# ---------------------------------------------------------------- membership merge

CONFIG = replace(MembershipConfig.lan(), max_members=4, max_tombstones=3)
IDS = ["a", "b", "c", "d", "e", "f", "g", "bad id", "x" * 70]

member_entries = st.builds(
    MemberEntry,
    id=st.sampled_from(IDS),
    address=st.sampled_from(["h:1", "h:2", "h:0", "", "h\n:1"]),
    generation=st.integers(0, 3),
    heartbeat=st.integers(0, 5),
    state=st.sampled_from(list(State)),
)


@SETTINGS
@given(st.lists(st.tuples(st.floats(0.0, 30.0), st.lists(member_entries, max_size=8)), max_size=20))
def test_merge_stays_within_caps_and_keeps_only_valid_members(
    digests: list[tuple[float, list[MemberEntry]]],
) -> None:
    m = Membership(MemberEntry("me", "me:1", 1, 0), CONFIG, 0.0)
    now = 0.0
    for dt, entries in digests:
        now += dt
        m.merge(Digest("sender", tuple(entries)), now)
        m.tick(now, random.Random(0))
        members = m.members()
        live = [e for e in members if e.state in (State.ALIVE, State.SUSPECT)]
        assert len(live) <= CONFIG.max_members
        assert len(members) - len(live) <= CONFIG.max_tombstones
        assert all(invalid_reason(e) is None for e in members)


@SETTINGS
@given(st.lists(st.tuples(st.floats(0.05, 20.0), st.booleans()), min_size=1, max_size=60))
def test_hearsay_never_extends_a_tombstone(rounds: list[tuple[float, bool]]) -> None:
    """Two nodes push-pull at random moments; an injected tombstone is gone after 2 ttl."""
    ttl = CONFIG.tombstone_ttl
    a = Membership(MemberEntry("a", "a:1", 1, 0), CONFIG, 0.0)
    b = Membership(MemberEntry("b", "b:1", 1, 0), CONFIG, 0.0)
    a.merge(Digest("attacker", (MemberEntry("junk", "j:1", 1, 5, State.DEAD),)), 0.0)
    now = 0.0
    for dt, a_first in rounds * 4:  # long enough to pass 2 ttl in most draws
        now += dt
        first, second = (a, b) if a_first else (b, a)
        second.merge(first.digest(), now)
        first.merge(second.digest(), now)
        a.tick(now, random.Random(0))
        b.tick(now, random.Random(0))
        if now > 2 * ttl:
            assert a.state_of("junk") is None and b.state_of("junk") is None, now
