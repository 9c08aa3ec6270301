"""At start-up a peer refuses to join seeds that all run another model (one line, exit 2)."""

from __future__ import annotations

from typing import Any

import pytest

from gossip.errors import PeerUnavailable, UsageError
from gossip.same_model import check_seeds
from gossip.status import ModelInfo, Status


def seeds(**models: tuple[str, int] | None) -> Any:
    """A status call: each seed's (fingerprint, params); None: nothing listens there."""

    def status(address: str, timeout: float) -> Status:
        model = models[address]
        if model is None:
            raise PeerUnavailable(f"{address}: connection refused")
        return Status(id=address, model=ModelInfo(params=model[1], fingerprint=model[0]))

    return status


def test_a_seed_with_the_same_model_is_enough() -> None:
    status = seeds(a=("other", 10), b=("mine", 100), c=None)
    assert check_seeds(["a", "b", "c"], status, "mine", 100)  # a is the odd one


def test_seeds_not_up_yet_prove_nothing() -> None:
    """Nothing to compare: the node asks again once serving (peers started together)."""
    assert not check_seeds(["a", "b"], seeds(a=None, b=None), "mine", 100)
    assert not check_seeds([], seeds(), "mine", 100)


def test_a_seed_that_is_this_peer_proves_nothing() -> None:
    """A seed name that resolves to every replica may lead back to the asking peer."""
    assert not check_seeds(["me", "b"], seeds(me=("mine", 100), b=None), "mine", 100, me="me")


def test_seeds_that_answer_with_other_models_only_are_one_line() -> None:
    status = seeds(a=("other", 10), b=None)
    with pytest.raises(UsageError) as refused:
        check_seeds(["a", "b"], status, "mine", 100)
    assert str(refused.value) == (
        "this peer's model mine (100 values) is not its seeds' (a has other (10 values)): "
        "every peer must build the same model"
    )
