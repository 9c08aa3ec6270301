"""Per-connection call rates: a burst, then the rate; each connection on its own; bounded."""

from __future__ import annotations

from gossip.clock import ManualClock
from gossip.transport.callrate import CallRate


def test_a_connection_gets_its_burst_then_its_rate() -> None:
    clock = ManualClock()
    rate = CallRate(rate=10.0, burst=5.0, clock=clock.now)
    assert [rate.allow("ipv4:10.0.0.1:4000") for _ in range(6)] == [True] * 5 + [False]
    assert rate.allow("ipv4:10.0.0.1:4001")  # another connection: a bucket of its own
    clock.advance(0.1)  # one token back
    assert rate.allow("ipv4:10.0.0.1:4000") and not rate.allow("ipv4:10.0.0.1:4000")
    clock.advance(60.0)  # refilled to the burst, no more
    assert sum(rate.allow("ipv4:10.0.0.1:4000") for _ in range(10)) == 5
    assert rate.refused == 2 + 5


def test_a_member_calling_once_a_round_is_never_refused() -> None:
    clock = ManualClock()
    rate = CallRate(clock=clock.now)
    for _ in range(1000):  # a LAN round (0.2 s), with a leave or last call every time
        assert rate.allow("ipv4:127.0.0.1:5000") and rate.allow("ipv4:127.0.0.1:5000")
        clock.advance(0.2)
    assert rate.refused == 0


def test_new_connections_cannot_grow_the_table() -> None:
    rate = CallRate(capacity=8, clock=ManualClock().now)
    for port in range(1000):
        assert rate.allow(f"ipv4:10.0.0.1:{port}")
    assert len(rate._buckets) == 8


def test_charged_only_when_told_and_turned_away_once_spent() -> None:
    """Exchanges: admitted while tokens last; only refusals (``charge``) spend them."""
    clock = ManualClock()
    rate = CallRate(rate=1.0, burst=3.0, clock=clock.now)
    assert all(rate.admits("c") for _ in range(100)) and rate.refused == 0  # nothing charged
    for _ in range(3):
        rate.charge("c")
    assert not rate.admits("c") and rate.refused == 1
    clock.advance(1.0)
    assert rate.admits("c")
