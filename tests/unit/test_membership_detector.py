"""Phi accrual and Lifeguard's timeout: the small pure functions against naive references."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from gossip.membership.detector import ArrivalWindow, phi, suspicion_timeout, z_for_phi


@pytest.mark.parametrize("silence", [0.0, 0.2, 0.5, 0.9, 1.3])
def test_phi_matches_the_normal_tail(silence: float) -> None:
    mean, std = 0.65, 0.1
    tail = 1 - statistics.NormalDist(mean, std).cdf(silence)
    assert phi(silence, mean, std) == pytest.approx(-math.log10(tail), rel=1e-6, abs=1e-9)


def test_phi_grows_with_silence_and_is_capped() -> None:
    values = [phi(t / 10, 0.5, 0.1) for t in range(40)]
    assert values == sorted(values)
    assert phi(1e6, 0.5, 0.1) == 300.0


@pytest.mark.parametrize("threshold", [1.0, 3.0, 8.0, 12.0])
def test_z_for_phi_inverts_phi(threshold: float) -> None:
    z = z_for_phi(threshold)
    assert phi(z, 0.0, 1.0) == pytest.approx(threshold, rel=1e-6)


def test_suspicion_timeout_shrinks_with_confirmations() -> None:
    values = [suspicion_timeout(c, 3, 0.75, 3.0) for c in range(6)]
    assert values[0] == 3.0 and values[3:] == [0.75] * 3
    assert values == sorted(values, reverse=True)
    assert suspicion_timeout(0, 0, 0.75, 3.0) == 0.75  # nobody could confirm


def test_arrival_window_keeps_a_running_mean_and_std() -> None:
    rng = random.Random(3)
    window = ArrivalWindow(10, 0.2)
    samples = [0.2]
    for _ in range(50):
        x = rng.uniform(0.1, 0.4)
        window.add(x)
        samples = [*samples, x][-10:]
        assert window.mean == pytest.approx(statistics.mean(samples))
        assert window.std == pytest.approx(statistics.stdev(samples), abs=1e-9)
    assert len(window) == 10
