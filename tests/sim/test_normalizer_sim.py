"""Adam's shared normalizer on the real exchange path (--share-normalizer on)."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.averaging.normalizer import NormalizerShare
from gossip.node import Node
from gossip.transport.memory import InMemoryNetwork

from .conftest import make_peers


def normalizer_of(node: Node) -> np.ndarray:
    vector = node.model.shared_normalizer()  # type: ignore[attr-defined]
    assert vector is not None
    return vector


def trained(network: InMemoryNetwork, n: int = 2, **overrides: object) -> list[Node]:
    peers = make_peers(n, network, share_normalizer="on", **overrides)
    for peer in peers:
        peer.model.replicas = max(n, 2)  # type: ignore[attr-defined]
        for _ in range(3):
            peer.trainer.step()
    return peers


@pytest.mark.parametrize("compression", ["none", "int8"])
def test_an_exchange_averages_the_normalizers_and_keeps_their_sum(
    network: InMemoryNetwork, compression: str
) -> None:
    a, b = trained(network, compression=compression)
    na, nb = normalizer_of(a), normalizer_of(b)
    total = na.astype(np.float64) + nb
    gap = float(np.abs(na - nb).sum())
    assert gap > 0
    assert a.exchange_with(b.id, b.address)
    np.testing.assert_allclose(na.astype(np.float64) + nb, total, rtol=1e-5, atol=1e-12)
    assert float(np.abs(na - nb).sum()) < 0.02 * gap  # at the mean, but for bfloat16


def test_a_peer_that_does_not_share_moves_no_normalizer(network: InMemoryNetwork) -> None:
    (a,) = trained(network, n=1)
    b = make_peers(1, network, id="q", listen="simq:1", share_normalizer="off")[0]
    b.model.replicas = 2  # type: ignore[attr-defined]
    b.trainer.step()
    before = normalizer_of(a).copy()
    assert a.exchange_with(b.id, b.address)  # the parameters still average
    assert b.model.shared_normalizer() is None  # type: ignore[attr-defined]
    np.testing.assert_array_equal(normalizer_of(a), before)


@pytest.mark.parametrize("bad", ["nan", "inf", "size"])
def test_a_bad_normalizer_is_refused_and_leaves_both_untouched(
    network: InMemoryNetwork, bad: str
) -> None:
    a, b = trained(network)
    if bad == "size":  # a block for a vector of another size
        short = np.ones(7, np.float32)
        a.exchanger.mixer.normalizer = NormalizerShare(lambda: short, a.replica.lock)
    else:
        normalizer_of(a)[3] = np.nan if bad == "nan" else np.inf
    params = [a.replica.params.copy(), b.replica.params.copy()]
    nb = normalizer_of(b).copy()
    assert not a.exchange_with(b.id, b.address)
    assert b.exchanger.refusals() == {"bad_normalizer": 1}
    np.testing.assert_array_equal(a.replica.params, params[0])
    np.testing.assert_array_equal(b.replica.params, params[1])
    np.testing.assert_array_equal(normalizer_of(b), nb)


def test_the_flag_is_checked() -> None:
    from gossip.config import NodeConfig
    from gossip.errors import UsageError

    with pytest.raises(UsageError, match="--share-normalizer"):
        NodeConfig(share_normalizer="yes")
