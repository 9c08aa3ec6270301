"""The shared normalizer's block codec and checks (gossip/averaging/normalizer.py)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from gossip.averaging import normalizer
from gossip.averaging.normalizer import NormalizerShare, check, from_bf16, to_bf16
from gossip.errors import ExchangeRefused


def test_bfloat16_keeps_the_scale_within_half_a_percent() -> None:
    values = np.random.default_rng(0).lognormal(0.0, 8.0, 10_000).astype(np.float32)
    back = from_bf16(to_bf16(values))
    assert len(to_bf16(values)) == 2 * values.size
    np.testing.assert_allclose(back, values, rtol=2**-8)
    assert from_bf16(to_bf16(np.zeros(3, np.float32))).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("values", "offset", "size"),
    [
        (np.ones(4, np.float32), 0, 5),  # one value short
        (np.ones(6, np.float32), 0, 5),  # one value too many
        (np.ones(5, np.float32), 5, 5),  # offset past the end
        (np.array([1.0, np.nan], np.float32), 0, 2),
        (np.array([np.inf, 1.0], np.float32), 0, 2),
        (np.array([-1.0, 1.0], np.float32), 0, 2),
    ],
)
def test_a_bad_block_is_refused_as_bad_normalizer(values: np.ndarray, offset: int,
                                                   size: int) -> None:  # fmt: skip
    with pytest.raises(ExchangeRefused) as refused:
        check(to_bf16(values), offset, size)
    assert refused.value.reason == "bad_normalizer"


def test_large_vectors_go_round_in_blocks_of_at_most_one_mebibyte(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert normalizer.MAX_VALUES * 2 == normalizer.MAX_BYTES == 1 << 20
    monkeypatch.setattr(normalizer, "MAX_VALUES", 4)
    vector = np.arange(10, dtype=np.float32)
    share = NormalizerShare(lambda: vector)
    offsets, sizes = [], []
    for _ in range(4):
        offered = share.offer()
        assert offered is not None
        offsets.append(offered[1].offset)
        sizes.append(len(offered[0]) // 2)
    assert offsets == [0, 4, 8, 0] and sizes == [4, 4, 2, 4]


def test_averaging_two_blocks_keeps_their_sum_and_meets_half_way() -> None:
    rng = np.random.default_rng(1)
    a, b = (rng.lognormal(0, 2, 100).astype(np.float32) for _ in range(2))
    before = a.astype(np.float64) + b
    lock = threading.Lock()
    mine, theirs = NormalizerShare(lambda: a, lock), NormalizerShare(lambda: b, lock)
    offered = mine.offer()
    assert offered is not None
    answered = theirs.answer(offered[0], offered[1].offset)
    assert answered is not None
    peer, reply, own = answered
    mine.apply(offered[1], check(reply, own.offset, a.size))
    theirs.apply(own, peer)
    np.testing.assert_allclose(a.astype(np.float64) + b, before, rtol=1e-6)
    np.testing.assert_allclose(a, b, rtol=2**-7)  # both at the pair's mean (bf16 apart)


def test_a_side_without_a_normalizer_offers_and_answers_none() -> None:
    share = NormalizerShare(lambda: None)
    assert share.offer() is None
    assert share.answer(to_bf16(np.ones(3, np.float32)), 0) is None
