"""Numpy models whose parameters are one flat float32 vector, ready to gossip.

Keras-like on top (``Sequential``, ``Dense``, ``compile``/``fit``), with a
low-level API for the training node (``compute_gradients``, ``apply_gradients``)
and a stable architecture ``fingerprint`` for refusing incompatible peers.
"""

from gossip.model.activations import ACTIVATION_NAMES, Activation, get_activation
from gossip.model.builder import mlp, parse_model_spec
from gossip.model.layers import Dense
from gossip.model.losses import LOSS_NAMES, CrossEntropy, Loss, MeanSquaredError, get_loss
from gossip.model.optimizers import (
    OPTIMIZER_NAMES,
    SGD,
    Adam,
    Momentum,
    Optimizer,
    get_optimizer,
)
from gossip.model.params import DTYPE, FlatLayout
from gossip.model.sequential import Sequential

__all__ = [
    "ACTIVATION_NAMES",
    "DTYPE",
    "LOSS_NAMES",
    "OPTIMIZER_NAMES",
    "SGD",
    "Activation",
    "Adam",
    "CrossEntropy",
    "Dense",
    "FlatLayout",
    "Loss",
    "MeanSquaredError",
    "Momentum",
    "Optimizer",
    "Sequential",
    "get_activation",
    "get_loss",
    "get_optimizer",
    "mlp",
    "parse_model_spec",
]
