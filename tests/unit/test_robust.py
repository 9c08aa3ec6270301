"""Robust averaging: clipping keeps the pair's sum, outliers and wild moves are refused,
repeat offenders are quarantined for a while (manual time)."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.errors import ExchangeRefused
from gossip.robust import Guard, RobustConfig, clip, is_outlier
from gossip.status import QuarantinedPeer


def test_clip_bounds_the_norm_and_keeps_direction() -> None:
    delta = np.array([3.0, 4.0], dtype=np.float32)
    out, clipped = clip(delta, 1.0)
    assert clipped and np.linalg.norm(out) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(out, [0.6, 0.8], rtol=1e-6)
    same, clipped = clip(delta, 10.0)
    assert not clipped and same is delta
    assert clip(delta, None) == (delta, False)


def test_clip_of_opposite_increments_conserves_the_sum() -> None:
    rng = np.random.default_rng(0)
    delta = rng.standard_normal(1000).astype(np.float32)
    a, _ = clip(delta, 0.5)
    b, _ = clip(-delta, 0.5)
    np.testing.assert_array_equal(a + b, np.zeros_like(a))


def test_outlier_against_a_naive_median() -> None:
    recent = [1.0, 2.0, 3.0, 4.0, 100.0]
    assert not is_outlier(14.0, recent, 5.0, 5)  # median 3: bound 15
    assert is_outlier(16.0, recent, 5.0, 5)
    assert not is_outlier(1e9, recent[:2], 5.0, 5)  # too few samples


def test_guard_refuses_nan_and_wild_scale() -> None:
    guard = Guard(RobustConfig(max_scale=10.0))
    with pytest.raises(ExchangeRefused) as nan:
        guard.check(np.array([np.nan, 1.0], dtype=np.float32), own_norm=1.0)
    assert nan.value.reason == "non_finite"
    with pytest.raises(ExchangeRefused) as wild:
        guard.check(np.full(4, 1e6, dtype=np.float32), own_norm=5.0)
    assert wild.value.reason == "scale"
    ok = guard.check(np.full(4, 1.0, dtype=np.float32), own_norm=5.0)
    assert ok.shape == (4,)


def test_guard_drops_outliers_after_warmup_and_clips() -> None:
    guard = Guard(RobustConfig(drop_outliers=True, outlier_min_samples=3, max_step_norm=1.5))
    small = np.ones(1, dtype=np.float32)
    for _ in range(3):
        guard.check(small, own_norm=100.0)
    with pytest.raises(ExchangeRefused) as big:
        guard.check(small * 6, own_norm=100.0)
    assert big.value.reason == "outlier"
    out = guard.check(small * 2, own_norm=100.0)
    assert float(out[0]) == pytest.approx(1.5) and guard.clipped == 1


def test_quarantine_after_repeats_then_release() -> None:
    guard = Guard(RobustConfig(strikes=3, strike_window=10.0, quarantine_s=30.0))
    assert not guard.strike("bad", "busy", 0.0)  # routine refusals do not count
    assert not guard.strike("bad", "non_finite", 0.0)
    assert not guard.strike("bad", "non_finite", 20.0)  # the first has expired
    assert not guard.strike("bad", "scale", 21.0)
    assert guard.strike("bad", "non_finite", 22.0)
    assert guard.quarantined("bad", 23.0) and not guard.quarantined("good", 23.0)
    with pytest.raises(ExchangeRefused) as refused:
        guard.admit("bad", 23.0)
    assert refused.value.reason == "quarantined"
    status = guard.status(23.0)
    assert status.quarantines == 1
    assert status.quarantined == [QuarantinedPeer("bad", 29.0, "non_finite", 4)]
    assert not guard.quarantined("bad", 52.5)
    guard.admit("bad", 52.5)
