"""The first exchange waits for a settled view: quiet for a while, nothing pending, or a limit."""

from __future__ import annotations

import pytest

from gossip.view_settle import LIMIT_ROUNDS, QUIET_ROUNDS, ViewSettle

A, AB, ABC = frozenset({"a"}), frozenset({"a", "b"}), frozenset({"a", "b", "c"})


def test_a_view_quiet_for_the_quiet_time_with_nothing_pending_settles() -> None:
    settle = ViewSettle(quiet=0.4, limit=2.0)
    assert not settle.observe(0.0, A, pending=False)
    assert not settle.observe(0.2, AB, pending=False)  # it grew: the quiet time starts again
    assert not settle.observe(0.5, AB, pending=False)
    assert settle.observe(0.65, AB, pending=False)
    assert settle.waited == pytest.approx(0.65)
    assert settle.observe(0.61, ABC, pending=True)  # once settled, never waited for again
    assert settle.settled


def test_pending_holds_it_until_the_limit_counted_from_the_first_member_seen() -> None:
    settle = ViewSettle(quiet=0.4, limit=2.0)
    assert settle.observe(0.0, frozenset(), pending=False)  # nobody to wait for: alone
    assert not settle.settled  # ...which settles nothing: members may come
    assert not settle.observe(1.0, A, pending=True)
    assert not settle.observe(2.9, A, pending=True)
    assert settle.observe(3.0, A, pending=True)  # 2 s after the first member: exchange anyway
    assert settle.waited == pytest.approx(2.0)


def test_a_pending_seed_without_members_starts_the_limit_too() -> None:
    settle = ViewSettle(quiet=0.4, limit=2.0)
    assert not settle.observe(0.0, frozenset(), pending=True)
    assert not settle.observe(1.0, frozenset(), pending=True)
    assert not settle.observe(1.5, A, pending=False)  # the seed answered: the view changed
    assert not settle.observe(1.8, A, pending=False)
    assert settle.observe(1.95, A, pending=False)  # quiet, before the limit


def test_rounds_of_the_heartbeat_interval() -> None:
    settle = ViewSettle.for_rounds(0.2)
    assert (settle.quiet, settle.limit) == pytest.approx((QUIET_ROUNDS * 0.2, LIMIT_ROUNDS * 0.2))
    with pytest.raises(ValueError):
        ViewSettle(quiet=1.0, limit=0.5)
