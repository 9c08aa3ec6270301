"""An offer refused ``busy`` is offered again unchanged on retry while nothing moved.

Rebuilding a 10M offer costs a snapshot copy and an encoding (tens of ms);
its retry is only waiting for the peer's running exchange to end.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from gossip.node import Node
from gossip.transport.memory import InMemoryNetwork
from tests.sim.conftest import make_peers


def counting_snapshots(node: Node) -> list[int]:
    """Count the initiator's parameter copies (every offer built takes one)."""
    calls = [0]
    gather: Callable[[list[slice], np.ndarray | None], np.ndarray] = node.replica.gather

    def counted(slices: list[slice], out: np.ndarray | None = None) -> np.ndarray:
        calls[0] += 1
        return gather(slices, out)

    node.replica.gather = counted  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("compression", ["none", "sign"])
def test_a_busy_retry_reuses_the_offer_until_something_moves(
    network: InMemoryNetwork, compression: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gossip.schedule.UNTIMED_WAIT_S", 0.02)  # each refusal waits this
    initiator, responder, other = make_peers(3, network, compression=compression)
    snapshots = counting_snapshots(initiator)
    total = initiator.replica.params.astype(np.float64) + responder.replica.params

    responder.schedule.begin(other.id)  # the responder is in an exchange with someone else
    assert not initiator.exchange_with(responder.id, responder.address)
    assert not initiator.exchange_with(responder.id, responder.address)
    assert snapshots[0] == 1 and initiator.refusals == {"busy": 2}
    responder.schedule.end(other.id, completed=False, started_here=False)

    assert initiator.exchange_with(responder.id, responder.address)  # the same offer, applied
    assert snapshots[0] == 1
    after = initiator.replica.params.astype(np.float64) + responder.replica.params
    np.testing.assert_allclose(after, total, rtol=0, atol=1e-5)  # the pair's sum is kept

    responder.schedule.begin(other.id)
    assert not initiator.exchange_with(responder.id, responder.address)  # applied: a new one
    assert snapshots[0] == 2
    initiator.trainer.step()  # the parameters moved: the kept offer is stale
    assert not initiator.exchange_with(responder.id, responder.address)
    assert snapshots[0] == 3
    responder.schedule.end(other.id, completed=False, started_here=False)
    assert initiator.exchange_with(other.id, other.address)  # another peer: built anew
    assert snapshots[0] == 4
