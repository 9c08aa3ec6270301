"""The averaging rule: increments, decoded snapshots on both sides, refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gossip.averaging.pairwise import (
    Replica,
    Snapshot,
    check_header,
    check_offer,
    decode,
    encode,
    increment,
)
from gossip.errors import ExchangeRefused


def snap(values: np.ndarray, fingerprint: str = "fp", codec: str = "none") -> Snapshot:
    return Snapshot("peer", 1, "h:1", 0, fingerprint, values.size, codec, encode(values))


def test_encode_decode_round_trip_is_exact() -> None:
    values = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    assert np.array_equal(decode(encode(values), values.size), values)


def test_increments_are_exact_negatives_so_the_pair_sum_is_kept() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal(10_000).astype(np.float32)
    b = rng.standard_normal(10_000).astype(np.float32)
    assert np.array_equal(increment(a, b, 0.5), -increment(b, a, 0.5))
    ra, rb = Replica(a.copy(), "fp"), Replica(b.copy(), "fp")
    _, own_a = ra.snapshot()
    _, own_b = rb.snapshot()
    ra.apply(own_a, own_b)
    rb.apply(own_b, own_a)
    np.testing.assert_allclose(ra.params + rb.params, a + b, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ra.params, (a + b) / 2, atol=1e-6)


def test_increment_keeps_local_steps_taken_during_the_exchange() -> None:
    replica = Replica(np.zeros(4, dtype=np.float32), "fp")
    _, own = replica.snapshot()
    replica.params += 1.0  # a local SGD step lands while the exchange is on the wire
    replica.apply(own, np.full(4, 2.0, dtype=np.float32))
    assert np.array_equal(replica.params, np.full(4, 2.0, dtype=np.float32))  # 1 + 0.5 * (2 - 0)


@pytest.mark.parametrize(
    ("offer", "reason"),
    [
        (snap(np.zeros(4, np.float32), fingerprint="other"), "fingerprint_mismatch"),
        (snap(np.zeros(5, np.float32)), "size_mismatch"),
        (snap(np.zeros(4, np.float32), codec="zstd"), "unknown_codec"),
        (snap(np.array([0, np.nan, 0, 0], np.float32)), "non_finite"),
        (snap(np.array([0, np.inf, 0, 0], np.float32)), "non_finite"),
        (Snapshot("p", 1, "h:1", 0, "fp", 4, "none", b"\0" * 15), "size_mismatch"),
    ],
)
def test_bad_offers_are_refused_with_a_reason(offer: Snapshot, reason: str) -> None:
    with pytest.raises(ExchangeRefused) as info:
        check_offer(offer, "fp", 4)
    assert info.value.reason == reason


def test_only_a_continuing_snapshot_may_leave_out_fingerprint_and_size() -> None:
    bare = Snapshot("p", 1, "", 0, "", 0, "sign", b"")
    check_header(dataclasses.replace(bare, ref_version=7), "fp", 4)  # the pair's start checked them
    for wrong in (
        bare,
        dataclasses.replace(bare, ref_version=7, fingerprint="other", num_params=4),
    ):
        with pytest.raises(ExchangeRefused) as info:  # a starting one, or one naming another model
            check_header(wrong, "fp", 4)
        assert info.value.reason == "fingerprint_mismatch"


def test_replica_rejects_bad_construction() -> None:
    with pytest.raises(ValueError):
        Replica(np.zeros(3, dtype=np.float64), "fp")
    with pytest.raises(ValueError):
        Replica(np.zeros(3, dtype=np.float32), "fp", alpha=0.9)
