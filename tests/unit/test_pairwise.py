"""The averaging rule: increments, decoded snapshots on both sides, refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gossip.averaging.pairwise import (
    Snapshot,
    check_header,
    decode,
    encode,
    increment,
)
from gossip.errors import ExchangeRefused
from gossip.replica import Replica


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


@pytest.mark.parametrize(
    ("offer", "reason"),
    [
        (snap(np.zeros(4, np.float32), fingerprint="other"), "fingerprint_mismatch"),
        (snap(np.zeros(5, np.float32)), "size_mismatch"),
        (snap(np.zeros(4, np.float32), codec="zstd"), "unknown_codec"),
    ],
)
def test_bad_headers_are_refused_with_a_reason(offer: Snapshot, reason: str) -> None:
    with pytest.raises(ExchangeRefused) as info:
        check_header(offer, "fp", 4)
    assert info.value.reason == reason


def test_a_payload_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ExchangeRefused) as info:
        decode(b"\0" * 15, 4)
    assert info.value.reason == "size_mismatch"


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
