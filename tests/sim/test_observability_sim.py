"""Nodes on the in-memory network: the metered transport sees real exchanges; history has them."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.transport.memory import InMemoryNetwork

from .conftest import make_peers


@pytest.mark.parametrize(("codec", "tolerance"), [("none", 1e-5), ("int8", 0.02), ("fp16", 1e-3)])
def test_distance_estimate_is_half_the_squared_gap_before_the_exchange(
    network: InMemoryNetwork, codec: str, tolerance: float
) -> None:
    a, b = make_peers(2, network, compression=codec)  # compressed: the mixer's decoded estimates
    for _ in range(5):
        a.trainer.step()
    gap = a.replica.params.astype(np.float64) - b.replica.params.astype(np.float64)
    assert a.exchange_with(b.id, b.address)
    expected = 0.5 * float(gap @ gap)
    assert a.transport.stats.consensus_distance == pytest.approx(expected, rel=tolerance)
    (neighbour,) = a.transport.stats.neighbours()
    assert (neighbour.peer_id, neighbour.step_lag) == (b.id, -5)
    assert a.transport.stats.latency()["ok"].count == 1


def test_history_carries_distance_and_bytes(network: InMemoryNetwork) -> None:
    a, b = make_peers(2, network)
    a.trainer.step()
    assert a.exchange_with(b.id, b.address)
    a.evaluation = a.trainer.evaluate()
    a._record()
    entry = a.history[-1]
    assert entry["consensus_distance"] is not None and entry["consensus_distance"] > 0
    assert entry["bytes_sent"] == a.transport.traffic.sent > 0
