"""Held refusals: one per connection at a time, a bounded number in all, the rest at once."""

from __future__ import annotations

import threading

from gossip.transport.tarpit import Tarpit
from tests.polling import wait_for


class _Gate:
    """A ``sleep`` that blocks until opened, recording each delay asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.opened = threading.Event()

    def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)
        assert self.opened.wait(10.0)


def test_a_refusal_is_held_for_the_delay() -> None:
    slept: list[float] = []
    tarpit = Tarpit(delay_s=0.02, sleep=slept.append)
    assert tarpit.hold("ipv4:127.0.0.1:4000") and tarpit.hold("ipv4:127.0.0.1:4000")
    assert slept == [0.02, 0.02] and tarpit.held == 2


def test_one_held_refusal_per_connection_and_a_bounded_number_in_all() -> None:
    gate = _Gate()
    tarpit = Tarpit(delay_s=0.01, threads=2, sleep=gate)
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda p=peer: results.append(tarpit.hold(p)))
        for peer in ("ipv4:10.0.0.1:1", "ipv4:10.0.0.1:2")
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(gate.delays) == 2, 10.0, "two refusals held")
    assert not tarpit.hold("ipv4:10.0.0.1:1")  # that connection already waits: at once
    assert not tarpit.hold("ipv4:10.0.0.1:3")  # every thread of the tarpit taken: at once
    gate.opened.set()
    for thread in threads:
        thread.join(10.0)
    assert results == [True, True] and tarpit.held == 2
    assert tarpit.hold("ipv4:10.0.0.1:3")  # free again
