"""Catch-up frames and donor choice: order, sizes and checksum are checked; bad donors skipped."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest

from gossip.averaging.pairwise import Snapshot, encode
from gossip.bootstrap import catch_up, order
from gossip.clock import ManualClock
from gossip.errors import ExchangeRefused, PeerUnavailable, WireError
from gossip.transport._pb import gossip_pb2 as pb
from gossip.transport.fetch import Fetched, FetchRequest, fetch_frames, read_fetch

VALUES = np.arange(10, dtype=np.float32)


def snapshot(values: np.ndarray = VALUES, fingerprint: str = "fp") -> Snapshot:
    return Snapshot("d", 1, "a:1", 50, fingerprint, values.size, "none", encode(values))


def test_round_trip_in_small_chunks() -> None:
    frames = list(fetch_frames(Fetched(snapshot(), 50), chunk_bytes=7))
    assert len(frames) == 1 + 6 + 1
    fetched = read_fetch(iter(frames), 1000)
    assert fetched.step == 50 and fetched.snapshot is not None
    assert fetched.snapshot.payload == encode(VALUES)


def test_not_ahead_is_a_lone_done_frame() -> None:
    fetched = read_fetch(fetch_frames(Fetched(None, 3)), 1000)
    assert fetched.snapshot is None and fetched.step == 3


@pytest.mark.parametrize("damage", ["swap", "repeat", "drop", "checksum", "no_done", "big"])
def test_malformed_streams_are_refused(damage: str) -> None:
    frames = list(fetch_frames(Fetched(snapshot(), 50), chunk_bytes=8))
    if damage == "swap":
        frames[0], frames[1] = frames[1], frames[0]
    elif damage == "repeat":
        frames.insert(2, frames[1])
    elif damage == "drop":
        del frames[2]
    elif damage == "checksum":
        frames[-1] = pb.FetchFrame(done=pb.FetchDone(ahead=True, sha256=b"x" * 32, step=50))
    elif damage == "no_done":
        frames.pop()
    with pytest.raises(WireError):
        read_fetch(iter(frames), 10 if damage == "big" else 1000)


def test_catch_up_moves_on_from_bad_donors() -> None:
    request = FetchRequest("me", "fp", VALUES.size, 10)
    answers = {
        "gone": PeerUnavailable("gone"),
        "other": Fetched(snapshot(fingerprint="other"), 90),
        "nan": Fetched(snapshot(np.full(10, np.nan, dtype=np.float32)), 90),
        "behind": Fetched(None, 5),
        "good": Fetched(snapshot(), 80),
    }

    def fetch(address: str, req: FetchRequest, timeout: float) -> Fetched:
        answer = answers[address]
        if isinstance(answer, Exception):
            raise answer
        return answer

    donors = [(k, k) for k in answers]
    values, result = catch_up(
        donors, fetch, request, lambda: 0.0, timeout=1.0, budget=1.0, max_tries=5
    )
    assert values is not None and result.state == "done" and result.donor == "good"
    np.testing.assert_array_equal(values, VALUES)
    assert result.tried == list(answers) and len(result.errors) == 3
    none, result = catch_up(donors[:3], fetch, request, lambda: 0.0, timeout=1.0, budget=1.0)
    assert none is None and result.state == "failed"


def test_a_donor_busy_catching_up_itself_is_not_ahead_and_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Peers started together ask each other while each is catching up: that is normal."""
    request = FetchRequest("me", "fp", VALUES.size, 0)

    def busy(address: str, req: FetchRequest, timeout: float) -> Fetched:
        raise ExchangeRefused("busy", f"{address}: still catching up itself")

    with caplog.at_level(logging.INFO, logger="gossip.bootstrap"):
        values, result = catch_up(
            [("a", "a:1"), ("b", "b:1")], busy, request, lambda: 0.0, timeout=1.0, budget=1.0
        )
    assert values is None and result.state == "none" and result.errors == []
    assert result.tried == ["a", "b"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_unreachable_donors_share_one_budget_and_answered_ones_go_first() -> None:
    """A fetch to an address that leads nowhere waits its deadline: three cost one budget."""
    request = FetchRequest("me", "fp", VALUES.size, 10)
    clock = ManualClock()
    timeouts: list[float] = []

    def nowhere(address: str, req: FetchRequest, timeout: float) -> Fetched:
        timeouts.append(timeout)
        clock.advance(timeout)
        raise PeerUnavailable(f"{address}: deadline exceeded")

    donors = [("a", "a:1"), ("b", "b:1"), ("c", "c:1")]
    values, result = catch_up(donors, nowhere, request, clock.now, timeout=10.0, budget=15.0)
    assert values is None and result.state == "failed"
    assert timeouts == [10.0, 5.0] and clock.now() == 15.0
    assert result.tried == ["a", "b"] and "c and later donors not asked" in result.errors[-1]

    rng = random.Random(0)
    for _ in range(20):
        ordered = order([("a", "a:1"), ("b", "b:1")], [("x", "x:1"), ("y", "y:1")], rng)
        assert {d for d, _ in ordered[:2]} == {"a", "b"}
        assert {d for d, _ in ordered[2:]} == {"x", "y"}
