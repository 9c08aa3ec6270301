"""Lifeguard's suspicion timeout: the small pure function."""

from __future__ import annotations

from gossip.membership.detector import suspicion_timeout


def test_suspicion_timeout_shrinks_with_confirmations() -> None:
    values = [suspicion_timeout(c, 3, 0.75, 3.0) for c in range(6)]
    assert values[0] == 3.0 and values[3:] == [0.75] * 3
    assert values == sorted(values, reverse=True)
    assert suspicion_timeout(0, 0, 0.75, 3.0) == 0.75  # nobody could confirm
