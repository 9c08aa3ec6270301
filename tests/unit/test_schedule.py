"""The schedule: bounded local steps, exchanges in flight that cannot overshoot, dealt partners."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from gossip.averaging.compressed import Mixing
from gossip.averaging.pairwise import Identity, Replica
from gossip.clock import SystemClock
from gossip.compression import parse_spec
from gossip.errors import ExchangeRefused
from gossip.exchanger import Exchanger
from gossip.schedule import Schedule


def schedule(local_steps: int = 2) -> Schedule:
    return Schedule(local_steps, SystemClock(), random.Random(0))


def later(seconds: float, action: Callable[[], None]) -> threading.Thread:
    """Run ``action`` in a thread after ``seconds`` (the waits under test block this one)."""
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()), daemon=True)
    thread.start()
    return thread


def test_in_flight_moves_add_up_to_at_most_one() -> None:
    s = schedule()
    s.begin("a", 0.5)
    s.begin("b", 0.5)
    with pytest.raises(ExchangeRefused) as refused:
        s.begin("c", 0.5)
    assert refused.value.reason == "busy"
    with pytest.raises(ExchangeRefused):  # a smaller step does not fit either
        s.check("c", 0.25)
    s.end("a", completed=False, started_here=True)  # refused: the model did not change
    s.begin("c", 0.5)
    assert s.in_flight() == {"b", "c"}


def test_exchanges_in_flight_all_start_from_one_snapshot() -> None:
    """After one completes, a new one waits for the older ones: no chain of stale increments."""
    s = schedule()
    s.begin("a", 0.5)
    s.begin("b", 0.5)
    s.end("b", completed=True, started_here=False)  # the model moved under a's snapshot
    with pytest.raises(ExchangeRefused, match="busy"):
        s.begin("c", 0.5, wait=0.02)
    s.end("a", completed=True, started_here=True)
    s.begin("c", 0.5)
    s.begin("d", 0.5)
    assert s.in_flight() == {"c", "d"}


def test_one_exchange_per_neighbour_and_crossing_offers_resolve() -> None:
    s = schedule()
    s.begin("p", 0.5)
    with pytest.raises(ExchangeRefused, match="already running"):
        s.begin("p", 0.5, wait=1.0, yields=False)  # refuses at once: no wait
    ender = later(0.05, lambda: s.end("p", completed=False, started_here=True))
    s.begin("p", 0.5, wait=5.0, yields=True)  # waits for our own to end, then goes through
    ender.join()
    assert s.in_flight() == {"p"}


def test_an_offer_waits_for_room_up_to_its_wait() -> None:
    s = schedule()
    s.begin("a", 0.5)
    s.begin("b", 0.5)
    with pytest.raises(ExchangeRefused, match="no room"):
        s.begin("c", 0.5, wait=0.02)
    ender = later(0.05, lambda: s.end("b", completed=False, started_here=False))
    s.begin("c", 0.5, wait=5.0)
    ender.join()
    assert s.in_flight() == {"a", "c"}


def test_training_takes_at_most_local_steps_past_the_last_exchange() -> None:
    s = schedule(local_steps=2)
    s.stepped()
    assert s.wait_to_step(5.0, alone=lambda: False) == 0.0  # one step past: under the bound
    s.stepped()
    s.begin("p", 0.5)
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
    s.begin("dead", 0.5)
    ender = later(0.05, lambda: s.end("dead", completed=False, started_here=True))
    assert s.wait_to_step(5.0, alone=lambda: False) < 5.0
    ender.join()
    assert s.stats().completed == 0


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
    assert s.wait_for_work(0.05, 0.5)  # nothing new: the interval
    assert time.monotonic() - began >= 0.05
    s.stepped()
    began = time.monotonic()
    assert s.wait_for_work(5.0, 0.5)  # a step since the last exchange: at once
    assert time.monotonic() - began < 1.0
    stopper = later(0.05, s.stop)
    s.begin("a", 0.5)
    s.begin("b", 0.5)
    assert not s.wait_for_work(5.0, 0.5)  # no room until stopped
    stopper.join()


def test_partners_are_dealt_once_per_round_skipping_those_in_flight() -> None:
    s = schedule()
    members = ["a", "b", "c", "d"]
    dealt = [s.choose(members, key=str) for _ in range(8)]
    assert sorted(dealt[:4]) == members and sorted(dealt[4:]) == members
    s.begin("a", 0.5)
    assert all(s.choose(members, key=str) != "a" for _ in range(6))
    assert s.choose(["a"], key=str) is None
    assert s.choose([], key=str) is None


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


def test_a_responder_never_applies_more_than_one_full_move_at_once() -> None:
    """Three offers answered from one snapshot would overshoot: the third is refused."""
    responder = _exchanger("j", 0.0, 1)
    offers = [
        _exchanger(n, v, 2).mixer.offer("j").offer for n, v in (("a", 4), ("b", 8), ("c", 12))
    ]
    pending = []
    for offer in offers[:2]:
        responder.check_header(offer)
        pending.append(responder.on_exchange(offer))
    with pytest.raises(ExchangeRefused) as refused:
        responder.on_exchange(offers[2])
    assert refused.value.reason == "busy"
    for session in pending:
        session.commit(True)
    # 0 + 0.5 * (4 - 0) + 0.5 * (8 - 0): the midpoint of the two peers, inside their range
    assert np.allclose(responder.replica.params, 6.0)
    assert responder.schedule.in_flight() == set()
