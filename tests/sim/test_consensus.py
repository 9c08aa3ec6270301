"""With training frozen, pairwise gossip keeps the mean and shrinks disagreement."""

from __future__ import annotations

import random

import numpy as np
import pytest

from gossip.transport.memory import InMemoryNetwork

from .conftest import consensus_distance, make_peers


@pytest.mark.parametrize("n", [4, 8, 16])
def test_mean_is_kept_and_distance_shrinks_by_one_minus_one_over_n_minus_one(n: int) -> None:
    expected = 1 - 1 / (n - 1)
    exchanges = int(np.log(1e-4) / np.log(expected))  # stay well above float32 resolution
    ratios: list[float] = []
    for trial in range(max(3, 200 // exchanges)):
        network = InMemoryNetwork(seed=trial)
        peers = make_peers(n, network, max_steps=0, seed=trial)
        rng = np.random.default_rng(trial)
        for peer in peers:
            peer.replica.params[:] = rng.standard_normal(peer.replica.num_params)
        mean_before = np.mean([p.replica.params.astype(np.float64) for p in peers], axis=0)
        pick = random.Random(trial)
        distance = consensus_distance(peers)
        for _ in range(exchanges):
            i, j = pick.sample(range(n), 2)
            assert peers[i].exchange_with(peers[j].id, peers[j].address)
            after = consensus_distance(peers)
            ratios.append(after / distance)
            distance = after
        mean_after = np.mean([p.replica.params.astype(np.float64) for p in peers], axis=0)
        relative = np.linalg.norm(mean_after - mean_before) / np.linalg.norm(mean_before)
        assert relative < 1e-6
        assert all(p.counts["refused"] == 0 and p.counts["failed"] == 0 for p in peers)
    assert abs(float(np.mean(ratios)) - expected) < 0.03, (np.mean(ratios), expected)


def test_exchange_counts_and_bytes_on_both_sides(network: InMemoryNetwork) -> None:
    a, b = make_peers(2, network, max_steps=0)
    assert a.exchange_with(b.id, b.address)
    assert a.counts["ok"] == 1 and b.counts["ok"] == 1
    payload = 4 * a.replica.num_params
    assert a.transport.traffic.sent > payload and a.transport.traffic.received > payload
    np.testing.assert_array_equal(a.replica.params, b.replica.params)
