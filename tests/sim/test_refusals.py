"""A bad peer never corrupts a good one: refusals are counted on both sides, models untouched."""

from __future__ import annotations

import numpy as np

from gossip.transport.memory import InMemoryNetwork

from .conftest import make_peers


def test_mismatched_model_is_refused_by_both_and_nobody_moves(network: InMemoryNetwork) -> None:
    (good,) = make_peers(1, network, max_steps=0, model="mlp:64,32")
    bad = make_peers(1, network, max_steps=0, model="mlp:16", id="bad", listen="simbad:1")[0]
    before_good, before_bad = good.replica.params.copy(), bad.replica.params.copy()
    assert not bad.exchange_with(good.id, good.address)
    assert good.counts["refused"] == 1 and bad.counts["refused"] == 1
    assert good.refusals == {"fingerprint_mismatch": 1} == bad.refusals
    np.testing.assert_array_equal(good.replica.params, before_good)
    np.testing.assert_array_equal(bad.replica.params, before_bad)


def test_nan_reply_is_refused_and_the_responder_does_not_apply(network: InMemoryNetwork) -> None:
    a, b = make_peers(2, network, max_steps=0)
    b.replica.params[3] = np.nan
    before_a, before_b = a.replica.params.copy(), b.replica.params.copy()
    assert not a.exchange_with(b.id, b.address)  # b's reply carries NaN: a refuses it
    assert a.refusals == {"non_finite": 1} and b.counts["refused"] == 1
    np.testing.assert_array_equal(a.replica.params, before_a)
    np.testing.assert_array_equal(b.replica.params, before_b)
    assert not b.exchange_with(a.id, a.address)  # b offers NaN: a refuses the offer
    np.testing.assert_array_equal(a.replica.params, before_a)


def test_unreachable_peer_is_a_failure_not_a_crash(network: InMemoryNetwork) -> None:
    a, b = make_peers(2, network, max_steps=0)
    network.down.add(b.address)
    assert not a.exchange_with(b.id, b.address)
    assert a.counts["failed"] == 1 and a.counts["ok"] == 0
