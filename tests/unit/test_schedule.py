"""The schedule: bounded local steps, one exchange at a time, partners in rounds of pairs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from gossip.averaging.compressed import Mixing
from gossip.averaging.pairwise import Identity
from gossip.clock import ManualClock, SystemClock
from gossip.compression import parse_spec
from gossip.errors import ExchangeRefused
from gossip.exchanger import Exchanger
from gossip.pairing import round_partners
from gossip.replica import Replica
from gossip.schedule import (
    ADMIT_EXCHANGES,
    ADMIT_WAIT_S,
    PATIENCE_S,
    UNTIMED_WAIT_S,
    Schedule,
)


def schedule(local_steps: int = 2) -> Schedule:
    return Schedule(local_steps, SystemClock())


def later(seconds: float, action: Callable[[], None]) -> threading.Thread:
    """Run ``action`` in a thread after ``seconds`` (the waits under test block this one)."""
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()), daemon=True)
    thread.start()
    return thread


def test_one_exchange_at_a_time_in_either_role() -> None:
    s = schedule()
    s.begin("a")
    with pytest.raises(ExchangeRefused) as refused:
        s.begin("b")
    assert refused.value.reason == "busy"
    with pytest.raises(ExchangeRefused, match="busy"):
        s.check("b", wait=0.02)  # waits its turn, then gives up
    s.end("a", completed=True, started_here=True)
    s.begin("b")
    assert s.partner() == "b" and s.stats().in_flight == 1


def test_crossing_offers_resolve_one_way() -> None:
    s = schedule()
    s.begin("p")
    with pytest.raises(ExchangeRefused, match="with it"):
        s.begin("p", wait=1.0, yields=False)  # refuses at once: no wait
    ender = later(0.05, lambda: s.end("p", completed=False, started_here=True))
    s.begin("p", wait=0.01, yields=True)  # waits past its 10 ms for our own to end, goes through
    ender.join()
    assert s.partner() == "p"


def test_an_offer_waits_for_its_turn_up_to_its_wait() -> None:
    s = schedule()
    s.begin("a")
    ender = later(0.05, lambda: s.end("a", completed=True, started_here=False))
    s.begin("c", wait=5.0)
    ender.join()
    assert s.partner() == "c"


def test_training_takes_at_most_local_steps_past_the_last_exchange() -> None:
    s = schedule(local_steps=2)
    s.stepped()
    assert s.wait_to_step(5.0, alone=lambda: False) == 0.0  # one step past: under the bound
    s.stepped()
    s.begin("p")
    ender = later(0.05, lambda: s.end("p", completed=True, started_here=False))
    waited = s.wait_to_step(5.0, alone=lambda: False)
    ender.join()
    assert 0.0 < waited < 5.0
    stats = s.stats()
    assert stats.waits == 1 and stats.completed == 1 and stats.steps == 2
    assert stats.steps_per_exchange == 2.0
    assert s.wait_to_step(5.0, alone=lambda: False) == 0.0  # the exchange reset the lead


def test_a_failed_exchange_we_started_frees_one_step() -> None:
    s = schedule(local_steps=1)
    s.stepped()
    s.begin("dead")
    ender = later(0.05, lambda: s.end("dead", completed=False, started_here=True))
    assert s.wait_to_step(5.0, alone=lambda: False) < 5.0
    ender.join()
    assert s.stats().completed == 0


def test_a_step_freed_before_training_asks_is_kept() -> None:
    s = schedule(local_steps=1)
    s.stepped()
    s.begin("dead")
    s.end("dead", completed=False, started_here=True)  # before the training loop gets there
    assert s.wait_to_step(5.0, alone=lambda: False) == 0.0
    s.stepped()
    assert s.wait_to_step(0.01, alone=lambda: False) >= 0.01  # one step, not more


def test_training_never_waits_alone_free_running_or_past_the_deadline() -> None:
    bound = schedule(local_steps=1)
    bound.stepped()
    assert bound.wait_to_step(5.0, alone=lambda: True) == 0.0
    waited = bound.wait_to_step(0.05, alone=lambda: False)  # nobody answers: one deadline
    assert 0.05 <= waited < 1.0
    free = schedule(local_steps=0)
    for _ in range(10):
        free.stepped()
    assert free.wait_to_step(5.0, alone=lambda: False) == 0.0
    bound.stop()
    assert bound.wait_to_step(5.0, alone=lambda: False) == 0.0


def test_gossip_starts_after_a_step_or_after_the_interval() -> None:
    s = schedule(local_steps=2)
    began = time.monotonic()
    assert s.wait_for_work(0.05)  # nothing new: the interval
    assert time.monotonic() - began >= 0.05
    s.stepped()
    began = time.monotonic()
    assert s.wait_for_work(5.0)  # a step since the last exchange: at once
    assert time.monotonic() - began < 1.0
    stopper = later(0.05, s.stop)
    s.begin("a")
    assert not s.wait_for_work(5.0)  # an exchange runs: not until it ends (or we stop)
    stopper.join()


def test_the_partner_met_least_recently_and_the_lower_rank_starts() -> None:
    s = schedule()
    others = ["a", "c", "d"]  # with "b", 4 peers: "b" meets them in its rounds' order
    order = ["abcd"[p] for p in round_partners(1, 4)]
    for expected in order + order[:1]:  # round after round, then the first one again
        began = time.monotonic()
        assert s.choose(others, key=str, me="b") == expected
        if expected < "b":  # "a" ranks lower and starts: "b" waited for its offer first
            assert time.monotonic() - began >= PATIENCE_S
        s.begin(expected)
        s.end(expected, completed=True, started_here=True)
    assert schedule().choose(["b", "c", "d"], key=str, me="a") == "abcd"[round_partners(0, 4)[0]]


def test_waiting_for_the_partner_ends_when_an_exchange_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gossip.schedule.PATIENCE_S", 30.0)
    s = schedule()
    ender = later(0.05, lambda: (s.begin("a"), s.end("a", completed=True, started_here=False)))
    began = time.monotonic()
    assert s.choose(["a"], key=str, me="b") is None  # "a" started it: nothing for "b" to start
    ender.join()
    assert time.monotonic() - began < 10.0


def test_choose_skips_the_partner_in_flight_and_knows_when_alone() -> None:
    s = schedule()
    s.begin("d")
    assert s.choose(["b", "c", "d"], key=str, me="a") == "c"  # "d" would be first
    assert s.choose(["d"], key=str, me="a") is None
    assert s.choose([], key=str, me="a") is None


def test_rounds_are_perfect_matchings_meeting_everyone_once() -> None:
    for size in range(1, 17):
        table = [round_partners(rank, size) for rank in range(size)]
        for rank, partners in enumerate(table):
            assert sorted(partners) == [q for q in range(size) if q != rank]
        if size % 2 == 0:  # round k: the partner's partner is oneself
            for k in range(size - 1):
                assert all(table[table[r][k]][k] == r for r in range(size))


def test_rounds_played_in_their_order_mix_frozen_models_in_a_few_rounds_at_any_size() -> None:
    for size in (8, 64, 256):
        values = np.random.default_rng(size).standard_normal(size)
        start = np.var(values)
        table = [round_partners(rank, size) for rank in range(size)]
        rounds = 0
        while np.var(values) > 1e-4 * start:
            values = (values + values[[table[r][rounds % (size - 1)] for r in range(size)]]) / 2
            rounds += 1
        assert rounds <= 16, (size, rounds)  # in turn, round k after k - 1: 13, 502, 3,823


def test_two_rounds_of_four_peers_hold_the_exact_mean() -> None:
    values = np.array([1.0, 4.0, 9.0, 16.0])
    for k in range(2):
        partner = [round_partners(r, 4)[k] for r in range(4)]
        values = (values + values[partner]) / 2
    assert np.allclose(values, 7.5)


def _exchanger(name: str, value: float, generation: int) -> Exchanger:
    replica = Replica(np.full(4, value, dtype=np.float32), "fp")
    return Exchanger(
        replica,
        transport=None,  # type: ignore[arg-type]  # only the responder side is driven here
        clock=SystemClock(),
        identity=lambda: Identity(name, generation, f"{name}:1"),
        step=lambda: 0,
        timeout=1.0,
        mixing=Mixing(parse_spec("none")),
    )


def test_a_responder_answers_one_offer_at_a_time() -> None:
    """Two offers answered from one snapshot would both move it: the second waits its turn."""
    responder = _exchanger("j", 0.0, 1)
    first, second = (
        _exchanger(n, v, 2).mixer.offer("j").offer for n, v in (("a", 4.0), ("b", 8.0))
    )
    responder.check_header(first)
    pending = responder.on_exchange(first)
    with pytest.raises(ExchangeRefused) as refused:
        responder.check_header(second)
    assert refused.value.reason == "busy"
    pending.commit(True)
    assert np.allclose(responder.replica.params, 2.0)  # the midpoint of 0 and 4
    responder.check_header(second)
    responder.on_exchange(second).commit(True)
    assert np.allclose(responder.replica.params, 5.0)  # then of 2 and 8
    assert responder.schedule.partner() is None


def test_waits_are_untimed_until_an_exchange_here_completed() -> None:
    """Nothing tells a 10M exchange (0.1-0.5 s) from a small one before one is timed."""
    clock = ManualClock()
    s = Schedule(2, clock)
    assert s.admission_wait() == UNTIMED_WAIT_S
    s.begin("a")
    clock.advance(0.3)
    s.end("a", completed=False, started_here=True)  # not completed: still untimed
    assert s.admission_wait() == UNTIMED_WAIT_S
    s.begin("a")
    clock.advance(0.3)
    s.end("a", completed=True, started_here=True)
    assert s.admission_wait() == pytest.approx(ADMIT_EXCHANGES * 0.3)
    s.begin("b")
    clock.advance(0.001)
    s.end("b", completed=True, started_here=True)
    for _ in range(40):  # fast exchanges: down to the floor
        s.begin("b")
        s.end("b", completed=True, started_here=True)
    assert s.admission_wait() == ADMIT_WAIT_S


def test_a_stopping_schedule_starts_and_accepts_no_exchange(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gossip.schedule.PATIENCE_S", 30.0)
    s = schedule()
    stopper = later(0.05, s.stop)  # while "b" waits for "a"'s offer, as at a node's shut-down
    assert s.choose(["a"], key=str, me="b") is None
    stopper.join()
    assert s.choose(["c"], key=str, me="b") is None  # "b" would start at once
    with pytest.raises(ExchangeRefused, match="stopping"):
        s.begin("c")
    assert s.partner() is None
