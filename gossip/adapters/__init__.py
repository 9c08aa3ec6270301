"""Adapters from other frameworks to the model seam (gossip.trainable).

:func:`adapt` takes whatever a user hands a peer and returns a
:class:`~gossip.trainable.Trainable`, importing a framework only when the
object comes from it (``gossip-train[keras]``, ``gossip-train[torch]``).
"""

from __future__ import annotations

from typing import Any

from gossip.errors import UsageError
from gossip.trainable import Trainable, missing_members

ADAPTED = ("keras", "torch")
"""Frameworks whose models :func:`adapt` wraps (given what each adapter needs)."""


def framework_of(model: object) -> str:
    """The top-level package that defines ``model``'s class (``keras``, ``torch``, ...)."""
    return type(model).__module__.split(".", 1)[0]


def adapt(model: object, example: Any = None) -> Trainable:
    """``model`` as a Trainable: itself when it is one, else through its framework's adapter.

    ``example``: a batch of inputs, to build a Keras model compiled without an input shape.
    """
    if not missing_members(model):
        return model  # type: ignore[return-value]  # checked on the class above
    framework = framework_of(model)
    if framework == "keras":
        from gossip.adapters.keras import KerasModel

        return KerasModel(model, example)
    if framework == "torch":
        raise UsageError(
            "a torch module needs its optimizer and loss: "
            "gossip.adapters.torch.TorchModel(module, optimizer, loss_fn)"
        )
    lacks = ", ".join(missing_members(model))
    raise UsageError(f"{type(model).__name__} is not a model a peer can train (it lacks {lacks})")
