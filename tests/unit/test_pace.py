"""Pacing: step counts stay together; a straggler, a late joiner or a finished peer stalls none."""

from __future__ import annotations

import threading
import time

import pytest

from gossip.clock import ManualClock, SystemClock
from gossip.pace import BEHIND_S, FORGET_S, MAX_PARTNERS, Pace
from gossip.schedule import Schedule


def test_waits_while_more_than_lead_ahead_of_the_slowest_partner() -> None:
    pace = Pace(lead=4)
    pace.heard("a", step=100, free_speed=50.0, now=0.0)
    pace.heard("b", step=96, free_speed=45.0, now=0.0)
    assert pace.wait_s(step=99, free_speed=50.0, now=0.0) == 0.0  # 3 ahead of b
    assert pace.wait_s(step=100, free_speed=50.0, now=0.0) == pytest.approx(1 / 45)
    assert pace.wait_s(step=110, free_speed=50.0, now=0.0) == pytest.approx(11 / 45)


def test_a_partner_is_extrapolated_at_the_speed_it_progressed() -> None:
    pace = Pace(lead=4)
    pace.heard("b", step=0, free_speed=100.0, now=0.0)
    pace.heard("b", step=10, free_speed=100.0, now=1.0)  # paced: 10 steps/s, not 100
    assert pace.slowest(20, 100.0, now=2.0).estimate(2.0) == pytest.approx(20.0)  # type: ignore[union-attr]
    assert pace.wait_s(step=30, free_speed=100.0, now=2.0) == pytest.approx(0.7)


def test_two_headers_of_one_exchange_do_not_make_a_speed() -> None:
    pace = Pace(lead=4)
    pace.heard("b", step=10, free_speed=40.0, now=0.0)
    pace.heard("b", step=10, free_speed=40.0, now=0.001)
    slowest = pace.slowest(10, 40.0, now=1.0)
    assert slowest is not None and slowest.progress is None
    assert slowest.estimate(1.0) == pytest.approx(50.0, rel=0.01)  # its free speed stands in


def test_a_straggler_is_not_waited_for() -> None:
    pace = Pace(lead=4)
    for peer in ("a", "b", "c"):
        pace.heard(peer, step=200, free_speed=50.0, now=0.0)
    pace.heard("slow", step=60, free_speed=12.0, now=0.0)  # --slowdown 4
    assert pace.wait_s(step=205, free_speed=50.0, now=0.0) == pytest.approx(2 / 50)  # a, b, c
    assert pace.wait_s(step=203, free_speed=50.0, now=0.0) == 0.0


def test_a_partner_more_than_two_seconds_of_steps_behind_is_not_waited_for() -> None:
    pace = Pace(lead=4)
    pace.heard("back", step=0, free_speed=50.0, now=0.0)  # a late joiner, a restarted peer
    behind = int(BEHIND_S * 50)
    assert pace.wait_s(step=behind + 1, free_speed=50.0, now=0.0) == 0.0
    assert pace.wait_s(step=behind - 1, free_speed=50.0, now=0.0) > 0.0  # near enough: it is
    assert pace.wait_s(step=behind - 1, free_speed=5.0, now=0.0) == 0.0  # 2 s: 10 steps


def test_a_finished_partner_and_a_silent_one_stall_no_one() -> None:
    pace = Pace(lead=4)
    pace.heard("done", step=50, free_speed=0.0, now=0.0)  # training over: reports 0
    assert pace.wait_s(step=90, free_speed=50.0, now=0.0) == 0.0
    pace.heard("quiet", step=50, free_speed=50.0, now=0.0)
    assert pace.wait_s(step=90, free_speed=50.0, now=1.0) == 0.0  # its estimate grew to 100
    assert pace.wait_s(step=90, free_speed=50.0, now=FORGET_S + 1) == 0.0
    assert pace.partners() == 0  # both forgotten


def test_a_restarted_partner_starts_afresh() -> None:
    pace = Pace(lead=4)
    pace.heard("b", step=500, free_speed=50.0, now=0.0)
    pace.heard("b", step=600, free_speed=50.0, now=2.0)
    pace.heard("b", step=5, free_speed=50.0, now=3.0)  # back from its checkpoint
    slowest = pace.slowest(10, 50.0, now=3.0)
    assert slowest is not None and slowest.step == 5 and slowest.progress is None


def test_lead_zero_is_off_and_bad_leads_are_refused() -> None:
    pace = Pace(lead=0)
    pace.heard("b", step=0, free_speed=50.0, now=0.0)
    assert pace.wait_s(step=90, free_speed=50.0, now=0.0) == 0.0
    with pytest.raises(ValueError):
        Pace(lead=-1)


def stepping(step: int) -> Schedule:
    """A schedule at ``step`` that has taken two steps 20 ms apart (it knows its speed)."""
    s = Schedule(local_steps=0, clock=SystemClock(), pace_lead=4, step=lambda: step)
    s.stepped()
    time.sleep(0.02)
    s.stepped()
    return s


def test_training_waits_for_a_partner_behind_until_it_catches_up() -> None:
    s = stepping(20)
    s.heard("b", step=10, free_speed=30.0)
    catch_up = threading.Timer(0.05, lambda: s.heard("b", step=18, free_speed=30.0))
    catch_up.start()
    began = time.monotonic()
    waited = s.wait_to_step(timeout=5.0, alone=lambda: False)
    catch_up.join()
    assert 0.0 < waited < 5.0 and time.monotonic() - began < 5.0
    assert s.stats().waits == 1


def test_pacing_gives_up_at_the_exchange_deadline_and_never_alone() -> None:
    s = stepping(100)
    s.heard("b", step=80, free_speed=30.0)
    assert s.wait_to_step(timeout=0.05, alone=lambda: True) == 0.0
    waited = s.wait_to_step(timeout=0.05, alone=lambda: False)
    assert 0.05 <= waited < 1.0


def test_free_speed_leaves_the_waits_out_and_is_zero_once_finished() -> None:
    clock = ManualClock()
    s = Schedule(local_steps=0, clock=clock, pace_lead=4)
    s.stepped()
    assert s.free_speed() == 0.0  # unknown before the second step
    clock.advance(0.02)
    s.stepped()
    assert s.free_speed() == pytest.approx(50.0)
    s.heard("b", step=0, free_speed=50.0)  # far behind now: no wait (BEHIND) but ...
    clock.advance(0.5)
    s.stepped()  # ... 0.5 s between steps
    assert s.free_speed() < 50.0
    s.finished()
    assert s.free_speed() == 0.0


def test_headers_from_new_ids_cannot_grow_the_table_past_its_cap() -> None:
    """Pacing off (lead 0) never reads the table; a flood of new ids still stays bounded."""
    pace = Pace(0)
    pace.heard("member", 100, 10.0, 0.0)
    for i in range(MAX_PARTNERS + 50):
        pace.heard(f"stranger-{i}", 1, 1.0, 1.0 + i * 1e-3)
    assert pace.partners() == MAX_PARTNERS  # the one heard longest ago went first
    pace.heard("late", 1, 1.0, 1.0 + FORGET_S + 10.0)  # every other one is stale now
    assert pace.partners() == 1
